/**
 * The edge reporting to the api over the fleet channel (MemoryFleet; the Redis fleet honours
 * the same contract): heartbeats with the applied seq, one ack per purge applied, leaving on
 * close; and readiness while the change bus cannot be reached (a Redis that is not running).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { MemoryBus } from '../../src/bus/memory-bus';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import { createRedisBus } from '../../src/bus/redis-bus';
import type { Change } from '../../src/core/bus.events';
import type { PurgeAck } from '../../src/core/fleet.port';
import { startDemoOrigin } from '../../src/demo/demo-origin';
import { startEdge } from '../../src/edge/server';
import { createBusCustomerFeed } from '../../src/edge/sync/bus-sync';
import { SnapshotFile } from '../../src/edge/sync/snapshot-file';
import { customer, edgeConfig, eventually, http, silentLogger, tempDir } from './edge.harness';

function change(seq: number, event: Change['event']): Change {
  return { seq, prevSeq: seq - 1, at: new Date().toISOString(), event };
}

/** A TCP port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('an edge heartbeats its applied seq, acks each purge it applies, and leaves the fleet on close', async () => {
  const tmp = await tempDir();
  const origin = await startDemoOrigin({ customerId: 'customer-a' });
  const bus = new MemoryBus();
  const fleet = new MemoryFleet();
  const a = customer('customer-a', origin.url, ['cdn.a.test'], { version: 1 });
  await bus.publish([change(1, { kind: 'customer.upserted', v: 1, customer: a })], { v: 1, seq: 1, takenAt: new Date().toISOString(), customers: [a] });
  const customers = createBusCustomerFeed(bus, { dataDir: tmp.dir, logger: silentLogger, blockMs: 200, retryMinMs: 20, retryMaxMs: 100 });
  const edge = await startEdge(edgeConfig(tmp.dir, { CDN_EDGE_HEARTBEAT_MS: '100', CDN_EDGE_ID: 'edge-under-test' }), { customers, fleet, logger: silentLogger });
  try {
    await eventually(async () => (await fleet.liveEdges()).some((e) => e.appliedSeq === 1 && e.ready), 5000, 'a heartbeat at seq 1');
    const [status] = await fleet.liveEdges();
    assert.equal(status!.edgeId, 'edge-under-test');
    assert.equal(status!.pid, process.pid);

    // Cache one object, then purge it by URL: the ack says which purge, at which seq, removing one object.
    const first = await http(edge.url, '/hello.txt', { host: 'cdn.a.test' });
    assert.equal(first.headers['x-cache'], 'MISS');
    assert.equal((await http(edge.url, '/hello.txt', { host: 'cdn.a.test' })).headers['x-cache'], 'HIT');
    const purgeId = randomUUID();
    const purge = { id: purgeId, customerId: 'customer-a', kind: 'URL' as const, value: '/hello.txt', soft: false, requestedAt: new Date().toISOString() };
    await bus.publish([change(2, { kind: 'purge.requested', v: 1, purge })], { v: 1, seq: 2, takenAt: new Date().toISOString(), customers: [a], purgeSeqs: { 'customer-a': 2 } });

    const acks: PurgeAck[] = [];
    let cursor = '0';
    await eventually(
      async () => {
        const read = await fleet.readAcks(cursor, { blockMs: 50 });
        cursor = read.cursor;
        acks.push(...read.acks);
        return acks.length > 0;
      },
      5000,
      'the purge ack',
    );
    assert.equal(acks.length, 1);
    assert.equal(acks[0]!.purgeId, purgeId);
    assert.equal(acks[0]!.seq, 2);
    assert.equal(acks[0]!.edgeId, 'edge-under-test');
    assert.equal(acks[0]!.objectsRemoved, 1);
    assert.equal((await http(edge.url, '/hello.txt', { host: 'cdn.a.test' })).headers['x-cache'], 'MISS');
    // The MISS above stored the object again: a later heartbeat carries seq 2 and the cache size.
    await eventually(
      async () => {
        const [s] = await fleet.liveEdges();
        return s?.appliedSeq === 2 && s.cacheObjects === 1 && s.cacheBytes > 0;
      },
      5000,
      'a heartbeat at seq 2 counting the one object stored again',
    );
  } finally {
    await edge.close();
  }
  assert.deepEqual(await fleet.liveEdges(), [], 'a closed edge leaves the fleet at once');
  await origin.close();
  await tmp.remove();
});

test('/readyz fails once the change bus has been unreachable for longer than CDN_EDGE_MAX_DETACHED_SECONDS, while the edge keeps serving', async () => {
  const tmp = await tempDir();
  const origin = await startDemoOrigin({ customerId: 'customer-a' });
  // The last-known-good copy an earlier run left on disk; Redis is not running at all.
  const a = customer('customer-a', origin.url, ['cdn.a.test'], { version: 1 });
  const file = new SnapshotFile(tmp.dir);
  await file.save(() => ({ v: 1, seq: 7, takenAt: new Date().toISOString(), customers: [a] }));
  await file.flush();
  const bus = createRedisBus({ url: `redis://127.0.0.1:${await deadPort()}`, prefix: `edgeplane-test-${randomUUID()}:` });
  const customers = createBusCustomerFeed(bus, { dataDir: tmp.dir, logger: silentLogger, blockMs: 200, retryMinMs: 20, retryMaxMs: 100 });
  const edge = await startEdge(edgeConfig(tmp.dir, { CDN_EDGE_MAX_DETACHED_SECONDS: '1' }), { customers, logger: silentLogger });
  try {
    await eventually(async () => (await http(edge.adminUrl, '/readyz')).status === 200, 5000, 'ready from the snapshot on disk');
    await eventually(async () => (await http(edge.adminUrl, '/readyz')).status === 503, 10_000, 'not ready once detached for more than 1 s');
    const readyz = await http(edge.adminUrl, '/readyz');
    const body = JSON.parse(readyz.body) as { reason?: string; detachedSeconds?: number; appliedSeq?: number };
    assert.match(body.reason ?? '', /cannot reach the change bus for \d+ s \(CDN_EDGE_MAX_DETACHED_SECONDS=1\)/);
    assert.ok((body.detachedSeconds ?? 0) >= 1);
    assert.equal(body.appliedSeq, 7);
    // Draining is the load balancer's call: the edge itself still serves what it knows.
    const served = await http(edge.url, '/hello.txt', { host: 'cdn.a.test' });
    assert.equal(served.status, 200);
  } finally {
    await edge.close();
    await bus.close();
    await origin.close();
    await tmp.remove();
  }
});
