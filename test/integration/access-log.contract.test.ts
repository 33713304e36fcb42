/**
 * The AccessLogChannel contract (src/core/access-log.port.ts), one suite run against every
 * implementation: the in-process MemoryAccessLogChannel, and Redis on a real server and on a
 * three-master Redis Cluster, each test under its own key prefix. Then what only the Redis one
 * can meet: entries written behind its back, and its key layout.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import type { AccessLogBatch, AccessLogChannel, AccessLogRecord } from '../../src/core/access-log.port';
import { matchesAccessLogFilter } from '../../src/core/access-log.port';
import type { Logger } from '../../src/obs/logger.factory';
import { MemoryAccessLogChannel } from '../../src/bus/memory-access-log';
import { createRedisAccessLog } from '../../src/bus/redis-access-log';
import { fixtureTest, timed } from '../support/contract';
import { clusterTestTarget, serverTestTarget, stopSharedCluster, type TestRedisTarget } from '../support/redis-ha';
import { createTestRedisPrefix } from '../support/services';

interface Fixture {
  channel: AccessLogChannel;
  /** Another handle on the same storage (another process, for Redis). */
  peer(): AccessLogChannel;
  /** Lets `ms` pass for interests (in-process: the injected clock moves; Redis: real time). */
  elapse(ms: number): Promise<void>;
  dispose(): Promise<void>;
}

interface Harness {
  name: string;
  open(options?: { maxBatches?: number }): Promise<Fixture>;
}

const memoryHarness: Harness = {
  name: 'MemoryAccessLogChannel',
  async open(options = {}) {
    let offset = 0;
    const channel = new MemoryAccessLogChannel({ maxBatches: options.maxBatches, now: () => Date.now() + offset });
    return {
      channel,
      peer: () => channel,
      async elapse(ms) {
        offset += ms;
      },
      dispose: () => channel.close(),
    };
  },
};

const redisHarness = (name: string, connect: () => Promise<TestRedisTarget>): Harness => ({
  name,
  async open(options = {}) {
    const redis = await connect();
    const make = (): AccessLogChannel => createRedisAccessLog({ ...redis.where, prefix: redis.prefix, maxBatches: options.maxBatches });
    const channels = [make()];
    return {
      channel: channels[0]!,
      peer() {
        const channel = make();
        channels.push(channel);
        return channel;
      },
      elapse: (ms) => sleep(ms),
      async dispose() {
        await Promise.all(channels.map((c) => c.close()));
        await redis.cleanup();
      },
    };
  },
});

function record(customer: string, path: string, status = 200, cache: AccessLogRecord['cache'] = 'HIT'): AccessLogRecord {
  return { time: '2026-12-07T05:00:00.000Z', edge: 'edge-a', customer, client: '192.0.2.1', method: 'GET', host: 'cdn.a.test', path, status, bytes: 10, cache, ms: 0.2, transport: 'http' };
}

function batchOf(i: number, edgeId = 'edge-a'): AccessLogBatch {
  return { edgeId, at: new Date(Date.UTC(2026, 11, 7, 5, 0, i)).toISOString(), customers: [{ customerId: 'customer-a', records: [record('customer-a', `/${i}`)], skipped: i }] };
}

