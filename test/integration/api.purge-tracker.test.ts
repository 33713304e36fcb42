/**
 * The purge tracker (src/api/services/purge-tracker.service.ts) on its own: a real PostgreSQL
 * holding the purges and their stored acks (written as the ack collector writes them), the
 * in-process fleet (src/bus/memory-fleet.ts) with a clock the test moves so heartbeats expire
 * on demand, and the purge signals. Per-edge progress from acks and heartbeats, an edge that
 * dies, an edge that joins after the purge, the completion stamp (once, even with two api
 * replicas), the fleet unreadable, and the updates watch() and waitUntilComplete() give.
 * Through GraphQL: test/integration/api.purges.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import type { EdgeFleet, EdgeStatus, PurgeAck } from '../../src/core/fleet.port';
import { createDataSource, migrate } from '../../src/api/db/data-source';
import { Database } from '../../src/api/db/database';
import { findPurge, insertPurgeAcks } from '../../src/api/db/purge.store';
import type { PurgeRecord } from '../../src/api/domain/purge.types';
import { PurgeSignals } from '../../src/api/services/purge-signals';
import { PurgeTracker, type PurgeUpdate } from '../../src/api/services/purge-tracker.service';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import { createLogger } from '../../src/obs/logger.factory';
import { insertPurgesInSql, sql } from '../support/purge.fixtures';
import { createTestDatabase, type TestDatabase } from '../support/services';

const TTL_MS = 10_000;
const logger = createLogger({ name: 'test', level: 'silent' });

let database: TestDatabase;
let ds: DataSource;
let db: Database;
let customers = 0;

before(async () => {
  database = await createTestDatabase('edgeplane_tracker');
  ds = createDataSource({ databaseUrl: database.url, dataDir: '/nonexistent' });
  await ds.initialize();
  await migrate(ds);
  db = new Database(ds);
});

after(async () => {
  await ds?.destroy();
  await database?.drop();
});

/** A fleet whose heartbeats expire by a clock the test moves, and that can be made unreadable. */
class World {
  now = Date.parse('2030-01-01T00:00:00.000Z');
  readonly memory = new MemoryFleet({ now: () => this.now });
  unreadable = false;
  readonly fleet: EdgeFleet;
  readonly signals = new PurgeSignals();
  readonly completed: Array<{ id: string; at: Date }> = [];

  constructor() {
    const memory = this.memory;
    this.fleet = Object.assign(Object.create(memory) as EdgeFleet, {
      liveEdges: async () => {
        if (this.unreadable) throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
        return memory.liveEdges();
      },
    });
  }

  readonly #trackers: PurgeTracker[] = [];

  tracker(recheckMs = 60_000): PurgeTracker {
    const tracker = new PurgeTracker({ db, fleet: this.fleet, signals: this.signals, logger, recheckMs, onCompleted: (purge, at) => void this.completed.push({ id: purge.id, at }) });
    this.#trackers.push(tracker);
    return tracker;
  }

