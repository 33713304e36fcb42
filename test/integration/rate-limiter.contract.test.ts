/**
 * The RateLimiter contract (src/core/rate-limit.port.ts), one suite run against every
 * implementation: the in-process MemoryRateLimiter (injected clock) and the Redis one on a
 * real Redis and on a three-master Redis Cluster started here (real time, its own key prefix
 * per test). Then what only each can show: the
 * in-process memory bound; the Redis key layout, expiry and Redis being down.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import type { RateLimiter } from '../../src/core/rate-limit.port';
import { MemoryRateLimiter } from '../../src/bus/memory-rate-limiter';
import { createRedisRateLimiter } from '../../src/bus/redis-rate-limiter';
import { fixtureTest } from '../support/contract';
import { clusterTestTarget, serverTestTarget, stopSharedCluster, type TestRedisTarget } from '../support/redis-ha';
import { createTestRedisPrefix } from '../support/services';

interface LimiterFixture {
  limiter: RateLimiter;
  /** Another handle on the same storage (another api process, for Redis). */
  peer(): RateLimiter;
  /** Lets `ms` pass (in-process: the injected clock moves; Redis: real time). */
  elapse(ms: number): Promise<void>;
  dispose(): Promise<void>;
}

interface LimiterHarness {
  name: string;
  /** How late a real-time decision may be (Redis: the time between two calls). */
  slackMs: number;
  open(): Promise<LimiterFixture>;
}

const memoryHarness: LimiterHarness = {
  name: 'MemoryRateLimiter',
  slackMs: 0,
  async open() {
    let offset = 0;
    const limiter = new MemoryRateLimiter({ now: () => 1_800_000_000_000 + offset });
    return {
      limiter,
      peer: () => limiter,
      async elapse(ms) {
        offset += ms;
      },
      dispose: () => limiter.close(),
    };
  },
};

const redisHarness = (name: string, connect: () => Promise<TestRedisTarget>): LimiterHarness => ({
  name,
  slackMs: 250,
  async open() {
    const redis = await connect();
    const limiters = [createRedisRateLimiter({ ...redis.where, prefix: redis.prefix })];
    return {
      limiter: limiters[0]!,
      peer() {
        const limiter = createRedisRateLimiter({ ...redis.where, prefix: redis.prefix });
        limiters.push(limiter);
        return limiter;
      },
      elapse: (ms) => sleep(ms),
      async dispose() {
        await Promise.all(limiters.map((l) => l.close()));
        await redis.cleanup();
      },
    };
  },
});

after(() => stopSharedCluster());

