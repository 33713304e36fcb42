/**
 * The outbox relay (src/api/services/change-relay.service.ts) on its own: a real PostgreSQL
 * (its own database, migrated) whose change_log rows are written by the api's own writer,
 * and the in-process bus (src/bus/memory-bus.ts) behind a wrapper that records every
 * publish and can refuse some (before or after they land) or hold one. What it must keep:
 * rows reach the bus in seq order, linked across holes; rows committed while no relay ran
 * are caught up; a refused or lost publish is retried without handing the bus a seq twice,
 * even with two relays racing; a backlog goes in batches; stop() waits for the pass in
 * progress and nothing is published after it. Through the api: test/integration/api.*.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import type { BusEvent, Change, Snapshot } from '../../src/core/bus.events';
import type { ChangeBus, ReadOptions, ReadResult } from '../../src/core/bus.port';
import { appendChange } from '../../src/api/db/change-log.writer';
import { createDataSource, migrate } from '../../src/api/db/data-source';
import { Database } from '../../src/api/db/database';
import { ChangeRelay } from '../../src/api/services/change-relay.service';
import { MemoryBus } from '../../src/bus/memory-bus';
import { createLogger } from '../../src/obs/logger.factory';
import { createTestDatabase, type TestDatabase } from '../support/services';

const INTERVAL_MS = 40;
const logger = createLogger({ name: 'test', level: 'silent' });

let database: TestDatabase;
let ds: DataSource;
let db: Database;

before(async () => {
  database = await createTestDatabase('edgeplane_relay');
  ds = createDataSource({ databaseUrl: database.url, dataDir: '/nonexistent' });
  await ds.initialize();
  await migrate(ds);
  db = new Database(ds);
});

after(async () => {
  await ds?.destroy();
  await database?.drop();
});

interface Publish {
  seqs: number[];
  snapshotSeq: number;
  /** 'ok'; 'refused' (nothing stored); 'lost' (stored, but the relay was told it failed). */
  result: 'ok' | 'refused' | 'lost';
}

/** The memory bus, recording what the relay hands it, refusing or holding publishes on demand. */
class RecordingBus implements ChangeBus {
  readonly inner = new MemoryBus();
  readonly publishes: Publish[] = [];
  #faults: Array<'refuse' | 'lose'> = [];
  #hold: Promise<void> | undefined;
  #holding: Array<() => void> = [];

  /** The next publishes fail, in this order. */
  fail(...faults: Array<'refuse' | 'lose'>): void {
    this.#faults.push(...faults);
  }

