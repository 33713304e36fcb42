/**
 * A real edge whose origin dies, and comes back: the edge (following the api's bus, reporting
 * to the api's in-process fleet channel, as `cdn start` wires them) takes the origin down after
 * a failed health check, and the api knows — originHealth shows it DOWN with the edge's reason,
 * originHealthChanged tells it, origin_event stores it — then UP again once the origin answers.
 * The api's side alone: test/integration/api.origin-health.test.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createBusCustomerFeed } from '../../src/edge/sync/bus-sync';
import { followSubscription } from '../support/subscriptions';
import { SECRET_KEY, startTestApi, TOKEN, type TestApi } from './api.harness';
import { edgeConfig, silentLogger, tempDir } from './edge.harness';

const CUSTOMER = 'dying-co';
const QUERY = 'query($customerId: ID!) { originHealth(customerId: $customerId) { name edgesUp edgesDown edges { edgeId state since reason } } }';
const CHANGED = 'subscription($customerId: ID) { originHealthChanged(customerId: $customerId) { origin edgeId state reason } }';

type Health = { name: string; edgesUp: number; edgesDown: number; edges: Array<{ edgeId: string; state: string; since: string | null; reason: string | null }> };

let api: TestApi;
let edge: EdgeHandle | undefined;
let origin: Server;
let originPort: number;
let fleet: MemoryFleet;
const cleanups: Array<() => Promise<unknown>> = [];

function listen(port = 0): Promise<Server> {
  const server = createServer((_req, res) => res.end('ok'));
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

function die(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function health(): Promise<Health> {
  const r = await api.gql<{ originHealth: Health[] }>(QUERY, { customerId: CUSTOMER });
  assert.equal(r.errors, undefined, r.text);
  return r.data!.originHealth[0]!;
}

before(async () => {
  fleet = new MemoryFleet();
  api = await startTestApi({}, { fleet });
  cleanups.push(() => api.close());
  origin = await listen();
  originPort = (origin.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${originPort}`;
  const created = await api.gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', { input: { id: CUSTOMER, name: CUSTOMER, originUrl: url, domains: ['cdn.dying-co.test'] } });
  assert.equal(created.errors, undefined, created.text);
  const check = { path: '/health', intervalSeconds: 1, timeoutMs: 300, healthyThreshold: 1, unhealthyThreshold: 1 };
  const set = await api.gql('mutation($customerId: ID!, $origins: [OriginInput!]!) { setOrigins(customerId: $customerId, origins: $origins) { id } }', {
    customerId: CUSTOMER,
    origins: [{ name: 'primary', url, healthCheck: check }],
  });
  assert.equal(set.errors, undefined, set.text);
  const tmp = await tempDir();
  cleanups.push(() => tmp.remove());
  const customers = createBusCustomerFeed(api.bus, { dataDir: tmp.dir, logger: silentLogger, blockMs: 100, retryMinMs: 20, retryMaxMs: 100 });
  edge = await startEdge(edgeConfig(tmp.dir, { CDN_SECRET_KEY: SECRET_KEY, CDN_EDGE_HEARTBEAT_MS: '100', CDN_EDGE_ID: 'dying-edge' }), { customers, fleet, logger: silentLogger });
  await customers.ready;
});

after(async () => {
  await edge?.close();
  await die(origin).catch(() => {});
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

test('an origin that dies on a real edge is DOWN in originHealth, told by originHealthChanged and stored; back UP when it answers again', async () => {
  await eventually('the edge live with its origin up', async () => {
    const h = await health();
    return h.edgesUp === 1 ? h : undefined;
  });
  const followed = followSubscription<{ origin: string; edgeId: string; state: string; reason: string }>(api.api.url, TOKEN, CHANGED, { customerId: CUSTOMER }, 'originHealthChanged');
  try {
    await new Promise((r) => setTimeout(r, 300));
    await die(origin);
    const down = await eventually('the origin down in originHealth', async () => {
      const h = await health();
      return h.edgesDown === 1 ? h : undefined;
    });
    assert.equal(down.edges[0]!.edgeId, 'dying-edge');
    assert.match(down.edges[0]!.reason!, /health check/);
    assert.ok(down.edges[0]!.since !== null);
    await eventually('the transition told', async () => (followed.events.length >= 1 ? true : undefined));
    assert.deepEqual(followed.events.map((e) => [e.origin, e.edgeId, e.state]), [['primary', 'dying-edge', 'DOWN']]);
    // The heartbeat says so too, for an api that starts now.
    const listed = await eventually('the heartbeat listing it down', async () => {
      const d = (await fleet.liveEdges())[0]?.originsDown ?? [];
      return d.length > 0 ? d : undefined;
    });
    assert.deepEqual(listed.map((d) => [d.customerId, d.origin, d.since]), [[CUSTOMER, 'primary', down.edges[0]!.since]]);

    origin = await listen(originPort);
    await eventually('the origin up again', async () => {
      const h = await health();
      return h.edgesUp === 1 && h.edges[0]!.since !== null ? h : undefined;
    });
    await eventually('the coming back told', async () => (followed.events.length >= 2 ? true : undefined));
    assert.deepEqual(followed.events.map((e) => e.state), ['DOWN', 'UP']);
    await eventually('the heartbeat listing nothing down', async () => ((await fleet.liveEdges())[0]?.originsDown?.length === 0 ? true : undefined));
    const rows = await api.dataSource.query(`SELECT edge_id, origin, state FROM origin_event WHERE customer_id = $1 ORDER BY at`, [CUSTOMER]);
    assert.deepEqual(rows, [
      { edge_id: 'dying-edge', origin: 'primary', state: 'down' },
      { edge_id: 'dying-edge', origin: 'primary', state: 'up' },
    ]);
  } finally {
    await followed.close();
  }
});