function limiterContract(harness: LimiterHarness): void {
  describe(`RateLimiter contract: ${harness.name}`, () => {
    const test = fixtureTest<LimiterFixture, Record<string, never>>(() => harness.open());

    test('a fresh key allows a whole minute of units at once, counting down, then refuses', async ({ limiter }) => {
      const remaining: number[] = [];
      for (let i = 0; i < 5; i++) {
        const d = await limiter.take('caller-a', 1, { perMinute: 5 });
        assert.equal(d.allowed, true, `take ${i + 1} of 5 was refused`);
        assert.equal(d.retryAfterMs, 0);
        remaining.push(d.remaining);
      }
      assert.deepEqual(remaining, [4, 3, 2, 1, 0]);
      const refused = await limiter.take('caller-a', 1, { perMinute: 5 });
      assert.equal(refused.allowed, false);
      assert.equal(refused.remaining, 0);
      // One unit comes back every 60000/5 = 12000 ms.
      assert.ok(refused.retryAfterMs > 12_000 - 1_000 - harness.slackMs && refused.retryAfterMs <= 12_000, `retryAfterMs ${refused.retryAfterMs}`);
    });

    test('a refusal takes nothing: after retryAfterMs exactly one more unit is there', async ({ limiter, elapse }) => {
      const limit = { perMinute: 120 }; // a unit every 500 ms
      assert.equal((await limiter.take('k', 120, limit)).allowed, true);
      const first = await limiter.take('k', 1, limit);
      assert.equal(first.allowed, false);
      // Refused again and again: still only one interval to wait, not more.
      for (let i = 0; i < 5; i++) assert.equal((await limiter.take('k', 1, limit)).allowed, false);
      await elapse(first.retryAfterMs + 10);
      const again = await limiter.take('k', 1, limit);
      assert.equal(again.allowed, true);
      assert.equal(again.remaining, 0);
      assert.equal((await limiter.take('k', 1, limit)).allowed, false);
    });

    test('the budget refills at perMinute per minute, up to perMinute and no more', async ({ limiter, elapse }) => {
      const limit = { perMinute: 1200 }; // a unit every 50 ms
      assert.equal((await limiter.take('k', 1200, limit)).allowed, true);
      assert.equal((await limiter.take('k', 1, limit)).allowed, false);
      await elapse(520); // ten units, a little more for a real clock
      const refilled = await limiter.take('k', 10, limit);
      assert.equal(refilled.allowed, true, `10 units were not back after 520 ms: ${JSON.stringify(refilled)}`);
      assert.equal((await limiter.take('k', 5, limit)).allowed, false);
    });

    test('a cost above 1 takes that many units, and is refused whole when fewer are left', async ({ limiter }) => {
      const limit = { perMinute: 10 };
      assert.deepEqual(await limiter.take('k', 7, limit), { allowed: true, remaining: 3, retryAfterMs: 0 });
      const refused = await limiter.take('k', 4, limit);
      assert.equal(refused.allowed, false);
      // One unit is missing: one interval (6000 ms) to wait.
      assert.ok(refused.retryAfterMs > 5_000 - harness.slackMs && refused.retryAfterMs <= 6_000, `retryAfterMs ${refused.retryAfterMs}`);
      assert.deepEqual(await limiter.take('k', 3, limit), { allowed: true, remaining: 0, retryAfterMs: 0 });
    });

    test('keys have their own budgets', async ({ limiter }) => {
      const limit = { perMinute: 2 };
      assert.equal((await limiter.take('token:a', 2, limit)).allowed, true);
      assert.equal((await limiter.take('token:a', 1, limit)).allowed, false);
      assert.deepEqual(await limiter.take('token:b', 1, limit), { allowed: true, remaining: 1, retryAfterMs: 0 });
    });

    test('another handle on the same storage spends the same budget', async ({ limiter, peer }) => {
      const other = peer();
      const limit = { perMinute: 4 };
      assert.equal((await limiter.take('shared', 2, limit)).allowed, true);
      assert.deepEqual(await other.take('shared', 2, limit), { allowed: true, remaining: 0, retryAfterMs: 0 });
      assert.equal((await limiter.take('shared', 1, limit)).allowed, false);
    });

    test('concurrent takes never hand out more than the budget', async ({ limiter, peer }) => {
      const other = peer();
      const limit = { perMinute: 25 };
      const decisions = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? limiter : other).take('burst', 1, limit)));
      assert.equal(decisions.filter((d) => d.allowed).length, 25);
    });

    test('a bad key, cost or limit is refused with a RangeError naming it', async ({ limiter }) => {
      await assert.rejects(limiter.take('', 1, { perMinute: 5 }), { name: 'RangeError', message: /key/ });
      await assert.rejects(limiter.take('k', 0, { perMinute: 5 }), { name: 'RangeError', message: /cost/ });
      await assert.rejects(limiter.take('k', 1.5, { perMinute: 5 }), { name: 'RangeError', message: /cost/ });
      await assert.rejects(limiter.take('k', 6, { perMinute: 5 }), { name: 'RangeError', message: /cost must be an integer from 1 to perMinute \(5\), got 6/ });
      await assert.rejects(limiter.take('k', 1, { perMinute: 0 }), { name: 'RangeError', message: /perMinute/ });
    });

    test('a closed limiter rejects', async ({ limiter }) => {
      await limiter.close();
      await assert.rejects(limiter.take('k', 1, { perMinute: 5 }), /closed/);
    });
  });
}

limiterContract(memoryHarness);
limiterContract(redisHarness('RedisRateLimiter', serverTestTarget));
limiterContract(redisHarness('RedisRateLimiter on Redis Cluster', clusterTestTarget));

describe('MemoryRateLimiter: bounded memory', () => {
  it('keeps at most maxKeys budgets, forgetting the least recently used', async () => {
    const limiter = new MemoryRateLimiter({ maxKeys: 3 });
    const limit = { perMinute: 1 };
    for (const key of ['a', 'b', 'c', 'd']) assert.equal((await limiter.take(key, 1, limit)).allowed, true);
    assert.equal(limiter.size, 3);
    // 'a' was dropped: its spending is forgotten; 'd' is still spent.
    assert.equal((await limiter.take('a', 1, limit)).allowed, true);
    assert.equal((await limiter.take('d', 1, limit)).allowed, false);
    await limiter.close();
  });
});

describe('RedisRateLimiter: key layout and Redis being down', () => {
  it('keeps one key per budget under the prefix, expiring when the budget is full again', async () => {
    const redis = createTestRedisPrefix();
    const limiter = createRedisRateLimiter({ url: redis.url, prefix: redis.prefix });
    const raw = new Redis(redis.url);
    try {
      await limiter.take('token:abc', 3, { perMinute: 6 }); // three units of 10 s each
      const keys = await raw.keys(`${redis.prefix}*`);
      assert.deepEqual(keys, [`${redis.prefix}rate:token:abc`]);
      const ttl = await raw.pttl(keys[0]!);
      assert.ok(ttl > 29_000 && ttl <= 30_000, `ttl ${ttl} ms, expected about 30 s`);
      const refused = await limiter.take('token:abc', 4, { perMinute: 6 });
      assert.equal(refused.allowed, false);
      assert.ok((await raw.pttl(keys[0]!)) <= ttl, 'a refusal must not extend the key');
    } finally {
      raw.disconnect();
      await limiter.close();
      await redis.cleanup();
    }
  });

  it('rejects within a few seconds while Redis is unreachable', async () => {
    // Port 1 refuses connections: a Redis that is down.
    const limiter = createRedisRateLimiter({ url: 'redis://127.0.0.1:1', prefix: 'edgeplane_unreachable:' });
    try {
      const started = Date.now();
      await assert.rejects(limiter.take('k', 1, { perMinute: 5 }));
      assert.ok(Date.now() - started < 10_000);
    } finally {
      await limiter.close();
    }
  });
});