  /** Publishes wait until `open()`; `reached` resolves when one is waiting. */
  hold(): { reached: Promise<void>; open(): void } {
    let open!: () => void;
    this.#hold = new Promise((resolve) => (open = resolve));
    const reached = new Promise<void>((resolve) => this.#holding.push(resolve));
    return {
      reached,
      open: () => {
        this.#hold = undefined;
        open();
      },
    };
  }

  publishedSeq(): Promise<number | null> {
    return this.inner.publishedSeq();
  }

  async publish(changes: Change[], snapshot: Snapshot): Promise<void> {
    if (this.#hold !== undefined) {
      for (const reached of this.#holding.splice(0)) reached();
      await this.#hold;
    }
    const record: Publish = { seqs: changes.map((c) => c.seq), snapshotSeq: snapshot.seq, result: 'ok' };
    this.publishes.push(record);
    const fault = this.#faults.shift();
    if (fault === 'refuse') {
      record.result = 'refused';
      throw new Error('Connection is closed.');
    }
    await this.inner.publish(changes, snapshot);
    if (fault === 'lose') {
      record.result = 'lost';
      throw new Error('Command timed out');
    }
  }

  readSnapshot(): Promise<Snapshot | null> {
    return this.inner.readSnapshot();
  }
  read(afterSeq: number, options: ReadOptions): Promise<ReadResult> {
    return this.inner.read(afterSeq, options);
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  /** Every seq that reached the bus through a publish, in the order it was handed over. */
  landed(): number[] {
    return this.publishes.filter((p) => p.result !== 'refused').flatMap((p) => p.seqs);
  }

  /** The chain after `afterSeq` as a consumer reads it (a gap fails the test). */
  async chainAfter(afterSeq: number): Promise<Change[]> {
    const out: Change[] = [];
    let at = afterSeq;
    for (;;) {
      const read = await this.inner.read(at, { blockMs: 0, count: 1000 });
      assert.equal(read.kind, 'changes', `no gap after ${at}`);
      if (read.kind !== 'changes' || read.changes.length === 0) return out;
      out.push(...read.changes);
      at = read.changes[read.changes.length - 1]!.seq;
    }
  }
}

function deleted(n: number): BusEvent {
  return { kind: 'customer.deleted', v: 1, customerId: `gone-${n}` };
}

let counter = 0;

/** Commits `n` outbox rows in one transaction, as the api's services do; returns their seqs. */
async function commit(n: number): Promise<number[]> {
  return db.transaction(async (m) => {
    const seqs: number[] = [];
    for (let i = 0; i < n; i += 1) seqs.push(await appendChange(m, deleted((counter += 1))));
    return seqs;
  });
}

/** A transaction that wrote a row and rolled back: its seq is a hole. */
async function rolledBack(): Promise<void> {
  await assert.rejects(
    db.transaction(async (m) => {
      await appendChange(m, deleted((counter += 1)));
      throw new Error('rolled back on purpose');
    }),
    /on purpose/,
  );
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function relay(bus: ChangeBus, extra: { onPublished?: (seq: number) => void; onLag?: (seqs: number) => void } = {}): ChangeRelay {
  return new ChangeRelay({ db, bus, logger, intervalMs: INTERVAL_MS, ...extra });
}

/** Seqs strictly ascending, none twice. */
function assertAscendingOnce(seqs: number[], what: string): void {
  for (let i = 1; i < seqs.length; i += 1) assert.ok(seqs[i]! > seqs[i - 1]!, `${what}: ${seqs[i]} after ${seqs[i - 1]} (${JSON.stringify(seqs)})`);
}

async function caughtUp(bus: RecordingBus, seq: number): Promise<void> {
  await until(async () => (await bus.publishedSeq()) === seq, `the bus at seq ${seq}`);
}

test('a new bus gets the snapshot alone; then every committed row is relayed in seq order, linked across the holes of rolled-back transactions', async () => {
  const history = await commit(3);
  const bus = new RecordingBus();
  const published: number[] = [];
  const r = relay(bus, { onPublished: (seq) => published.push(seq) });
  r.start();
  try {
    const start = history[history.length - 1]!;
    await caughtUp(bus, start);
    assert.equal((await bus.readSnapshot())!.seq, start);
    assert.deepEqual(bus.landed(), [], 'rows before a new bus are history: the snapshot holds their result');

    const first = await commit(2);
    await rolledBack();
    const second = await commit(2);
    r.kick();
    const last = second[1]!;
    await caughtUp(bus, last);
    const chain = await bus.chainAfter(start);
    assert.deepEqual(chain.map((c) => c.seq), [...first, ...second]);
    assert.deepEqual(chain.map((c) => c.prevSeq), [start, first[0], first[1], second[0]], 'each links to the one before it, across the hole');
    assert.ok(second[0]! > first[1]! + 1, 'the rolled-back transaction left a hole');
    assert.deepEqual((chain[0]!.event as { customerId: string }).customerId, `gone-${counter - 4}`, 'the payload as committed');
    assert.equal((await bus.readSnapshot())!.seq, last, 'the snapshot matches the last change');
    // Told once the pass's transaction has committed, just after the bus has it.
    await until(() => published.at(-1) === last, 'onPublished reports the bus\'s seq');
  } finally {
    await r.stop();
  }
});

test('rows committed while no relay ran are caught up by the next one to start, and rows committed without a kick by its timer', async () => {
  const bus = new RecordingBus();
  const a = relay(bus);
  a.start();
  const before = await commit(2);
  a.kick();
  await caughtUp(bus, before[1]!);
  await a.stop();
  const snapshotSeq = (await bus.readSnapshot())!.seq;

  // The api that committed these crashed before publishing: nothing runs.
  const missed = [...(await commit(2)), ...(await commit(1))];
  await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 3));
  assert.equal(await bus.publishedSeq(), before[1], 'a stopped relay publishes nothing');

  const b = relay(bus);
  b.start();
  try {
    await caughtUp(bus, missed[2]!);
    const late = await commit(1);
    await caughtUp(bus, late[0]!);
    const chain = await bus.chainAfter(snapshotSeq);
    assert.deepEqual(chain.map((c) => c.seq), [...before.filter((s) => s > snapshotSeq), ...missed, ...late]);
    assertAscendingOnce(bus.landed(), 'handed to the bus');
  } finally {
    await b.stop();
  }
});

test('a publish the bus refuses is retried: every seq reaches the bus once and in order, and the lag is reported meanwhile', async () => {
  const bus = new RecordingBus();
  const lags: number[] = [];
  const r = relay(bus, { onLag: (seqs) => lags.push(seqs) });
  r.start();
  try {
    const start = (await commit(1))[0]!;
    r.kick();
    await caughtUp(bus, start);
    bus.fail('refuse', 'refuse', 'refuse');
    const rows = await commit(5);
    r.kick();
    await until(() => bus.publishes.filter((p) => p.result === 'refused').length === 3, 'three refusals');
    assert.ok(lags.includes(5), `the five rows waiting are reported as lag (${JSON.stringify(lags)})`);
    await caughtUp(bus, rows[4]!);
    const chain = await bus.chainAfter(start);
    assert.deepEqual(chain.map((c) => c.seq), rows);
    assertAscendingOnce(bus.landed(), 'handed to the bus');
    await until(() => lags.at(-1) === 0, 'no lag once caught up');
  } finally {
    await r.stop();
  }
});

test('a publish that landed but whose answer was lost: the next pass starts from the bus\'s seq and sends nothing twice', async () => {
  const bus = new RecordingBus();
  const r = relay(bus);
  r.start();
  try {
    const start = (await commit(1))[0]!;
    r.kick();
    await caughtUp(bus, start);
    bus.fail('lose', 'refuse', 'lose');
    const rows: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      rows.push(...(await commit(2)));
      r.kick();
      await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS / 2));
    }
    await caughtUp(bus, rows.at(-1)!);
    assert.ok(bus.publishes.some((p) => p.result === 'lost'), 'a lost answer happened');
    assertAscendingOnce(bus.landed(), 'a seq the bus already holds is never handed to it again');
    assert.deepEqual((await bus.chainAfter(start)).map((c) => c.seq), rows);
  } finally {
    await r.stop();
  }
});

