/**
 * The EdgeFleet contract (src/core/fleet.port.ts), one suite run against every
 * implementation: the in-process MemoryFleet, and the RedisFleet on a real Redis and on a
 * three-master Redis Cluster (started here), each test under its own key prefix. Then what only the Redis one can meet: entries written behind
 * its back, its key layout, and Redis being down.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EdgeFleet, EdgeStatus, PurgeAck } from '../../src/core/fleet.port';
import { createRedisFleet } from '../../src/bus/redis-fleet';
import { fixtureTest, timed } from '../support/contract';
import { memoryFleetHarness, redisFleetHarness, withRawRedisFleet, type FleetFixture, type FleetHarness, type FleetOptions, type RawRedisFleet } from '../support/fleet.fixtures';
import { clusterTestTarget, serverTestTarget, stopSharedCluster } from '../support/redis-ha';

after(() => stopSharedCluster());

function statusOf(edgeId: string, overrides: Partial<EdgeStatus> = {}): EdgeStatus {
  return {
    edgeId,
    host: 'edge-host-1',
    pid: 4242,
    version: '0.1.0',
    appliedSeq: 17,
    ready: true,
    startedAt: '2026-11-01T00:00:00.000Z',
    heartbeatAt: '2026-11-01T00:05:00.000Z',
    cacheObjects: 1200,
    cacheBytes: 3_500_000,
    ...overrides,
  };
}

function ackOf(i: number, edgeId = 'edge-a'): PurgeAck {
  return {
    purgeId: `purge-${i}`,
    seq: i,
    edgeId,
    appliedAt: new Date(Date.UTC(2026, 10, 1, 0, 0, 0, i)).toISOString(),
    objectsRemoved: i % 7,
  };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function edgeIdsOf(edges: EdgeStatus[]): string[] {
  return edges.map((e) => e.edgeId);
}

function purgeIdsOf(acks: PurgeAck[]): string[] {
  return acks.map((a) => a.purgeId);
}

/** Reads from `cursor` until `total` acks arrived; each answer is checked against `count`. */
async function readAll(fleet: EdgeFleet, cursor: string, total: number, count: number): Promise<{ acks: PurgeAck[]; cursor: string }> {
  const acks: PurgeAck[] = [];
  const deadline = Date.now() + 20_000;
  while (acks.length < total) {
    assert.ok(Date.now() < deadline, `only ${acks.length} of ${total} acks arrived`);
    const answer = await fleet.readAcks(cursor, { blockMs: 1000, count });
    assert.ok(answer.acks.length <= count, `an answer held ${answer.acks.length} acks, count is ${count}`);
    acks.push(...answer.acks);
    cursor = answer.cursor;
  }
  return { acks, cursor };
}

