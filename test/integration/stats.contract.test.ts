/**
 * The StatsChannel contract (src/core/stats.port.ts), one suite run against every
 * implementation: the in-process MemoryStatsChannel, and the Redis stream on a real Redis
 * and on a three-master Redis Cluster (started here), each test under its own key prefix. Then what only the Redis one can meet: entries
 * written behind its back and its key layout.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { ORIGIN_LATENCY_BUCKETS_MS, type EdgeStatsReport, type StatsChannel } from '../../src/core/stats.port';
import type { Logger } from '../../src/obs/logger.factory';
import { MemoryStatsChannel } from '../../src/bus/memory-stats';
import { createRedisStats } from '../../src/bus/redis-stats';
import { fixtureTest, timed } from '../support/contract';
import { clusterTestTarget, serverTestTarget, stopSharedCluster, type TestRedisTarget } from '../support/redis-ha';
import { createTestRedisPrefix } from '../support/services';

interface StatsFixture {
  channel: StatsChannel;
  /** Another handle on the same storage (another process, for Redis). */
  peer(): StatsChannel;
  /** Lets `ms` pass for retention (in-process: the injected clock moves; Redis: real time). */
  elapse(ms: number): Promise<void>;
  /** The channel's clock now, in epoch ms. */
  now(): Promise<number>;
  dispose(): Promise<void>;
}

interface StatsHarness {
  name: string;
  open(options?: { retentionMs?: number }): Promise<StatsFixture>;
}

const memoryHarness: StatsHarness = {
  name: 'MemoryStatsChannel',
  async open(options = {}) {
    let offset = 0;
    const now = () => Date.now() + offset;
    const channel = new MemoryStatsChannel({ retentionMs: options.retentionMs, now });
    return {
      channel,
      peer: () => channel,
      async elapse(ms) {
        offset += ms;
      },
      now: async () => now(),
      dispose: () => channel.close(),
    };
  },
};