function accessLogContract(harness: Harness): void {
  describe(`AccessLogChannel contract: ${harness.name}`, () => {
    const test = fixtureTest<Fixture, { maxBatches?: number }>((options) => harness.open(options));

    test('nobody tails: tailed() is empty, and a read waits out blockMs then answers nothing', async ({ channel }) => {
      assert.deepEqual(await channel.tailed(), []);
      const { value, ms } = await timed(channel.read('$', { blockMs: 150 }));
      assert.deepEqual(value.batches, []);
      assert.ok(ms >= 120, `read returned after ${ms.toFixed(0)} ms, before blockMs`);
    });

    test('an interest is seen by every process until its ttl ends; renewing extends it, never shortens it', async (fx) => {
      const edge = fx.peer();
      await fx.channel.markTailed(['customer-a', 'customer-b'], 400);
      assert.deepEqual((await edge.tailed()).sort(), ['customer-a', 'customer-b']);
      await fx.channel.markTailed(['customer-a'], 5000);
      await fx.channel.markTailed(['customer-a'], 100);
      await fx.elapse(600);
      assert.deepEqual(await edge.tailed(), ['customer-a'], 'b ended; a kept its longer ttl');
    });

    test('batches read back in publish order from "0", exactly; "$" skips what is already there; the cursor continues', async (fx) => {
      const other = fx.peer();
      await fx.channel.publish(batchOf(1));
      await other.publish(batchOf(2, 'edge-b'));
      const fromStart = await fx.channel.read('0', { blockMs: 1000 });
      assert.deepEqual(fromStart.batches, [batchOf(1), batchOf(2, 'edge-b')]);
      const live = await fx.channel.read('$', { blockMs: 0 });
      assert.deepEqual(live.batches, []);
      const waiting = fx.channel.read(live.cursor, { blockMs: 2000 });
      await sleep(50);
      await other.publish(batchOf(3));
      const woke = await waiting;
      assert.deepEqual(woke.batches, [batchOf(3)], 'a blocked read wakes for a new batch');
      assert.deepEqual((await fx.channel.read(woke.cursor, { blockMs: 0 })).batches, []);
    });

    test('bounded: only about the last maxBatches are kept, a reader behind continues from the oldest kept', async ({ channel }) => {
      for (let i = 1; i <= 300; i += 1) await channel.publish(batchOf(i));
      const all = await channel.read('0', { blockMs: 0, count: 1000 });
      // Redis trims with MAXLEN ~ (whole nodes of the stream): at least 100 kept, far fewer than 300.
      assert.ok(all.batches.length >= 100 && all.batches.length < 300, `kept ${all.batches.length}`);
      assert.equal(all.batches[all.batches.length - 1]!.customers[0]!.skipped, 300);
    }, { maxBatches: 100 });

    test('a malformed batch, a bad cursor, count or ttl is refused and stores nothing', async ({ channel }) => {
      const bad: [string, unknown][] = [
        ['no edgeId', { ...batchOf(1), edgeId: '' }],
        ['a bad time', { ...batchOf(1), at: 'yesterday' }],
        ['negative skipped', { ...batchOf(1), customers: [{ ...batchOf(1).customers[0], skipped: -1 }] }],
        ['another customer\'s record', { ...batchOf(1), customers: [{ customerId: 'customer-a', records: [record('customer-b', '/x')], skipped: 0 }] }],
      ];
      for (const [what, batch] of bad) await assert.rejects(channel.publish(batch as AccessLogBatch), TypeError, what);
      await assert.rejects(channel.read('yesterday', { blockMs: 0 }), /cursor/);
      await assert.rejects(channel.read('0', { blockMs: 0, count: 0 }), /count/);
      await assert.rejects(channel.markTailed(['customer-a'], 0), /ttlMs/);
      await assert.rejects(channel.markTailed([''], 1000), TypeError);
      assert.deepEqual((await channel.read('0', { blockMs: 0 })).batches, []);
      assert.deepEqual(await channel.tailed(), []);
    });
  });
}

accessLogContract(memoryHarness);
accessLogContract(redisHarness('RedisAccessLogChannel', serverTestTarget));
accessLogContract(redisHarness('RedisAccessLogChannel on Redis Cluster', clusterTestTarget));

after(() => stopSharedCluster());

describe('RedisAccessLogChannel: storage written behind its back, and its key layout', () => {
  it('<prefix>log-tail is a sorted set scored by the end of each interest; <prefix>access-log a stream with field l, malformed entries logged and skipped', async () => {
    const redis = createTestRedisPrefix();
    const warnings: unknown[] = [];
    const logger = { warn: (obj: unknown) => warnings.push(obj) } as unknown as Logger;
    const channel = createRedisAccessLog({ url: redis.url, prefix: redis.prefix, logger });
    const client = new Redis(redis.url);
    try {
      await channel.markTailed(['customer-a'], 10_000);
      const [member, score] = await client.zrange(`${redis.prefix}log-tail`, 0, -1, 'WITHSCORES');
      assert.equal(member, 'customer-a');
      assert.ok(Math.abs(Number(score) - (Date.now() + 10_000)) < 2000, `score ${score} is the interest's end`);
      const ttl = await client.pttl(`${redis.prefix}log-tail`);
      assert.ok(ttl > 5000 && ttl <= 10_000, `the set expires with its interests (${ttl})`);
      await channel.publish(batchOf(1));
      await client.xadd(`${redis.prefix}access-log`, '*', 'l', 'not json');
      await client.xadd(`${redis.prefix}access-log`, '*', 'l', JSON.stringify({ ...batchOf(2), edgeId: '' }));
      await channel.publish(batchOf(3));
      const read = await channel.read('0', { blockMs: 0 });
      assert.deepEqual(read.batches, [batchOf(1), batchOf(3)]);
      assert.equal(warnings.length, 2);
      assert.ok((await client.pttl(`${redis.prefix}access-log`)) <= 60_000, 'the stream expires a minute after the last publish');
    } finally {
      await channel.close();
      client.disconnect();
      await redis.cleanup();
    }
  });
});

describe('matchesAccessLogFilter', () => {
  it('status classes or codes (either matches), a path prefix, cache results; an empty filter keeps everything', () => {
    const r = record('customer-a', '/img/a.png', 404, 'MISS');
    assert.equal(matchesAccessLogFilter(r, {}), true);
    assert.equal(matchesAccessLogFilter(r, { statusClasses: [4] }), true);
    assert.equal(matchesAccessLogFilter(r, { statusClasses: [5] }), false);
    assert.equal(matchesAccessLogFilter(r, { statusClasses: [5], statuses: [404] }), true);
    assert.equal(matchesAccessLogFilter(r, { pathPrefix: '/img/' }), true);
    assert.equal(matchesAccessLogFilter(r, { pathPrefix: '/css/' }), false);
    assert.equal(matchesAccessLogFilter(r, { cacheResults: ['HIT', 'MISS'] }), true);
    assert.equal(matchesAccessLogFilter(r, { cacheResults: ['HIT'] }), false);
  });
});
