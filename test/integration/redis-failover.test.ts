/**
 * The Redis adapters across a failover, with private redis-server and redis-sentinel
 * processes (never the shared Redis):
 *
 * - a managed-Redis style failover behind one address (a TCP proxy stands in for the DNS name
 *   that moves): the connection still open to the demoted primary answers READONLY, and that
 *   must reconnect, so the caller's retry reaches the new primary;
 * - a Redis Sentinel failover (SENTINEL FAILOVER): the bus and the fleet follow the master the
 *   sentinels name, and a reader following the bus gets what is published on the new master.
 *
 * The master killed outright during a purge burst, with real `cdn` processes, is
 * test/e2e/redis-sentinel.e2e.test.ts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import Redis from 'ioredis';
import type { Change, Snapshot } from '../../src/core/bus.events';
import type { ChangeBus } from '../../src/core/bus.port';
import type { EdgeStatus } from '../../src/core/fleet.port';
import { createRedisBus } from '../../src/bus/redis-bus';
import { createRedisFleet } from '../../src/bus/redis-fleet';
import { startSentinelRedis, type SentinelRedis } from '../support/redis-ha';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-server';
import { uniqueName } from '../support/services';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function client(port: number): Redis {
  const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => {});
  cleanups.push(async () => redis.disconnect());
  return redis;
}

async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last error: ${String(last)})`);
    await sleep(50);
  }
}

/** Calls `work` as the adapters' callers do after an error: again, a little later. Returns the errors seen before it worked. */
async function retried(work: () => Promise<unknown>, attempts: number): Promise<string[]> {
  const errors: string[] = [];
  for (let i = 0; i < attempts; i += 1) {
    try {
      await work();
      return errors;
    } catch (err) {
      errors.push((err as Error).message);
      await sleep(200);
    }
  }
  throw new Error(`still failing after ${attempts} attempts: ${errors.join(' | ')}`);
}

function change(seq: number): Change {
  return {
    seq,
    prevSeq: seq - 1,
    at: new Date(Date.UTC(2026, 10, 1, 0, 0, seq)).toISOString(),
    event: { kind: 'customer.deleted', v: 1, customerId: `c${seq}` },
  };
}

function snapshotAt(seq: number): Snapshot {
  return { v: 1, seq, takenAt: new Date().toISOString(), customers: [] };
}

function statusOf(edgeId: string): EdgeStatus {
  const now = new Date().toISOString();
  return { edgeId, host: 'test', pid: process.pid, version: '0.0.0', appliedSeq: 0, ready: true, startedAt: now, heartbeatAt: now, cacheObjects: 0, cacheBytes: 0 };
}

