/**
 * The ChangeBus contract (src/core/bus.port.ts), one suite run against every
 * implementation: the in-process MemoryBus, the RedisBus on a real Redis, and the RedisBus
 * on a three-master Redis Cluster (started here), each test under its own key prefix.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChangeBus, ReadResult } from '../../src/core/bus.port';
import type { Change, Snapshot } from '../../src/core/bus.events';
import type { CustomerConfig } from '../../src/core/customer.types';
import { MemoryBus } from '../../src/bus/memory-bus';
import { createRedisBus } from '../../src/bus/redis-bus';
import { fixtureTest, timed } from '../support/contract';
import { createClusterTestPrefix, stopSharedCluster } from '../support/redis-ha';
import { createTestRedisPrefix } from '../support/services';

/** One empty bus for one test, and the ways a test needs to poke at its storage. */
interface BusFixture {
  bus: ChangeBus;
  /** Another handle on the same storage (another process, for Redis). */
  peer(): ChangeBus;
  /** Loses everything stored (Redis: the keys deleted; in-process: a restart) and returns the bus to use now. */
  flush(): Promise<ChangeBus>;
  dispose(): Promise<void>;
}

interface BusHarness {
  name: string;
  open(options?: { maxLength?: number }): Promise<BusFixture>;
}

const memoryHarness: BusHarness = {
  name: 'MemoryBus',
  async open(options = {}) {
    let bus: ChangeBus = new MemoryBus({ maxLength: options.maxLength });
    return {
      bus,
      peer: () => bus,
      async flush() {
        await bus.close();
        bus = new MemoryBus({ maxLength: options.maxLength });
        return bus;
      },
      dispose: () => bus.close(),
    };
  },
};

const redisHarness: BusHarness = {
  name: 'RedisBus',
  async open(options = {}) {
    const redis = createTestRedisPrefix();
    const make = (): ChangeBus =>
      createRedisBus({ url: redis.url, prefix: redis.prefix, streamMaxLength: options.maxLength });
    const buses = [make()];
    return {
      bus: buses[0]!,
      peer() {
        const bus = make();
        buses.push(bus);
        return bus;
      },
      async flush() {
        await redis.cleanup();
        return buses[0]!;
      },
      async dispose() {
        await Promise.all(buses.map((b) => b.close()));
        await redis.cleanup();
      },
    };
  },
};

const clusterHarness: BusHarness = {
  name: 'RedisBus on Redis Cluster',
  async open(options = {}) {
    const redis = await createClusterTestPrefix();
    const make = (): ChangeBus => createRedisBus({ target: redis.target, prefix: redis.prefix, streamMaxLength: options.maxLength });
    const buses = [make()];
    return {
      bus: buses[0]!,
      peer() {
        const bus = make();
        buses.push(bus);
        return bus;
      },
      async flush() {
        await redis.cleanup();
        return buses[0]!;
      },
      async dispose() {
        await Promise.all(buses.map((b) => b.close()));
        await redis.cleanup();
      },
    };
  },
};

after(() => stopSharedCluster());

function customer(id: string, version = 1): CustomerConfig {
  return {
    id,
    name: `Customer ${id}`,
    originUrl: `https://origin.${id}.example`,
    domains: [`cdn.${id}.example`],
    cacheTtl: 60,
    basicAuth: null,
    version,
    updatedAt: '2026-11-01T00:00:00.000Z',
  };
}