test('two relays racing (two api replicas): one pass at a time, each seq handed to the bus once, in order', async () => {
  const bus = new RecordingBus();
  const [a, b] = [relay(bus), relay(bus)];
  a.start();
  b.start();
  try {
    const start = (await commit(1))[0]!;
    await caughtUp(bus, start);
    const rows: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 3));
        rows.push(...(await commit(1 + (i % 3))));
        (i % 2 === 0 ? a : b).kick();
      }),
    );
    rows.sort((x, y) => x - y);
    await caughtUp(bus, rows.at(-1)!);
    assertAscendingOnce(bus.landed(), 'handed to the bus by either relay');
    assert.deepEqual((await bus.chainAfter(start)).map((c) => c.seq), rows);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test('a backlog longer than one batch goes in batches of 1000, in order, each with a snapshot at its own last seq', async () => {
  const bus = new RecordingBus();
  const r = relay(bus);
  r.start();
  try {
    const start = (await commit(1))[0]!;
    await caughtUp(bus, start);
    await r.stop();
    await db.transaction(async (m) => {
      await m.query(
        `INSERT INTO "change_log" ("kind", "customer_id", "payload")
         SELECT 'customer.deleted', 'bulk-' || g, jsonb_build_object('kind', 'customer.deleted', 'v', 1, 'customerId', 'bulk-' || g)
           FROM generate_series(1, 2500) AS g ORDER BY g`,
      );
    });
    const before = bus.publishes.length;
    const again = relay(bus);
    again.start();
    try {
      const [{ max }] = (await ds.query('SELECT max("seq") AS "max" FROM "change_log"')) as Array<{ max: string }>;
      await until(async () => (await bus.publishedSeq()) === Number(max), 'the backlog relayed', 20_000);
      const batches = bus.publishes.slice(before).filter((p) => p.seqs.length > 0);
      assert.deepEqual(batches.map((p) => p.seqs.length), [1000, 1000, 500]);
      for (const p of batches) assert.equal(p.snapshotSeq, p.seqs.at(-1), 'the snapshot published with a batch reaches its last change');
      assertAscendingOnce(bus.landed(), 'handed to the bus');
      assert.equal((await bus.chainAfter(start)).length, 2500);
    } finally {
      await again.stop();
    }
  } finally {
    await r.stop();
  }
});

test('a kick during a pass runs one more pass right after it: rows committed meanwhile do not wait for the timer', async () => {
  const bus = new RecordingBus();
  const r = new ChangeRelay({ db, bus, logger, intervalMs: 60_000 });
  r.start();
  try {
    const start = (await commit(1))[0]!;
    r.kick();
    await caughtUp(bus, start);
    const before = bus.publishes.length;
    const gate = bus.hold();
    const first = await commit(1);
    r.kick();
    await gate.reached;
    const meanwhile = await commit(2);
    r.kick();
    r.kick();
    gate.open();
    await caughtUp(bus, meanwhile[1]!);
    assert.deepEqual((await bus.chainAfter(start)).map((c) => c.seq), [...first, ...meanwhile]);
    assert.deepEqual(bus.publishes.slice(before).map((p) => p.seqs), [first, meanwhile], 'kicks during one pass make one more pass, not one each');
  } finally {
    await r.stop();
  }
});

test('stop() waits for the pass in progress; nothing is published after it, whatever is committed or kicked', async () => {
  const bus = new RecordingBus();
  const r = relay(bus);
  r.start();
  const start = (await commit(1))[0]!;
  r.kick();
  await caughtUp(bus, start);
  const gate = bus.hold();
  const rows = await commit(2);
  r.kick();
  await gate.reached;
  let stopped = false;
  const stopping = r.stop().then(() => (stopped = true));
  await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 2));
  assert.equal(stopped, false, 'stop() waits while a publish is in progress');
  gate.open();
  await stopping;
  assert.equal(await bus.publishedSeq(), rows[1], 'the pass in progress finished');
  const calls = bus.publishes.length;
  await commit(2);
  r.kick();
  await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 4));
  assert.equal(bus.publishes.length, calls, 'no publish after stop(): neither a kick nor the timer');
  assert.equal(await bus.publishedSeq(), rows[1]);
});
