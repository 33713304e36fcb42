/**
 * The RevocationChannel contract (src/core/revocation.port.ts), one suite run against the
 * in-process MemoryRevocations and the Redis one on a real Redis and on a three-master Redis
 * Cluster started here (each test under its own key prefix): records that expire with their token, notices every reader sees in order,
 * blocking reads, trimmed notices reported as lost, close.
 */
import { after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RevocationChannel } from '../../src/core/revocation.port';
import { MemoryRevocations } from '../../src/bus/memory-revocations';
import { createRedisRevocations } from '../../src/bus/redis-revocations';
import { fixtureTest, timed } from '../support/contract';
import { clusterTestTarget, serverTestTarget, stopSharedCluster, type TestRedisTarget } from '../support/redis-ha';

interface RevocationFixture {
  channel: RevocationChannel;
  /** Another api process on the same storage (Redis), or the same instance (in-process). */
  peer(): RevocationChannel;
  /** Lets `ms` pass for record expiry (in-process: the clock moves; Redis: real time). */
  elapse(ms: number): Promise<void>;
  dispose(): Promise<void>;
}

interface Harness {
  name: string;
  open(options?: { maxNotices?: number }): Promise<RevocationFixture>;
}

const memory: Harness = {
  name: 'MemoryRevocations',
  async open(options = {}) {
    let offset = 0;
    const channel = new MemoryRevocations({ now: () => Date.now() + offset, maxNotices: options.maxNotices });
    return { channel, peer: () => channel, elapse: async (ms) => void (offset += ms), dispose: () => channel.close() };
  },
};

const redisOn = (name: string, connect: () => Promise<TestRedisTarget>): Harness => ({
  name,
  async open(options = {}) {
    const r = await connect();
    const channels = [createRedisRevocations({ ...r.where, prefix: r.prefix, maxNotices: options.maxNotices })];
    return {
      channel: channels[0]!,
      peer() {
        channels.push(createRedisRevocations({ ...r.where, prefix: r.prefix }));
        return channels[channels.length - 1]!;
      },
      elapse: (ms) => sleep(ms),
      async dispose() {
        await Promise.all(channels.map((c) => c.close()));
        await r.cleanup();
      },
    };
  },
});

after(() => stopSharedCluster());

for (const harness of [memory, redisOn('RedisRevocations', serverTestTarget), redisOn('RedisRevocations on Redis Cluster', clusterTestTarget)]) {
  describe(`RevocationChannel contract: ${harness.name}`, () => {
    const test = fixtureTest((options: { maxNotices?: number }) => harness.open(options));

    test('a revoked token id is recorded until the token expires; other ids are not', async ({ channel, peer, elapse }) => {
      await channel.revoke({ tokenId: 'tok-1', expiresAt: Date.now() + 400 });
      assert.equal(await channel.isRevoked('tok-1'), true);
      assert.equal(await peer().isRevoked('tok-1'), true, 'another process sees the record');
      assert.equal(await channel.isRevoked('tok-2'), false);
      await elapse(600);
      assert.equal(await channel.isRevoked('tok-1'), false, 'forgotten once the token itself has expired');
    });

    test('every reader sees every notice after its cursor, in order, and only those', async ({ channel, peer }) => {
      await channel.revoke({ tokenId: 'before', expiresAt: Date.now() + 60_000 });
      const other = peer();
      const start = await other.read('$', { blockMs: 0 });
      assert.deepEqual(start.tokenIds, [], "'$': only what comes after");
      for (const id of ['a', 'b', 'c']) await channel.revoke({ tokenId: id, expiresAt: Date.now() + 60_000 });
      const first = await other.read(start.cursor, { blockMs: 100, count: 2 });
      assert.deepEqual(first.tokenIds, ['a', 'b']);
      const second = await other.read(first.cursor, { blockMs: 100 });
      assert.deepEqual(second.tokenIds, ['c']);
      assert.equal(second.lost, false);
      const none = await other.read(second.cursor, { blockMs: 50 });
      assert.deepEqual(none.tokenIds, []);
      assert.equal(none.cursor, second.cursor);
    });

    test('a blocked read wakes as soon as a token is revoked', async ({ channel, peer }) => {
      const other = peer();
      const { cursor } = await other.read('$', { blockMs: 0 });
      const reading = timed(other.read(cursor, { blockMs: 5_000 }));
      await sleep(50);
      await channel.revoke({ tokenId: 'now', expiresAt: Date.now() + 60_000 });
      const { value, ms } = await reading;
      assert.deepEqual(value.tokenIds, ['now']);
      assert.ok(ms < 2_000, `woke after ${ms.toFixed(0)} ms`);
    });

    test('an already expired token still sends its notice but leaves no record', async ({ channel }) => {
      const { cursor } = await channel.read('$', { blockMs: 0 });
      await channel.revoke({ tokenId: 'old', expiresAt: Date.now() - 1_000 });
      assert.equal(await channel.isRevoked('old'), false);
      assert.deepEqual((await channel.read(cursor, { blockMs: 100 })).tokenIds, ['old']);
    });

    test('a reader behind trimmed notices is told they were lost', async ({ channel, peer }) => {
      const other = peer();
      const { cursor } = await other.read('$', { blockMs: 0 });
      await channel.revoke({ tokenId: 'first', expiresAt: Date.now() + 60_000 });
      const afterFirst = await other.read(cursor, { blockMs: 100, count: 1 });
      assert.deepEqual(afterFirst.tokenIds, ['first']);
      // Far more notices than are kept (Redis trims `MAXLEN ~`: roughly, in whole nodes).
      for (let i = 0; i < 400; i += 1) await channel.revoke({ tokenId: `t${i}`, expiresAt: Date.now() + 60_000 });
      const behind = await other.read(afterFirst.cursor, { blockMs: 100 });
      assert.equal(behind.lost, true);
      const caughtUp = await other.read(behind.cursor, { blockMs: 50 });
      assert.equal(caughtUp.lost, false, 'from the cursor it was given, nothing more is lost');
    }, { maxNotices: 10 });

    test('bad revocations are refused with a clear error', async ({ channel }) => {
      await assert.rejects(channel.revoke({ tokenId: '', expiresAt: Date.now() }), /token id of 1 to 200 characters/);
      await assert.rejects(channel.revoke({ tokenId: 'x', expiresAt: Number.NaN }), /expiry in epoch ms/);
      await assert.rejects(channel.read('not-a-cursor', { blockMs: 0 }), /not a revocation cursor/);
    });

    test('close ends a pending read at once', async ({ channel }) => {
      const { cursor } = await channel.read('$', { blockMs: 0 });
      const reading = timed(channel.read(cursor, { blockMs: 10_000 }));
      await sleep(50);
      await channel.close();
      const { value, ms } = await reading;
      assert.deepEqual(value.tokenIds, []);
      assert.ok(ms < 2_000, `ended after ${ms.toFixed(0)} ms`);
    });
  });
}