/** A linked chain over the given seqs (holes allowed, as after rolled-back transactions). */
function chain(seqs: number[], prevSeq = 0): Change[] {
  return seqs.map((seq, i) => ({
    seq,
    prevSeq: i === 0 ? prevSeq : seqs[i - 1]!,
    at: new Date(Date.UTC(2026, 10, 1, 0, 0, seq)).toISOString(),
    event: { kind: 'customer.upserted', v: 1, customer: customer(`c${seq}`, seq) },
  }));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function snapshotAt(seq: number, customerIds: string[] = []): Snapshot {
  return { v: 1, seq, takenAt: '2026-11-01T00:00:00.000Z', customers: customerIds.map((id) => customer(id)) };
}

function seqsOf(result: ReadResult): number[] {
  assert.equal(result.kind, 'changes', `expected changes, got ${JSON.stringify(result)}`);
  return result.kind === 'changes' ? result.changes.map((c) => c.seq) : [];
}

function busContract(harness: BusHarness): void {
  describe(`ChangeBus contract: ${harness.name}`, () => {
    const test = fixtureTest<BusFixture, { maxLength?: number }>((options) => harness.open(options));

    test('an empty bus has nothing, and read(0) waits out blockMs then answers no changes', async ({ bus }) => {
      assert.equal(await bus.publishedSeq(), null);
      assert.equal(await bus.readSnapshot(), null);
      const { value, ms } = await timed(bus.read(0, { blockMs: 150 }));
      assert.deepEqual(value, { kind: 'changes', changes: [] });
      assert.ok(ms >= 120, `read returned after ${ms.toFixed(0)} ms, before blockMs`);
    });

    test('published changes read back in order, linked by prevSeq across seq holes', async ({ bus }) => {
      const changes = chain([1, 2, 4, 7, 8]);
      await bus.publish(changes, snapshotAt(8, ['c1']));
      assert.equal(await bus.publishedSeq(), 8);
      const all = await bus.read(0, { blockMs: 1000 });
      assert.deepEqual(all, { kind: 'changes', changes });
      assert.deepEqual(seqsOf(await bus.read(4, { blockMs: 1000 })), [7, 8]);
      assert.deepEqual(await bus.read(8, { blockMs: 30 }), { kind: 'changes', changes: [] });
    });

    test('a reader gets copies: mutating what it read changes nothing stored', async ({ bus }) => {
      await bus.publish(chain([1]), snapshotAt(1, ['a']));
      const first = await bus.read(0, { blockMs: 0 });
      assert.equal(first.kind, 'changes');
      if (first.kind === 'changes') first.changes[0]!.seq = 99;
      (await bus.readSnapshot())!.customers.pop();
      assert.deepEqual(seqsOf(await bus.read(0, { blockMs: 0 })), [1]);
      assert.equal((await bus.readSnapshot())!.customers.length, 1);
    });

    test('publishing already-published seqs is a no-op for them, and an older snapshot never wins', async ({ bus }) => {
      await bus.publish(chain([1, 2, 3]), snapshotAt(3, ['a']));
      await bus.publish(chain([2, 3, 4], 1), snapshotAt(4, ['a', 'b']));
      assert.deepEqual(seqsOf(await bus.read(0, { blockMs: 0 })), [1, 2, 3, 4]);
      // A slower relay finishing late with the first batch.
      await bus.publish(chain([1, 2, 3]), snapshotAt(3, ['a']));
      assert.deepEqual(seqsOf(await bus.read(0, { blockMs: 0 })), [1, 2, 3, 4]);
      assert.equal(await bus.publishedSeq(), 4);
      assert.equal((await bus.readSnapshot())!.seq, 4);
      assert.equal((await bus.readSnapshot())!.customers.length, 2);
    });

    test('two relays racing with the same batches publish each change once', async (fx) => {
      const other = fx.peer();
      const batches = [chain(range(1, 5)), chain(range(6, 10), 5), chain(range(11, 15), 10)];
      for (const batch of batches) {
        const snapshot = snapshotAt(batch[batch.length - 1]!.seq);
        await Promise.all([fx.bus.publish(batch, snapshot), other.publish(batch, snapshot)]);
      }
      assert.deepEqual(seqsOf(await fx.bus.read(0, { blockMs: 0 })), range(1, 15));
      assert.equal(await other.publishedSeq(), 15);
    });

    test('the snapshot moves with the changes: a reader never sees one without the other', async (fx) => {
      const last = 100;
      await fx.bus.publish(chain([1]), snapshotAt(1, ['c1']));
      let publishing = true;
      const publisher = (async () => {
        for (let seq = 2; seq <= last; seq += 1) {
          await fx.bus.publish(chain([seq], seq - 1), snapshotAt(seq, range(1, seq).map((s) => `c${s}`)));
        }
        publishing = false;
      })();
      // Several readers on their own connections, to land between the steps of a publish
      // that was not atomic.
      const watch = async (reader: ChangeBus): Promise<number> => {
        let checks = 0;
        while (publishing || checks === 0) {
          const published = (await reader.publishedSeq())!;
          const snapshot = (await reader.readSnapshot())!;
          assert.equal(snapshot.customers.length, snapshot.seq);
          assert.ok(snapshot.seq >= published, `snapshot ${snapshot.seq} behind published ${published}`);
          // Had the snapshot landed before its changes, this consumer would look "ahead".
          const next = await reader.read(snapshot.seq, { blockMs: 0 });
          assert.equal(next.kind, 'changes', `gap right after snapshot ${snapshot.seq}`);
          checks += 1;
        }
        return checks;
      };
      const checks = await Promise.all([1, 2, 3, 4].map(() => watch(fx.peer())));
      await publisher;
      assert.ok(checks.every((n) => n > 0));
      assert.equal((await fx.bus.readSnapshot())!.seq, last);
      assert.equal(await fx.bus.publishedSeq(), last);
    });

    test('a blocked read wakes as soon as a change is published', async (fx) => {
      await fx.bus.publish(chain([1, 2, 3]), snapshotAt(3));
      const reader = fx.peer();
      const pending = timed(reader.read(3, { blockMs: 5000 }));
      await sleep(100);
      await fx.bus.publish(chain([4], 3), snapshotAt(4));
      const { value, ms } = await pending;
      assert.deepEqual(seqsOf(value), [4]);
      assert.ok(ms < 1500, `woke after ${ms.toFixed(0)} ms`);
    });

    test(
      'trimming beyond maxLength makes a consumer behind the trimmed part get gap',
      async ({ bus }) => {
        for (let from = 1; from <= 250; from += 50) {
          await bus.publish(chain(range(from, from + 49), from - 1), snapshotAt(from + 49));
        }
        assert.deepEqual(await bus.read(0, { blockMs: 1000 }), { kind: 'gap', publishedSeq: 250 });
        assert.deepEqual(await bus.read(100, { blockMs: 1000 }), { kind: 'gap', publishedSeq: 250 });
        assert.deepEqual(seqsOf(await bus.read(245, { blockMs: 1000 })), [246, 247, 248, 249, 250]);
      },
      { maxLength: 10 },
    );

    test('a consumer ahead of the bus gets gap at once, without waiting', async ({ bus }) => {
      await bus.publish(chain([1, 2, 3]), snapshotAt(3));
      const { value, ms } = await timed(bus.read(10, { blockMs: 3000 }));
      assert.deepEqual(value, { kind: 'gap', publishedSeq: 3 });
      assert.ok(ms < 1000, `answered after ${ms.toFixed(0)} ms`);
    });

    test('after a flush, a consumer at N gets gap, also once only a snapshot at M is republished', async (fx) => {
      await fx.bus.publish(chain(range(1, 5)), snapshotAt(5, ['a']));
      const bus = await fx.flush();
      assert.equal(await bus.publishedSeq(), null);
      assert.equal(await bus.readSnapshot(), null);
      assert.deepEqual(await bus.read(5, { blockMs: 50 }), { kind: 'gap', publishedSeq: 0 });

      await bus.publish([], snapshotAt(9, ['a', 'b']));
      assert.equal(await bus.publishedSeq(), 9);
      assert.equal((await bus.readSnapshot())!.seq, 9);
      assert.deepEqual(await bus.read(5, { blockMs: 50 }), { kind: 'gap', publishedSeq: 9 });
      assert.deepEqual(await bus.read(0, { blockMs: 50 }), { kind: 'gap', publishedSeq: 9 });
      // Reloaded from the snapshot, the consumer follows the chain again.
      assert.deepEqual(await bus.read(9, { blockMs: 50 }), { kind: 'changes', changes: [] });
      await bus.publish(chain([10], 9), snapshotAt(10));
      assert.deepEqual(seqsOf(await bus.read(9, { blockMs: 1000 })), [10]);
    });

    test('a blocked consumer gets gap when a snapshot jumps past it without its changes', async (fx) => {
      await fx.bus.publish(chain(range(1, 5)), snapshotAt(5));
      const pending = fx.peer().read(5, { blockMs: 400 });
      await sleep(50);
      await fx.bus.publish([], snapshotAt(9));
      assert.deepEqual(await pending, { kind: 'gap', publishedSeq: 9 });
    });

    test('a break in the chain ends the answer there; the next read reports the gap', async ({ bus }) => {
      await bus.publish(chain([1, 2]), snapshotAt(2));
      await bus.publish(chain([5], 4), snapshotAt(5));
      assert.deepEqual(seqsOf(await bus.read(0, { blockMs: 0 })), [1, 2]);
      assert.deepEqual(await bus.read(2, { blockMs: 0 }), { kind: 'gap', publishedSeq: 5 });
      assert.deepEqual(seqsOf(await bus.read(4, { blockMs: 0 })), [5]);
    });

    test('close() makes a pending blocked read answer no changes promptly; later calls reject', async ({ bus }) => {
      const pending = timed(bus.read(0, { blockMs: 10_000 }));
      await sleep(100);
      await bus.close();
      const { value, ms } = await pending;
      assert.deepEqual(value, { kind: 'changes', changes: [] });
      assert.ok(ms < 1500, `answered ${ms.toFixed(0)} ms after the read began`);
      await assert.rejects(bus.read(0, { blockMs: 10 }), /closed/);
      await assert.rejects(bus.publish([], snapshotAt(1)), /closed/);
    });

    test('count limits each answer, and batches chain from one to the next', async ({ bus }) => {
      await bus.publish(chain(range(1, 10)), snapshotAt(10));
      const batches: number[][] = [];
      let after = 0;
      while (after < 10) {
        const seqs = seqsOf(await bus.read(after, { blockMs: 1000, count: 3 }));
        batches.push(seqs);
        after = seqs[seqs.length - 1]!;
      }
      assert.deepEqual(batches, [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]);
    });

    test('a batch that is out of order, unlinked or newer than its snapshot is refused whole', async ({ bus }) => {
      await assert.rejects(bus.publish([...chain([1]), ...chain([3], 2)], snapshotAt(3)), /links to 2 but follows 1/);
      await assert.rejects(bus.publish(chain([1, 2]), snapshotAt(1)), /older than the last change/);
      await assert.rejects(bus.publish(chain([2], 2), snapshotAt(2)), /must be below its seq/);
      assert.equal(await bus.publishedSeq(), null);
      assert.equal(await bus.readSnapshot(), null);
    });
  });
}

busContract(memoryHarness);
busContract(redisHarness);
busContract(clusterHarness);

describe('RedisBus while Redis is unreachable', () => {
  it('rejects reads and publishes within a few seconds instead of hanging', async () => {
    // Port 1 refuses connections: a Redis that is down.
    const bus = createRedisBus({ url: 'redis://127.0.0.1:1', prefix: 'edgeplane_unreachable:' });
    try {
      const read = await timed(bus.read(0, { blockMs: 100 }).then(() => 'resolved', (err: Error) => err));
      assert.ok(read.value instanceof Error, `read ${String(read.value)}`);
      assert.ok(read.ms < 5000, `read failed after ${read.ms.toFixed(0)} ms`);
      await assert.rejects(bus.publish(chain([1]), snapshotAt(1)));
    } finally {
      const closing = await timed(bus.close());
      assert.ok(closing.ms < 1000, `close took ${closing.ms.toFixed(0)} ms`);
    }
  });
});