function fleetContract(harness: FleetHarness): void {
  describe(`EdgeFleet contract: ${harness.name}`, () => {
    const test = fixtureTest<FleetFixture, FleetOptions>((options) => harness.open(options));

    test('an empty channel has no edges, and readAcks waits out blockMs then answers no acks', async ({ fleet }) => {
      assert.deepEqual(await fleet.liveEdges(), []);
      const { value, ms } = await timed(fleet.readAcks('0', { blockMs: 150 }));
      assert.deepEqual(value.acks, []);
      assert.ok(ms >= 120, `readAcks returned after ${ms.toFixed(0)} ms, before blockMs`);
    });

    test('a heartbeat makes the edge live with exactly the status it sent', async ({ fleet }) => {
      const status = statusOf('edge-a');
      await fleet.heartbeat(status, 10_000);
      assert.deepEqual(await fleet.liveEdges(), [status]);
    });

    test('a later heartbeat replaces the status', async ({ fleet }) => {
      await fleet.heartbeat(statusOf('edge-a', { appliedSeq: 17, ready: false }), 10_000);
      await fleet.heartbeat(statusOf('edge-b'), 10_000);
      const replaced = statusOf('edge-a', { appliedSeq: 18, ready: true, cacheObjects: 0, heartbeatAt: '2026-11-01T00:05:05.000Z' });
      await fleet.heartbeat(replaced, 10_000);
      assert.deepEqual(await fleet.liveEdges(), [replaced, statusOf('edge-b')]);
    });

    test('an edge whose heartbeat expired is no longer live; a renewed one stays', async (fx) => {
      await fx.fleet.heartbeat(statusOf('short'), 300);
      await fx.fleet.heartbeat(statusOf('renewed'), 300);
      await fx.fleet.heartbeat(statusOf('long'), 60_000);
      await fx.elapse(100);
      assert.deepEqual(edgeIdsOf(await fx.fleet.liveEdges()), ['long', 'renewed', 'short']);
      await fx.elapse(100);
      // Without this, 'renewed' would expire with 'short'; margins are wide for a busy Redis.
      await fx.fleet.heartbeat(statusOf('renewed', { appliedSeq: 20 }), 600);
      await fx.elapse(250);
      const live = await fx.fleet.liveEdges();
      assert.deepEqual(edgeIdsOf(live), ['long', 'renewed']);
      assert.equal(live[1]!.appliedSeq, 20);
      // It comes back with its next heartbeat.
      await fx.fleet.heartbeat(statusOf('short'), 300);
      assert.deepEqual(edgeIdsOf(await fx.fleet.liveEdges()), ['long', 'renewed', 'short']);
    });

    test('leave removes the edge at once; leaving twice or unknown is harmless', async (fx) => {
      await fx.fleet.heartbeat(statusOf('edge-a'), 60_000);
      await fx.fleet.heartbeat(statusOf('edge-b'), 60_000);
      await fx.peer().leave('edge-a');
      assert.deepEqual(edgeIdsOf(await fx.fleet.liveEdges()), ['edge-b']);
      await fx.fleet.leave('edge-a');
      await fx.fleet.leave('never-seen');
      assert.deepEqual(edgeIdsOf(await fx.fleet.liveEdges()), ['edge-b']);
    });

    test('live edges are ordered by edgeId (code units, so cluster workers #10 before #2)', async ({ fleet }) => {
      for (const id of ['edge-b', 'edge-a#2', 'edge-a#10', 'edge-a', 'Edge-z', 'edge-a#1']) {
        await fleet.heartbeat(statusOf(id), 60_000);
      }
      assert.deepEqual(edgeIdsOf(await fleet.liveEdges()), ['Edge-z', 'edge-a', 'edge-a#1', 'edge-a#10', 'edge-a#2', 'edge-b']);
    });

    test('a reader gets copies: mutating what it read changes nothing stored', async ({ fleet }) => {
      const sent = statusOf('edge-a');
      await fleet.heartbeat(sent, 60_000);
      sent.appliedSeq = 99;
      (await fleet.liveEdges())[0]!.ready = false;
      assert.deepEqual(await fleet.liveEdges(), [statusOf('edge-a')]);
      await fleet.ack([ackOf(1)]);
      (await fleet.readAcks('0', { blockMs: 0 })).acks[0]!.seq = 99;
      assert.deepEqual((await fleet.readAcks('0', { blockMs: 0 })).acks, [ackOf(1)]);
    });

    test('acks read back from "0" in order, exactly, and the returned cursor continues after them', async ({ fleet }) => {
      const first = [ackOf(1), ackOf(2, 'edge-b'), ackOf(3)];
      await fleet.ack(first);
      await fleet.ack([]);
      const read = await fleet.readAcks('0', { blockMs: 1000 });
      assert.deepEqual(read.acks, first);
      const idle = await fleet.readAcks(read.cursor, { blockMs: 30 });
      assert.deepEqual(idle, { cursor: read.cursor, acks: [] });
      await fleet.ack([ackOf(4)]);
      const next = await fleet.readAcks(read.cursor, { blockMs: 1000 });
      assert.deepEqual(next.acks, [ackOf(4)]);
      assert.notEqual(next.cursor, read.cursor);
      // Reading from "0" again starts over.
      assert.deepEqual(purgeIdsOf((await fleet.readAcks('0', { blockMs: 0 })).acks), ['purge-1', 'purge-2', 'purge-3', 'purge-4']);
    });

    test('"$" skips what is there, and the concrete cursor it returns misses nothing after', async ({ fleet }) => {
      const onEmpty = await fleet.readAcks('$', { blockMs: 0 });
      assert.deepEqual(onEmpty.acks, []);
      assert.notEqual(onEmpty.cursor, '$');
      await fleet.ack([ackOf(1), ackOf(2)]);
      const start = await fleet.readAcks('$', { blockMs: 50 });
      assert.deepEqual(start.acks, []);
      assert.notEqual(start.cursor, '$');
      // Appended between the two calls: must not be skipped.
      await fleet.ack([ackOf(3)]);
      await fleet.ack([ackOf(4)]);
      assert.deepEqual((await fleet.readAcks(start.cursor, { blockMs: 1000 })).acks, [ackOf(3), ackOf(4)]);
      // The cursor from the empty channel sees everything appended since.
      assert.deepEqual(purgeIdsOf((await fleet.readAcks(onEmpty.cursor, { blockMs: 0 })).acks), ['purge-1', 'purge-2', 'purge-3', 'purge-4']);
    });

    test('"$" with blockMs waits for, and returns, the next ack', async (fx) => {
      await fx.fleet.ack([ackOf(1)]);
      const pending = timed(fx.peer().readAcks('$', { blockMs: 5000 }));
      await sleep(100);
      await fx.fleet.ack([ackOf(2)]);
      const { value, ms } = await pending;
      assert.deepEqual(value.acks, [ackOf(2)]);
      assert.ok(ms < 1500, `woke after ${ms.toFixed(0)} ms`);
    });

    test('2,500 acks in batches, read with count 500 while being written: none lost, none twice, in order', async (fx) => {
      const total = 2_500;
      const reader = fx.peer();
      const reading = readAll(reader, '0', total, 500);
      for (let from = 1; from <= total; from += 100) {
        await fx.fleet.ack(range(from, from + 99).map((i) => ackOf(i)));
      }
      const { acks, cursor } = await reading;
      assert.deepEqual(purgeIdsOf(acks), range(1, total).map((i) => `purge-${i}`));
      assert.deepEqual(acks[total - 1], ackOf(total));
      assert.deepEqual(await reader.readAcks(cursor, { blockMs: 30, count: 500 }), { cursor, acks: [] });

      // Read again once all are there: full answers of exactly count.
      const sizes: number[] = [];
      let at = '0';
      for (;;) {
        const answer = await fx.fleet.readAcks(at, { blockMs: 0, count: 500 });
        if (answer.acks.length === 0) break;
        sizes.push(answer.acks.length);
        at = answer.cursor;
      }
      assert.deepEqual(sizes, [500, 500, 500, 500, 500]);
    });

    test('two writers at once: every ack arrives once, each batch whole and in order', async (fx) => {
      const other = fx.peer();
      const write = async (fleet: EdgeFleet, edgeId: string) => {
        for (let from = 1; from <= 200; from += 20) await fleet.ack(range(from, from + 19).map((i) => ackOf(i, edgeId)));
      };
      await Promise.all([write(fx.fleet, 'edge-a'), write(other, 'edge-b')]);
      const { acks } = await readAll(fx.fleet, '0', 400, 1000);
      assert.equal(acks.length, 400);
      for (const edgeId of ['edge-a', 'edge-b']) {
        assert.deepEqual(
          acks.filter((a) => a.edgeId === edgeId).map((a) => a.seq),
          range(1, 200),
        );
      }
      // A batch lands contiguously: each run of 20 starts at an index divisible by 20.
      for (let i = 0; i < 400; i += 20) {
        const run = acks.slice(i, i + 20);
        assert.ok(
          run.every((a) => a.edgeId === run[0]!.edgeId && a.seq === run[0]!.seq + run.indexOf(a)),
          `acks ${i}..${i + 19} are not one batch`,
        );
      }
    });

    test('a blocked read wakes as soon as an ack arrives', async (fx) => {
      await fx.fleet.ack([ackOf(1)]);
      const { cursor } = await fx.fleet.readAcks('0', { blockMs: 0 });
      const pending = timed(fx.peer().readAcks(cursor, { blockMs: 5000 }));
      await sleep(100);
      await fx.fleet.ack([ackOf(2), ackOf(3)]);
      const { value, ms } = await pending;
      assert.deepEqual(value.acks, [ackOf(2), ackOf(3)]);
      assert.ok(ms < 1500, `woke after ${ms.toFixed(0)} ms`);
    });

    test('close() makes a pending blocked read answer no acks promptly; later calls reject', async ({ fleet }) => {
      await fleet.ack([ackOf(1)]);
      const { cursor } = await fleet.readAcks('0', { blockMs: 0 });
      const pending = timed(fleet.readAcks(cursor, { blockMs: 10_000 }));
      await sleep(100);
      await fleet.close();
      const { value, ms } = await pending;
      assert.deepEqual(value, { cursor, acks: [] });
      assert.ok(ms < 1500, `answered ${ms.toFixed(0)} ms after the read began`);
      await assert.rejects(fleet.readAcks(cursor, { blockMs: 10 }), /closed/);
      await assert.rejects(fleet.ack([ackOf(2)]), /closed/);
      await assert.rejects(fleet.heartbeat(statusOf('edge-a'), 1000), /closed/);
      await assert.rejects(fleet.liveEdges(), /closed/);
    });

    test(
      'beyond maxAcks the oldest are trimmed, and a cursor behind them continues from the oldest kept',
      async ({ fleet }) => {
        await fleet.ack([ackOf(1)]);
        const { cursor: atFirst } = await fleet.readAcks('0', { blockMs: 0 });
        for (let from = 2; from <= 300; from += 30) await fleet.ack(range(from, Math.min(from + 29, 300)).map((i) => ackOf(i)));
        const { acks } = await fleet.readAcks(atFirst, { blockMs: 0, count: 1000 });
        const kept = acks.map((a) => a.seq);
        // A suffix without holes, ending at the last ack.
        assert.deepEqual(kept, range(301 - kept.length, 300));
        if (harness.exactTrim) assert.equal(kept.length, 10);
        else assert.ok(kept.length >= 10 && kept.length < 300, `kept ${kept.length} of 300 with maxAcks 10`);
        assert.deepEqual((await fleet.readAcks('0', { blockMs: 0, count: 1000 })).acks, acks);
      },
      { max: 10 },
    );

    test('what JSON cannot carry, or a bad cursor, ttl or count, is refused and stores nothing', async ({ fleet }) => {
      await assert.rejects(fleet.ack([ackOf(1), { ...ackOf(2), seq: Number.NaN }]), /"seq" must be a whole number of at least 0, got NaN/);
      await assert.rejects(fleet.ack([{ ...ackOf(3), purgeId: '' }]), /"purgeId" must be a non-empty string/);
      assert.deepEqual((await fleet.readAcks('0', { blockMs: 0 })).acks, []);
      await assert.rejects(fleet.heartbeat(statusOf('edge-a', { cacheBytes: Infinity }), 1000), /"cacheBytes"/);
      await assert.rejects(fleet.heartbeat(statusOf('edge-a'), 0), /ttlMs must be a positive number/);
      await assert.rejects(fleet.heartbeat(statusOf(''), 1000), /"edgeId" must be a non-empty string/);
      assert.deepEqual(await fleet.liveEdges(), []);
      await assert.rejects(fleet.readAcks('yesterday', { blockMs: 0 }), /cursor must be '0', '\$' or a cursor readAcks returned/);
      await assert.rejects(fleet.readAcks('0', { blockMs: 0, count: 0 }), /count must be a whole number of at least 1/);
    });
  });
}