  /** Ends every watch still open (a failed test leaves none waiting). */
  close(): void {
    for (const tracker of this.#trackers) tracker.close();
  }

  /** The edge reports itself now, having applied changes up to `appliedSeq`. Returns the heartbeat's time. */
  async heartbeat(edgeId: string, appliedSeq: number): Promise<string> {
    const at = new Date(this.now).toISOString();
    const status: EdgeStatus = { edgeId, host: 'edge.test', pid: 1, version: 'test', appliedSeq, ready: true, startedAt: at, heartbeatAt: at, cacheObjects: 0, cacheBytes: 0 };
    await this.memory.heartbeat(status, TTL_MS);
    return at;
  }

  /** An ack as the collector stores it, and the signal it gives. */
  async ack(purge: PurgeRecord, edgeId: string, objectsRemoved: number, appliedAt = new Date(this.now).toISOString()): Promise<string> {
    const ack: PurgeAck = { purgeId: purge.id, seq: purge.seq, edgeId, appliedAt, objectsRemoved };
    await db.transaction((m) => insertPurgeAcks(m, [ack]));
    this.signals.emit([purge.id]);
    return appliedAt;
  }
}

/** A new customer and one purge of it, as the api writes it. */
async function newPurge(): Promise<PurgeRecord> {
  customers += 1;
  const id = `tracked-${customers}`;
  await sql(database, `INSERT INTO "customer" ("id", "name", "origin_url", "cache_ttl") VALUES ($1, $1, 'http://origin.test', 60)`, [id]);
  const [written] = await insertPurgesInSql(database, id, ['/tracked']);
  return reload({ id: written!.id });
}

/** `promise`, or a failure naming `what` after `ms` (a wait the tracker never ends fails here, not at the runner's timeout). */
function within<T>(promise: Promise<T>, what: string, ms = 3000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for: ${what}`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function edgesOf(update: { progress: { edges: Array<{ edgeId: string; live: boolean; appliedAt: Date | null; objectsRemoved: number | null }> } }): string[] {
  return update.progress.edges.map((e) => `${e.edgeId} ${e.live ? 'live' : 'gone'} ${e.appliedAt === null ? 'pending' : `applied ${e.appliedAt.toISOString()}`}${e.objectsRemoved === null ? '' : ` removed ${e.objectsRemoved}`}`);
}

/** The purge's row as stored now (the tracker reports the stamp of the row it is given). */
async function reload(purge: Pick<PurgeRecord, 'id'>): Promise<PurgeRecord> {
  const found = await db.read((m) => findPurge(m, purge.id));
  assert.ok(found, `purge ${purge.id} stored`);
  return found;
}

async function storedCompletion(purge: PurgeRecord): Promise<Date | null> {
  const [row] = await sql<{ completed_at: Date | null }>(database, 'SELECT "completed_at" FROM "purge" WHERE "id" = $1', [purge.id]);
  return row!.completed_at;
}

test('per-edge progress: applied by its stored ack or by a heartbeat at the purge\'s seq; complete, and stamped once, when every live edge applied it', async (t) => {
  const world = new World();
  t.after(() => world.close());
  const tracker = world.tracker();
  for (const e of ['edge-a', 'edge-b', 'edge-c']) await world.heartbeat(e, 0);
  const purge = await newPurge();
  const seq = purge.seq;

  let state = await tracker.state(purge);
  assert.deepEqual(edgesOf(state), ['edge-a live pending', 'edge-b live pending', 'edge-c live pending']);
  assert.deepEqual([state.progress.edgesTotal, state.progress.edgesApplied, state.progress.complete, state.completedAt], [3, 0, false, null]);

  world.now += 1000;
  const ackA = await world.ack(purge, 'edge-a', 4);
  world.now += 1000;
  await world.heartbeat('edge-b', seq - 1);
  state = await tracker.state(purge);
  assert.deepEqual(edgesOf(state), [`edge-a live applied ${ackA} removed 4`, 'edge-b live pending', 'edge-c live pending'], 'one change below the purge is not applied');

  const beat = await world.heartbeat('edge-b', seq);
  state = await tracker.state(purge);
  assert.deepEqual(edgesOf(state), [`edge-a live applied ${ackA} removed 4`, `edge-b live applied ${beat}`, 'edge-c live pending'], 'applied per heartbeat before its ack arrives: at most at that heartbeat');
  assert.equal(state.completedAt, null);
  assert.equal(await storedCompletion(purge), null);

  world.now += 1000;
  await world.ack(purge, 'edge-c', 0);
  state = await tracker.state(purge);
  assert.equal(state.progress.complete, true);
  assert.ok(state.completedAt instanceof Date);
  assert.equal((await storedCompletion(purge))?.getTime(), state.completedAt.getTime(), 'the stamp is stored');
  assert.deepEqual(world.completed.map((c) => c.id), [purge.id]);

  // Read again later (another query, another replica): the stamp stands, reported once.
  const again = await world.tracker().state(await reload(purge));
  assert.equal(again.completedAt?.getTime(), state.completedAt.getTime());
  assert.equal(world.completed.length, 1);
});

test('an edge that dies stops counting: it is no longer waited for, and one that acked and died is listed as gone', async (t) => {
  const world = new World();
  t.after(() => world.close());
  const tracker = world.tracker();
  for (const e of ['edge-a', 'edge-b', 'edge-c']) await world.heartbeat(e, 0);
  const purge = await newPurge();
  const ackA = await world.ack(purge, 'edge-a', 1);
  assert.equal((await tracker.state(purge)).progress.complete, false);

  // edge-a and edge-b die (no heartbeat past their time to live); edge-c keeps reporting.
  world.now += TTL_MS - 1;
  await world.heartbeat('edge-c', 0);
  world.now += 2;
  const state = await tracker.state(purge);
  assert.deepEqual(edgesOf(state), [`edge-a gone applied ${ackA} removed 1`, 'edge-c live pending'], 'a dead edge that never applied it is not listed');
  assert.equal(state.progress.complete, false, 'edge-c is live and has not applied it');

  world.now += 1;
  await world.ack(purge, 'edge-c', 0);
  const done = await tracker.state(purge);
  assert.equal(done.progress.complete, true);
  assert.deepEqual([done.progress.edgesTotal, done.progress.edgesApplied], [2, 2]);
});

test('an edge that joins after the purge: counted applied when it reports the purge\'s seq, waited for while it catches up; a stamp already given stands', async (t) => {
  const world = new World();
  t.after(() => world.close());
  const tracker = world.tracker();
  await world.heartbeat('edge-a', 0);
  const purge = await newPurge();
  const seq = purge.seq;
  await world.ack(purge, 'edge-a', 0);
  world.now += 1000;
  // Still catching up on the bus: not applied yet, and the purge waits for it.
  await world.heartbeat('edge-late', seq - 1);
  let state = await tracker.state(purge);
  assert.deepEqual(edgesOf(state).map((e) => e.split(' ').slice(0, 3).join(' ')), ['edge-a live applied', 'edge-late live pending']);
  assert.equal(state.completedAt, null);
  // It loaded a snapshot past the purge: applied, without an ack.
  const beat = await world.heartbeat('edge-late', seq + 5);
  state = await tracker.state(purge);
  assert.ok(edgesOf(state).includes(`edge-late live applied ${beat}`));
  assert.ok(state.completedAt !== null);
  const stamp = state.completedAt;
  // A third edge joining after completion changes the listing, not the stamp.
  await world.heartbeat('edge-later', 0);
  state = await tracker.state(await reload(purge));
  assert.equal(state.progress.complete, false, 'the progress says who is behind now');
  assert.equal(state.completedAt?.getTime(), stamp.getTime(), 'but completion, once stamped, is kept');

  // With no live edge at all, a purge is complete at once (an edge starting later loads a newer snapshot).
  const lonely = new World();
  t.after(() => lonely.close());
  const alone = await newPurge();
  assert.ok((await lonely.tracker().state(alone)).completedAt !== null);
});

test('while the live edges cannot be read, progress shows the acks alone and never completes', async (t) => {
  const world = new World();
  t.after(() => world.close());
  const tracker = world.tracker();
  await world.heartbeat('edge-a', 0);
  const purge = await newPurge();
  const ackA = await world.ack(purge, 'edge-a', 2);
  world.unreadable = true;
  const state = await tracker.state(purge);
  assert.deepEqual(edgesOf(state), [`edge-a gone applied ${ackA} removed 2`]);
  assert.deepEqual([state.progress.complete, state.completedAt], [false, null], 'never claim completion without knowing who is live');
  assert.equal(await storedCompletion(purge), null);
  world.unreadable = false;
  assert.ok((await tracker.state(purge)).completedAt !== null);
});

test('two api replicas seeing completion at once: one stamp, reported once', async (t) => {
  const world = new World();
  t.after(() => world.close());
  await world.heartbeat('edge-a', 0);
  const purge = await newPurge();
  await world.ack(purge, 'edge-a', 0);
  const [one, two] = [world.tracker(), world.tracker()];
  const states = await Promise.all([one.state(purge), two.state(purge), one.state(purge), two.state(purge)]);
  const stamps = new Set(states.map((s) => s.completedAt?.getTime()));
  assert.equal(stamps.size, 1, 'everyone reports the same stamp');
  assert.deepEqual(world.completed.map((c) => c.id), [purge.id], 'onCompleted once');
  assert.equal((await storedCompletion(purge))?.getTime(), [...stamps][0]);
});

test('watch(): the state first, then one update per edge as it applies (ordered by when), ending with the update that completes it', async (t) => {
  const world = new World();
  t.after(() => world.close());
  // Only signals wake it: a recheck a minute away would time the test out.
  const tracker = world.tracker(60_000);
  for (const e of ['edge-a', 'edge-b', 'edge-c']) await world.heartbeat(e, 0);
  const purge = await newPurge();
  const updates = tracker.watch(purge);
  const seen: PurgeUpdate[] = [];
  const next = async (): Promise<IteratorResult<PurgeUpdate>> => {
    const r = await within(updates.next(), 'the next update');
    if (!r.done) seen.push(r.value);
    return r;
  };
  const first = await next();
  assert.equal(first.done, false);
  assert.deepEqual([first.value!.edge, first.value!.state.progress.edgesApplied], [null, 0]);

  await world.ack(purge, 'edge-b', 3);
  const b = await next();
  assert.equal(b.value!.edge?.edgeId, 'edge-b');
  assert.equal(b.value!.edge?.objectsRemoved, 3);
  assert.equal(b.value!.state.completedAt, null);

  // Two acks stored together, the later-applied one first: reported in the order they took effect.
  const early = new Date(world.now - 500).toISOString();
  const late = new Date(world.now - 100).toISOString();
  await db.transaction((m) =>
    insertPurgeAcks(m, [
      { purgeId: purge.id, seq: purge.seq, edgeId: 'edge-a', appliedAt: late, objectsRemoved: 0 },
      { purgeId: purge.id, seq: purge.seq, edgeId: 'edge-c', appliedAt: early, objectsRemoved: 0 },
    ]),
  );
  world.signals.emit([purge.id]);
  const c = await next();
  const a = await next();
  assert.deepEqual([c.value!.edge?.edgeId, a.value!.edge?.edgeId], ['edge-c', 'edge-a']);
  assert.equal(c.value!.state.completedAt !== null, true, 'the state in each update is the latest');
  assert.equal((await next()).done, true, 'it ends once complete');
  assert.deepEqual(seen.map((u) => u.edge?.edgeId ?? null), [null, 'edge-b', 'edge-c', 'edge-a'], 'each edge reported once');

  // A complete purge: one update, then the end.
  const complete = tracker.watch(await reload(purge));
  const only = await within(complete.next(), 'the update');
  assert.ok(only.value!.state.completedAt !== null);
  assert.equal((await within(complete.next(), 'the end')).done, true);
});

test('watch() also notices what no signal announces (a heartbeat) at its recheck, and ends when the purge is deleted with its customer', async (t) => {
  const world = new World();
  t.after(() => world.close());
  const tracker = world.tracker(50);
  await world.heartbeat('edge-a', 0);
  const purge = await newPurge();
  const updates = tracker.watch(purge);
  await updates.next();
  const beat = await world.heartbeat('edge-a', purge.seq);
  const applied = await within(updates.next(), 'the update at the recheck');
  assert.equal(applied.value!.edge?.appliedAt?.toISOString(), beat);
  assert.equal((await within(updates.next(), 'the end')).done, true);

  await world.heartbeat('edge-b', 0);
  const doomed = await newPurge();
  const watching = tracker.watch(doomed);
  await watching.next();
  await sql(database, 'DELETE FROM "customer" WHERE "id" = $1', [doomed.customerId]);
  assert.equal((await within(watching.next(), 'the end of the deleted purge\'s watch')).done, true);
});

test('waitUntilComplete answers at completion, or at its timeout with the state then; close() wakes every waiter at once', async (t) => {
  const world = new World();
  t.after(() => world.close());
  const tracker = world.tracker(60_000);
  await world.heartbeat('edge-a', 0);
  const purge = await newPurge();

  const started = Date.now();
  const timedOut = await tracker.waitUntilComplete(purge, 150);
  assert.ok(Date.now() - started >= 140, 'waited for its timeout');
  assert.deepEqual([timedOut.completedAt, timedOut.progress.edgesApplied], [null, 0]);

  const waiting = tracker.waitUntilComplete(purge, 60_000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  await world.ack(purge, 'edge-a', 0);
  const done = await within(waiting, 'the answer at completion');
  assert.ok(done.completedAt !== null);

  const other = await newPurge();
  const watching = tracker.watch(other);
  await watching.next();
  const waiter = tracker.waitUntilComplete(other, 60_000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const closing = Date.now();
  tracker.close();
  const [state, end] = await within(Promise.all([waiter, watching.next()]), 'the waiters woken by close()');
  assert.ok(Date.now() - closing < 2000, 'at once, not at a recheck or timeout');
  assert.equal(state.completedAt, null, 'the waiter gets the state as it stands');
  assert.equal(end.done, true, 'the watch ends');
});