/** A TCP proxy: the one address clients know; new connections go wherever `upstream` says then. */
async function startProxy(upstream: number): Promise<{ port: number; moveTo(port: number): void; close(): Promise<void> }> {
  let target = upstream;
  const sockets = new Set<Socket>();
  const server: Server = createServer((downstream) => {
    const up = connect(target, '127.0.0.1');
    for (const s of [downstream, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        downstream.destroy();
        up.destroy();
      });
    }
    downstream.pipe(up);
    up.pipe(downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    moveTo: (port) => (target = port),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function inSync(replica: Redis): Promise<true | undefined> {
  return (await replica.info('replication')).includes('master_link_status:up') ? true : undefined;
}

test('behind one address (a managed Redis failover): the connection to the demoted primary answers READONLY, reconnects, and the retry reaches the new primary', async () => {
  const a: PrivateRedis = await startPrivateRedis();
  cleanups.push(() => a.kill());
  const b: PrivateRedis = await startPrivateRedis();
  cleanups.push(() => b.kill());
  const [onA, onB] = [client(a.port), client(b.port)];
  // No wait before the full sync (5 s by default), and the replica loads it from the socket
  // (private servers run in the working directory: no dump.rdb there).
  for (const node of [onA, onB]) {
    await node.config('SET', 'repl-diskless-sync-delay', '0');
    await node.config('SET', 'repl-diskless-load', 'swapdb');
  }
  await onB.call('REPLICAOF', '127.0.0.1', String(a.port));
  await eventually('b replicates a', 10_000, () => inSync(onB));
  const proxy = await startProxy(a.port);
  cleanups.push(() => proxy.close());

  const prefix = `${uniqueName('edgeplane_failover')}:`;
  const url = `redis://127.0.0.1:${proxy.port}`;
  const bus = createRedisBus({ url, prefix });
  const fleet = createRedisFleet({ url, prefix });
  cleanups.push(() => bus.close(), () => fleet.close());
  await bus.publish([change(1)], snapshotAt(1));
  await fleet.heartbeat(statusOf('edge-a'), 60_000);
  await eventually('b has seq 1', 10_000, async () => ((await onB.get(`${prefix}published-seq`)) === '1' ? true : undefined));

  // The replica promoted, the old primary demoted, the address moved: established
  // connections still lead to the old primary.
  await onB.call('REPLICAOF', 'NO', 'ONE');
  await onA.call('REPLICAOF', '127.0.0.1', String(b.port));
  proxy.moveTo(b.port);

  const busErrors = await retried(() => bus.publish([change(2)], snapshotAt(2)), 5);
  const fleetErrors = await retried(() => fleet.heartbeat(statusOf('edge-b'), 60_000), 5);
  for (const errors of [busErrors, fleetErrors]) {
    assert.ok(errors.length <= 1, `one failed attempt at most (the one that met the demoted primary): ${errors.join(' | ')}`);
    for (const e of errors) assert.match(e, /READONLY/);
  }
  assert.equal(await onB.get(`${prefix}published-seq`), '2', 'the publish landed on the new primary');
  assert.ok((await onB.get(`${prefix}edge:edge-b`)) !== null, 'so did the heartbeat');
  assert.equal(await bus.publishedSeq(), 2);
});

test('Redis Sentinel: after SENTINEL FAILOVER the bus and the fleet reach the new master, and a reader following the bus gets what is published there', async () => {
  const ha: SentinelRedis = await startSentinelRedis();
  cleanups.push(() => ha.stop());
  const target = { mode: 'sentinel' as const, sentinels: ha.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), masterName: ha.masterName };
  const prefix = `${uniqueName('edgeplane_sentinel')}:`;
  const bus = createRedisBus({ target, prefix });
  const reader: ChangeBus = createRedisBus({ target, prefix });
  const fleet = createRedisFleet({ target, prefix });
  cleanups.push(() => bus.close(), () => reader.close(), () => fleet.close());

  await bus.publish([change(1), change(2)], snapshotAt(2));
  await fleet.heartbeat(statusOf('edge-a'), 60_000);
  // A reader that follows the bus as an edge does: block, retry after an error.
  let applied = 0;
  const readErrors: string[] = [];
  let following = true;
  const follow = (async () => {
    while (following) {
      try {
        const result = await reader.read(applied, { blockMs: 500 });
        if (result.kind === 'changes' && result.changes.length > 0) applied = result.changes.at(-1)!.seq;
      } catch (err) {
        readErrors.push((err as Error).message);
        await sleep(100);
      }
    }
  })();
  cleanups.push(async () => {
    following = false;
    await follow;
  });
  await eventually('the reader is at seq 2', 5_000, async () => (applied === 2 ? true : undefined));

  const answer = await client(ha.sentinels[0]!.port).call('SENTINEL', 'FAILOVER', ha.masterName);
  assert.equal(answer, 'OK');
  await eventually('the sentinels name the replica as master', 20_000, async () => ((await ha.masterPort()) === ha.replica.port ? true : undefined));
  const switchedAt = Date.now();
  // The old master takes writes until the sentinels demote it (up to 10 s later), and loses
  // them then: the writers must leave it when the sentinels announce the switch.
  // As the relay does: publish what the bus does not hold yet, check again a moment later.
  const onNewMaster = client(ha.replica.port);
  const publishErrors: string[] = [];
  await eventually('the publish lands on the new master', 15_000, async () => {
    try {
      if (((await bus.publishedSeq()) ?? 0) < 3) await bus.publish([change(3)], snapshotAt(3));
    } catch (err) {
      publishErrors.push((err as Error).message);
    }
    await sleep(100);
    return (await onNewMaster.get(`${prefix}published-seq`)) === '3' ? true : undefined;
  });
  const landedMs = Date.now() - switchedAt;
  await eventually('a heartbeat lands on the new master', 15_000, async () => {
    await fleet.heartbeat(statusOf('edge-b'), 60_000).catch(() => {});
    return (await onNewMaster.get(`${prefix}edge:edge-b`)) !== null ? true : undefined;
  });
  assert.ok(landedMs < 3_000, `the publish reached the new master ${landedMs} ms after the switch`);
  await eventually('the reader gets seq 3', 10_000, async () => (applied === 3 ? true : undefined));
  assert.deepEqual(
    (await fleet.liveEdges()).map((e) => e.edgeId),
    ['edge-a', 'edge-b'],
    'what the old master held was replicated',
  );
  following = false;
  await follow;
  // For the record: what the callers saw while the sentinels switched.
  console.log(`# on the new master ${landedMs} ms after the switch; publish errors before: ${JSON.stringify(publishErrors)}; reader errors: ${JSON.stringify([...new Set(readErrors)])}`);
});

test('Redis Sentinel: the master killed while clients are busy: every one of them reaches the promoted replica, none gives up for good', async () => {
  const ha: SentinelRedis = await startSentinelRedis();
  cleanups.push(() => ha.stop());
  const target = { mode: 'sentinel' as const, sentinels: ha.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), masterName: ha.masterName };
  const prefix = `${uniqueName('edgeplane_sentinel')}:`;
  const fleets = Array.from({ length: 8 }, () => createRedisFleet({ target, prefix }));
  cleanups.push(() => Promise.all(fleets.map((f) => f.close())));
  // Each beats every 50 ms, as edges do (slower), whatever happens.
  const lastOk = new Map<number, number>();
  let beating = true;
  const beats = fleets.map(async (fleet, i) => {
    while (beating) {
      try {
        await fleet.heartbeat(statusOf(`edge-${i}`), 60_000);
        lastOk.set(i, Date.now());
      } catch {
        // retried on the next beat
      }
      await sleep(50);
    }
  });
  cleanups.push(async () => {
    beating = false;
    await Promise.all(beats);
  });
  await eventually('every client beats', 5_000, async () => (lastOk.size === fleets.length ? true : undefined));

  await ha.master.kill();
  await eventually('the sentinels promote the replica', 30_000, async () => ((await ha.masterPort()) === ha.replica.port ? true : undefined));
  const promotedAt = Date.now();
  const stuck = (): string[] => fleets.map((_, i) => i).filter((i) => (lastOk.get(i) ?? 0) <= promotedAt).map((i) => `edge-${i}`);
  await eventually('every client beats on the new master', 10_000, async () => (stuck().length === 0 ? true : undefined)).catch((err: Error) => {
    throw new Error(`${err.message}: still failing: ${stuck().join(', ')}`);
  });
  const onNewMaster = client(ha.replica.port);
  for (let i = 0; i < fleets.length; i += 1) assert.ok((await onNewMaster.get(`${prefix}edge:edge-${i}`)) !== null, `edge-${i}'s heartbeat is on the new master`);
  beating = false;
  await Promise.all(beats);
});
