/**
 * The edge following the change bus (MemoryBus here; the Redis bus honours the same
 * contract): boot from the snapshot, live upserts and deletions, origin changes, gaps,
 * booting from the on-disk snapshot when the bus is down, readiness and metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { MemoryBus } from '../../src/bus/memory-bus';
import type { ChangeBus } from '../../src/core/bus.port';
import type { CustomerConfig } from '../../src/core/customer.types';
import { startDemoOrigin } from '../../src/demo/demo-origin';
import { startEdge } from '../../src/edge/server';
import { createBusCustomerFeed } from '../../src/edge/sync/bus-sync';
import { customer, edgeConfig, eventually, http, silentLogger, tempDir } from './edge.harness';
import { Relay } from '../support/bus-relay';

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

async function bootEdge(bus: ChangeBus, dir: string) {
  const customers = createBusCustomerFeed(bus, { dataDir: dir, logger: silentLogger, blockMs: 200, retryMinMs: 20, retryMaxMs: 100 });
  const edge = await startEdge(edgeConfig(dir), { customers, logger: silentLogger });
  return { edge, customers };
}

test('boots from the bus snapshot, then applies upserts, origin changes and deletions live', async () => {
  const tmp = await tempDir();
  const a = await startDemoOrigin({ customerId: 'customer-a' });
  const b = await startDemoOrigin({ customerId: 'customer-b' });
  const a2 = await startDemoOrigin({ customerId: 'customer-a-v2' });
  const bus = new MemoryBus();
  const relay = new Relay(bus);
  await relay.upsert(customer('customer-a', a.url, ['cdn.a.test'], { version: 1 }));
  const { edge, customers } = await bootEdge(bus, tmp.dir);
  try {
    await customers.ready;
    assert.equal(edge.appliedSeq(), 1);
    const first = await http(edge.url, '/x.json', { host: 'cdn.a.test' });
    assert.equal(JSON.parse(first.body).customer, 'customer-a');

    await relay.upsert(customer('customer-b', b.url, ['cdn.b.test'], { version: 1 }));
    const took = await eventually(async () => (await http(edge.url, '/x.json', { host: 'cdn.b.test' })).status === 200, 1000, 'customer b served');
    assert.ok(took < 1000);
    assert.equal(edge.appliedSeq(), 2);

    await relay.upsert(customer('customer-a', a2.url, ['cdn.a.test'], { version: 2 }));
    await eventually(() => edge.appliedSeq() === 3, 1000, 'origin change applied');
    const fresh = await http(edge.url, '/never-cached.json', { host: 'cdn.a.test' });
    assert.equal(JSON.parse(fresh.body).customer, 'customer-a-v2', 'the next miss goes to the new origin');
    assert.equal(a2.requests.length, 1);

    // An older copy arriving late (a slow relay) must not undo the newer one.
    await relay.upsert(customer('customer-a', a.url, ['cdn.a.test'], { version: 1 }));
    await eventually(() => edge.appliedSeq() === 4, 1000, 'stale upsert read');
    const still = await http(edge.url, '/other.json', { host: 'cdn.a.test' });
    assert.equal(JSON.parse(still.body).customer, 'customer-a-v2');

    assert.equal((await http(edge.url, '/x.json', { host: 'cdn.b.test' })).headers['x-cache'], 'HIT');
    await eventually(() => edge.purges!.objects('customer-b') >= 1, 1000, 'customer b has cached objects (in the index once its batch is committed)');
    await relay.delete('customer-b');
    const gone = await eventually(async () => (await http(edge.url, '/x.json', { host: 'cdn.b.test' })).status === 404, 1000, 'deleted host 404');
    assert.ok(gone < 1000);
    await eventually(() => edge.purges!.objects('customer-b') === 0, 1000, 'cache of the deleted customer dropped');
    await eventually(async () => !(await exists(path.join(tmp.dir, 'cache', 'customer-b'))), 1000, 'no cache folder of the deleted customer left');

    // Recreated with the same id: starts empty.
    await relay.upsert(customer('customer-b', b.url, ['cdn.b.test'], { version: 1 }));
    await eventually(async () => (await http(edge.url, '/x.json', { host: 'cdn.b.test' })).headers['x-cache'] === 'MISS', 1000, 'recreated customer misses');
  } finally {
    await edge.close();
    await bus.close();
    await Promise.all([a.close(), b.close(), a2.close()]);
    await tmp.remove();
  }
});

test('a gap (trimmed history) reloads the snapshot and replaces every customer', async () => {
  const tmp = await tempDir();
  const origin = await startDemoOrigin({ customerId: 'any' });
  const bus = new MemoryBus({ maxLength: 1 });
  const relay = new Relay(bus);
  await relay.upsert(customer('customer-a', origin.url, ['cdn.a.test']));
  const { edge, customers } = await bootEdge(bus, tmp.dir);
  try {
    await customers.ready;
    // Three changes in one batch: the bus keeps only the last, so the edge at seq 1 sees a gap.
    relay.customers.delete('customer-a');
    await relay.upsert(customer('customer-b', origin.url, ['cdn.b.test']), customer('customer-c', origin.url, ['cdn.c.test']), customer('customer-d', origin.url, ['cdn.d.test']));
    await eventually(() => edge.appliedSeq() === 4, 2000, 'snapshot reloaded');
    for (const host of ['cdn.b.test', 'cdn.c.test', 'cdn.d.test']) {
      assert.equal((await http(edge.url, '/x.json', { host })).status, 200, host);
    }
    assert.equal((await http(edge.url, '/x.json', { host: 'cdn.a.test' })).status, 404, 'absent from the snapshot means deleted');
  } finally {
    await edge.close();
    await bus.close();
    await origin.close();
    await tmp.remove();
  }
});

test('with the bus unreachable at boot, the edge serves from its last-known-good snapshot on disk', async () => {
  const tmp = await tempDir();
  const origin = await startDemoOrigin({ customerId: 'customer-a' });
  const bus = new MemoryBus();
  const relay = new Relay(bus);
  await relay.upsert(customer('customer-a', origin.url, ['cdn.a.test'], { basicAuth: { username: 'u', password: 'p' } }));
  const first = await bootEdge(bus, tmp.dir);
  await first.customers.ready;
  await first.edge.close();
  await bus.close();
  const snapshotText = await import('node:fs/promises').then((fs) => fs.readFile(path.join(tmp.dir, 'edge-snapshot.json'), 'utf8'));
  assert.doesNotMatch(snapshotText, /"p"/, 'the password stays sealed on disk');

  let calls = 0;
  const down: ChangeBus = {
    publishedSeq: () => Promise.reject(new Error('connect ECONNREFUSED')),
    publish: () => Promise.reject(new Error('connect ECONNREFUSED')),
    readSnapshot: () => (calls++, Promise.reject(new Error('connect ECONNREFUSED'))),
    read: () => Promise.reject(new Error('connect ECONNREFUSED')),
    close: async () => {},
  };
  const second = await bootEdge(down, tmp.dir);
  try {
    await second.customers.ready;
    assert.equal(second.edge.appliedSeq(), 1);
    const res = await http(second.edge.url, '/x.json', { host: 'cdn.a.test' });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).customer, 'customer-a');
    assert.equal((await http(second.edge.adminUrl, '/readyz')).status, 200);
    await eventually(() => calls >= 3, 2000, 'keeps retrying the bus');
  } finally {
    await second.edge.close();
    await origin.close();
    await tmp.remove();
  }
});

test('/readyz is 503 until the first snapshot is applied; /healthz always 200; the public port has no admin routes', async () => {
  const tmp = await tempDir();
  const bus = new MemoryBus();
  const relay = new Relay(bus);
  await relay.upsert(customer('customer-a', 'http://127.0.0.1:9', ['cdn.a.test']));
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const gated: ChangeBus = {
    publishedSeq: () => bus.publishedSeq(),
    publish: (c, s) => bus.publish(c, s),
    readSnapshot: async () => {
      await gate;
      return bus.readSnapshot();
    },
    read: (seq, o) => bus.read(seq, o),
    close: () => bus.close(),
  };
  const { edge, customers } = await bootEdge(gated, tmp.dir);
  try {
    assert.equal((await http(edge.adminUrl, '/healthz')).status, 200);
    assert.deepEqual(JSON.parse((await http(edge.adminUrl, '/healthz')).body), { status: 'ok' });
    assert.equal((await http(edge.adminUrl, '/readyz')).status, 503);
    const early = await http(edge.url, '/x', { host: 'cdn.a.test' });
    assert.equal(early.status, 503);
    open();
    await customers.ready;
    assert.equal((await http(edge.adminUrl, '/readyz')).status, 200);
    for (const p of ['/metrics', '/healthz', '/readyz']) {
      const res = await http(edge.url, p, { host: 'cdn.a.test' });
      assert.notEqual(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8', p);
      assert.doesNotMatch(res.body, /cdn_edge_requests_total|"status":"ok"/, p);
    }
  } finally {
    await edge.close();
    await bus.close();
    await tmp.remove();
  }
});

test('/metrics counts requests per customer and cache result, with unknown hosts under one label', async () => {
  const tmp = await tempDir();
  const origin = await startDemoOrigin({ customerId: 'customer-a' });
  const bus = new MemoryBus();
  const relay = new Relay(bus);
  await relay.upsert(customer('customer-a', origin.url, ['cdn.a.test']));
  const { edge, customers } = await bootEdge(bus, tmp.dir);
  try {
    await customers.ready;
    await http(edge.url, '/m.json', { host: 'cdn.a.test' });
    await new Promise((r) => setTimeout(r, 50));
    await http(edge.url, '/m.json', { host: 'cdn.a.test' });
    await http(edge.url, '/m.json', { host: 'cdn.a.test' });
    await http(edge.url, '/secret-path?token=1', { host: 'evil-host.example' });
    await new Promise((r) => setTimeout(r, 20));
    const metrics = (await http(edge.adminUrl, '/metrics')).body;
    assert.match(metrics, /cdn_edge_requests_total\{customer="customer-a",cache="MISS",status="2xx"\} 1/);
    assert.match(metrics, /cdn_edge_requests_total\{customer="customer-a",cache="HIT",status="2xx"\} 2/);
    assert.match(metrics, /cdn_edge_requests_total\{customer="_unknown",cache="NONE",status="4xx"\} 1/);
    assert.match(metrics, /cdn_edge_origin_request_duration_seconds_count\{customer="customer-a"\} 1/);
    assert.match(metrics, /cdn_edge_applied_seq 1/);
    assert.match(metrics, /cdn_edge_customers 1/);
    assert.match(metrics, /process_cpu_user_seconds_total/);
    assert.doesNotMatch(metrics, /evil-host|secret-path|m\.json/);
  } finally {
    await edge.close();
    await bus.close();
    await origin.close();
    await tmp.remove();
  }
});