const redisHarness = (name: string, connect: () => Promise<TestRedisTarget>): StatsHarness => ({
  name,
  async open(options = {}) {
    const redis = await connect();
    const make = (): StatsChannel => createRedisStats({ ...redis.where, prefix: redis.prefix, retentionMs: options.retentionMs });
    const channels = [make()];
    const client = new Redis(redis.nodeUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    return {
      channel: channels[0]!,
      peer() {
        const channel = make();
        channels.push(channel);
        return channel;
      },
      elapse: (ms) => sleep(ms),
      async now() {
        const [seconds, micros] = await client.time();
        return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      },
      async dispose() {
        await Promise.all(channels.map((c) => c.close()));
        client.disconnect();
        await redis.cleanup();
      },
    };
  },
});

function reportOf(i: number, edgeId = 'edge-a'): EdgeStatsReport {
  const buckets = new Array<number>(ORIGIN_LATENCY_BUCKETS_MS.length + 1).fill(0);
  buckets[i % buckets.length] = 2;
  return {
    edgeId,
    at: new Date(Date.UTC(2026, 10, 1, 0, 0, i)).toISOString(),
    intervalMs: 1000,
    customers: [
      {
        customerId: 'customer-a',
        requests: i,
        results: { HIT: i, MISS: 2 },
        serverErrors: 1,
        bytesSent: 1000 * i,
        originResponses: 2,
        originErrors: 0,
        originLatencyBuckets: buckets,
      },
    ],
  };
}

function numbersOf(reports: EdgeStatsReport[]): number[] {
  return reports.map((r) => r.customers[0]!.requests);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function statsContract(harness: StatsHarness): void {
  describe(`StatsChannel contract: ${harness.name}`, () => {
    const test = fixtureTest<StatsFixture, { retentionMs?: number }>((options) => harness.open(options));

    test('an empty channel: since answers nothing, and read waits out blockMs then answers nothing', async ({ channel }) => {
      assert.deepEqual(await channel.since(0), []);
      const { value, ms } = await timed(channel.read('0', { blockMs: 150 }));
      assert.deepEqual(value.reports, []);
      assert.ok(ms >= 120, `read returned after ${ms.toFixed(0)} ms, before blockMs`);
    });

    test('reports read back from "0" in publish order, exactly, and the cursor continues after them', async (fx) => {
      const other = fx.peer();
      await fx.channel.publish(reportOf(1));
      await other.publish(reportOf(2, 'edge-b'));
      await fx.channel.publish(reportOf(3));
      const read = await fx.channel.read('0', { blockMs: 1000 });
      assert.deepEqual(read.reports, [reportOf(1), reportOf(2, 'edge-b'), reportOf(3)]);
      assert.deepEqual(await fx.channel.read(read.cursor, { blockMs: 30 }), { cursor: read.cursor, reports: [] });
      await fx.channel.publish(reportOf(4));
      const next = await fx.channel.read(read.cursor, { blockMs: 1000 });
      assert.deepEqual(next.reports, [reportOf(4)]);
      assert.notEqual(next.cursor, read.cursor);
    });

    test('count bounds one answer; reading on with the cursor misses none and repeats none', async ({ channel }) => {
      for (const i of range(1, 25)) await channel.publish(reportOf(i));
      const seen: number[] = [];
      let cursor = '0';
      for (;;) {
        const answer = await channel.read(cursor, { blockMs: 0, count: 10 });
        if (answer.reports.length === 0) break;
        assert.ok(answer.reports.length <= 10);
        seen.push(...numbersOf(answer.reports));
        cursor = answer.cursor;
      }
      assert.deepEqual(seen, range(1, 25));
    });

    test('"$" skips what is there, and the concrete cursor it returns misses nothing after', async ({ channel }) => {
      await channel.publish(reportOf(1));
      const start = await channel.read('$', { blockMs: 0 });
      assert.deepEqual(start.reports, []);
      assert.notEqual(start.cursor, '$');
      await channel.publish(reportOf(2));
      await channel.publish(reportOf(3));
      assert.deepEqual(numbersOf((await channel.read(start.cursor, { blockMs: 1000 })).reports), [2, 3]);
    });

    test('a blocked read (from "$" or a cursor) wakes as soon as a report is published', async (fx) => {
      const pending = timed(fx.peer().read('$', { blockMs: 5000 }));
      await sleep(100);
      await fx.channel.publish(reportOf(7));
      const { value, ms } = await pending;
      assert.deepEqual(value.reports, [reportOf(7)]);
      assert.ok(ms < 1500, `woke after ${ms.toFixed(0)} ms`);

      const again = timed(fx.peer().read(value.cursor, { blockMs: 5000 }));
      await sleep(100);
      await fx.channel.publish(reportOf(8));
      assert.deepEqual((await again).value.reports, [reportOf(8)]);
    });

    test('since(t) answers the reports published at or after t by the channel clock, oldest first', async (fx) => {
      await fx.channel.publish(reportOf(1));
      await fx.channel.publish(reportOf(2));
      await fx.elapse(50);
      const middle = await fx.now();
      await fx.elapse(50);
      await fx.channel.publish(reportOf(3));
      await fx.peer().publish(reportOf(4, 'edge-b'));
      assert.deepEqual(await fx.channel.since(middle), [reportOf(3), reportOf(4, 'edge-b')]);
      assert.deepEqual(numbersOf(await fx.channel.since(0)), [1, 2, 3, 4]);
      assert.deepEqual(await fx.channel.since((await fx.now()) + 60_000), []);
    });

    test(
      'reports older than the retention are gone from since and from a read from "0"',
      async (fx) => {
        await fx.channel.publish(reportOf(1));
        await fx.channel.publish(reportOf(2));
        await fx.elapse(400);
        await fx.channel.publish(reportOf(3));
        assert.deepEqual(numbersOf(await fx.channel.since(0)), [3]);
        assert.deepEqual(numbersOf((await fx.channel.read('0', { blockMs: 0 })).reports), [3]);
        // Without any publish, age alone hides them from since.
        await fx.elapse(400);
        assert.deepEqual(await fx.channel.since(0), []);
      },
      { retentionMs: 300 },
    );

    test('a reader gets copies: mutating what it read or published changes nothing stored', async ({ channel }) => {
      const sent = reportOf(1);
      await channel.publish(sent);
      sent.customers[0]!.requests = 99;
      (await channel.since(0))[0]!.edgeId = 'changed';
      assert.deepEqual(await channel.since(0), [reportOf(1)]);
    });

    test('close() makes a pending blocked read answer nothing promptly; later calls reject', async ({ channel }) => {
      await channel.publish(reportOf(1));
      const { cursor } = await channel.read('0', { blockMs: 0 });
      const pending = timed(channel.read(cursor, { blockMs: 10_000 }));
      await sleep(100);
      await channel.close();
      const { value, ms } = await pending;
      assert.deepEqual(value, { cursor, reports: [] });
      assert.ok(ms < 1500, `answered ${ms.toFixed(0)} ms after the read began`);
      await assert.rejects(channel.read(cursor, { blockMs: 10 }), /closed/);
      await assert.rejects(channel.publish(reportOf(2)), /closed/);
      await assert.rejects(channel.since(0), /closed/);
    });

    test('a malformed report, a bad cursor or count is refused and stores nothing', async ({ channel }) => {
      const bad: [string, unknown][] = [
        ['no edgeId', { ...reportOf(1), edgeId: '' }],
        ['a bad time', { ...reportOf(1), at: 'yesterday' }],
        ['NaN requests', { ...reportOf(1), customers: [{ ...reportOf(1).customers[0], requests: Number.NaN }] }],
        ['short buckets', { ...reportOf(1), customers: [{ ...reportOf(1).customers[0], originLatencyBuckets: [1, 2] }] }],
        ['unknown result', { ...reportOf(1), customers: [{ ...reportOf(1).customers[0], results: { WARM: 1 } }] }],
      ];
      for (const [what, report] of bad) {
        await assert.rejects(channel.publish(report as EdgeStatsReport), TypeError, what);
      }
      await assert.rejects(channel.read('yesterday', { blockMs: 0 }), /cursor/);
      await assert.rejects(channel.read('0', { blockMs: 0, count: 0 }), /count/);
      assert.deepEqual(await channel.since(0), []);
    });
  });
}

statsContract(memoryHarness);
statsContract(redisHarness('RedisStatsChannel', serverTestTarget));
statsContract(redisHarness('RedisStatsChannel on Redis Cluster', clusterTestTarget));

after(() => stopSharedCluster());

describe('RedisStatsChannel: storage written behind its back, and its key layout', () => {
  it('one stream <prefix>stats with field r; malformed entries are logged and skipped; the key expires', async () => {
    const redis = createTestRedisPrefix();
    const warnings: unknown[] = [];
    const logger = { warn: (obj: unknown) => warnings.push(obj) } as unknown as Logger;
    const channel = createRedisStats({ url: redis.url, prefix: redis.prefix, logger, retentionMs: 60_000 });
    const client = new Redis(redis.url);
    try {
      await channel.publish(reportOf(1));
      await client.xadd(`${redis.prefix}stats`, '*', 'r', 'not json');
      await client.xadd(`${redis.prefix}stats`, '*', 'x', '{}');
      await channel.publish(reportOf(2));
      const entries = await client.xrange(`${redis.prefix}stats`, '-', '+');
      assert.equal(entries.length, 4);
      assert.deepEqual(JSON.parse(entries[0]![1][1]!), reportOf(1));
      const read = await channel.read('0', { blockMs: 0 });
      assert.deepEqual(numbersOf(read.reports), [1, 2]);
      assert.equal(read.cursor, entries[3]![0]);
      assert.deepEqual(numbersOf(await channel.since(0)), [1, 2]);
      assert.equal(warnings.length, 4);
      const ttl = await client.pttl(`${redis.prefix}stats`);
      assert.ok(ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);
    } finally {
      await channel.close();
      client.disconnect();
      await redis.cleanup();
    }
  });
});