fleetContract(memoryFleetHarness);
fleetContract(redisFleetHarness('RedisFleet', serverTestTarget));
fleetContract(redisFleetHarness('RedisFleet on Redis Cluster', clusterTestTarget));

describe('RedisFleet: storage written behind its back, and its key layout', () => {
  const withRedis = (name: string, body: (fixture: RawRedisFleet) => Promise<void>) => it(name, () => withRawRedisFleet(body));

  withRedis('malformed ack entries are skipped and logged, and the cursor moves past them', async ({ fleet, raw, prefix, warnings }) => {
    const stream = `${prefix}purge-acks`;
    await fleet.ack([ackOf(1)]);
    const notJson = await raw.xadd(stream, '*', 'a', '{not json');
    const wrongShape = await raw.xadd(stream, '*', 'a', JSON.stringify({ purgeId: 'purge-x', seq: 'one' }));
    const noField = await raw.xadd(stream, '*', 'b', JSON.stringify(ackOf(9)));
    await fleet.ack([ackOf(2)]);
    const read = await fleet.readAcks('0', { blockMs: 0 });
    assert.deepEqual(read.acks, [ackOf(1), ackOf(2)]);
    assert.deepEqual(
      warnings.map((w) => [w.fields.entryId, w.fields.problem]),
      [
        [notJson, 'not JSON'],
        [wrongShape, '"seq" must be a whole number of at least 0, got "one"'],
        [noField, 'no "a" field'],
      ],
    );

    // A blocked read woken by a malformed entry alone answers no acks but moves on.
    const pending = fleet.readAcks(read.cursor, { blockMs: 5000 });
    await sleep(100);
    const bad = await raw.xadd(stream, '*', 'a', 'null');
    assert.deepEqual(await pending, { cursor: bad, acks: [] });
    assert.equal(warnings.length, 4);
  });

  withRedis('malformed or mislabelled edge statuses are skipped and logged', async ({ fleet, raw, prefix, warnings }) => {
    await fleet.heartbeat(statusOf('edge-good'), 60_000);
    const far = Date.now() + 3_600_000;
    await raw.set(`${prefix}edge:edge-garbage`, 'garbage', 'PX', 60_000);
    await raw.set(`${prefix}edge:edge-liar`, JSON.stringify(statusOf('edge-other')), 'PX', 60_000);
    await raw.zadd(`${prefix}edges`, far, 'edge-garbage', far, 'edge-liar');
    assert.deepEqual(await fleet.liveEdges(), [statusOf('edge-good')]);
    assert.deepEqual(
      warnings.map((w) => [w.fields.key, w.fields.problem]),
      [
        [`${prefix}edge:edge-garbage`, 'not JSON'],
        [`${prefix}edge:edge-liar`, '"edgeId" is "edge-other"'],
      ],
    );
  });

  withRedis('a heartbeat sets a key with its ttl and an index entry; leave and expiry remove both', async ({ fleet, raw, prefix }) => {
    await fleet.heartbeat(statusOf('edge-a'), 60_000);
    await fleet.heartbeat(statusOf('edge-b'), 300);
    const pttl = await raw.pttl(`${prefix}edge:edge-a`);
    assert.ok(pttl > 55_000 && pttl <= 60_000, `pttl ${pttl}`);
    assert.deepEqual(await raw.zrange(`${prefix}edges`, 0, -1), ['edge-b', 'edge-a']);

    await fleet.leave('edge-a');
    assert.equal(await raw.exists(`${prefix}edge:edge-a`), 0);
    assert.equal(await raw.zscore(`${prefix}edges`, 'edge-a'), null);

    await sleep(400);
    assert.deepEqual(await fleet.liveEdges(), []);
    // liveEdges pruned the expired member from the index.
    assert.equal(await raw.zcard(`${prefix}edges`), 0);
  });

  withRedis('a cursor is a stream id; "0" and "$" become concrete ids', async ({ fleet, raw, prefix }) => {
    await fleet.ack([ackOf(1), ackOf(2)]);
    const [[lastId]] = (await raw.xrevrange(`${prefix}purge-acks`, '+', '-', 'COUNT', 1)) as [string, string[]][];
    assert.equal((await fleet.readAcks('$', { blockMs: 0 })).cursor, lastId);
    assert.equal((await fleet.readAcks('0', { blockMs: 0 })).cursor, lastId);
  });
});

describe('RedisFleet while Redis is unreachable', () => {
  it('rejects every call within a few seconds instead of hanging, and closes at once', async () => {
    // Port 1 refuses connections: a Redis that is down.
    const fleet = createRedisFleet({ url: 'redis://127.0.0.1:1', prefix: 'edgeplane_unreachable:' });
    try {
      const outcome = (work: Promise<unknown>) => timed(work.then(() => 'resolved', (err: Error) => err));
      for (const [name, work] of [
        ['readAcks', () => fleet.readAcks('0', { blockMs: 100 })],
        ['readAcks $', () => fleet.readAcks('$', { blockMs: 100 })],
        ['heartbeat', () => fleet.heartbeat(statusOf('edge-a'), 1000)],
        ['liveEdges', () => fleet.liveEdges()],
        ['ack', () => fleet.ack([ackOf(1)])],
      ] as const) {
        const { value, ms } = await outcome(work());
        assert.ok(value instanceof Error, `${name}: ${String(value)}`);
        assert.ok(ms < 5000, `${name} failed after ${ms.toFixed(0)} ms`);
      }
    } finally {
      const closing = await timed(fleet.close());
      assert.ok(closing.ms < 1000, `close took ${closing.ms.toFixed(0)} ms`);
    }
  });
});
