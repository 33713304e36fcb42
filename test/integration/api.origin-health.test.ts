/**
 * Origin health through GraphQL (originHealth, originHealthChanged) on a real api and a real
 * PostgreSQL, with the test playing the edges on the in-process fleet channel: heartbeats that
 * list the origins held down, and transitions on the origin-health stream, exactly as edges
 * send them. The query's view (heartbeat, then any later transition), who may see what, a
 * second api replica on the same database and fleet telling its own subscribers, and each
 * transition stored once in origin_event however many replicas read it. The edge's side:
 * test/unit/edge.fleet-reporter-origin-health.test.ts; a real edge whose origin dies:
 * test/integration/api.origin-health-edge.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadApiConfig } from '../../src/api/config';
import { startApi, type ApiHandle } from '../../src/api/server';
import type { EdgeStatus, OriginHealthEvent } from '../../src/core/fleet.port';
import { createLogger } from '../../src/obs/logger.factory';
import { followSubscription } from '../support/subscriptions';
import { SECRET_KEY, startTestApi, TOKEN, type TestApi, playEdge } from './api.harness';

const CUSTOMER = 'health-co';
const OTHER = 'other-co';
const QUERY = 'query($customerId: ID!) { originHealth(customerId: $customerId) { name url edgesUp edgesDown edges { edgeId state since reason } } }';
const CHANGED = 'subscription($customerId: ID) { originHealthChanged(customerId: $customerId) { customerId origin edgeId state reason at } }';

type EdgeHealth = { edgeId: string; state: string; since: string | null; reason: string | null };
type Health = { name: string; url: string; edgesUp: number; edgesDown: number; edges: EdgeHealth[] };
type Change = { customerId: string; origin: string; edgeId: string; state: string; reason: string; at: string };

let t: TestApi;
let second: ApiHandle | undefined;
const tokens: Record<string, string> = {};
const STARTED = '2030-01-01T00:00:00.000Z';

before(async () => {
  t = await startTestApi();
  for (const id of [CUSTOMER, OTHER]) {
    const r = await t.gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', { input: { id, name: id, originUrl: 'https://origin.example', domains: [`cdn.${id}.test`] } });
    assert.equal(r.errors, undefined, r.text);
  }
  const set = await t.gql('mutation($customerId: ID!, $origins: [OriginInput!]!) { setOrigins(customerId: $customerId, origins: $origins) { id } }', {
    customerId: CUSTOMER,
    origins: [
      { name: 'main', url: 'https://main.health.example', priority: 1 },
      { name: 'backup', url: 'https://backup.health.example', priority: 2 },
    ],
  });
  assert.equal(set.errors, undefined, set.text);
  for (const [name, role, customerId] of [
    ['viewer', 'CUSTOMER_VIEWER', CUSTOMER],
    ['other-viewer', 'CUSTOMER_VIEWER', OTHER],
  ] as const) {
    const r = await t.gql<{ createToken: { secret: string } }>('mutation($input: CreateTokenInput!) { createToken(input: $input) { secret } }', { input: { name, role, customerId, expiresIn: '1h' } });
    assert.equal(r.errors, undefined, r.text);
    tokens[name] = r.data!.createToken.secret;
  }
});

after(async () => {
  await second?.close();
  await t?.close();
});

/** An edge process reports itself (a cluster worker is `<id>#<n>`), started at STARTED. */
function heartbeat(edgeId: string, overrides: Partial<EdgeStatus> = {}): Promise<void> {
  return playEdge(t, edgeId, { startedAt: STARTED, ...overrides });
}

function transition(edgeId: string, origin: string, state: OriginHealthEvent['state'], at: string, customerId = CUSTOMER): OriginHealthEvent {
  return { edgeId, customerId, origin, state, reason: state === 'down' ? 'connection refused' : 'health check passed', at };
}

async function health(token?: string): Promise<Health[]> {
  const r = await t.gql<{ originHealth: Health[] }>(QUERY, { customerId: CUSTOMER }, token);
  assert.equal(r.errors, undefined, r.text);
  return r.data!.originHealth;
}

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function storedEvents(): Promise<Array<{ edge_id: string; customer_id: string; origin: string; state: string }>> {
  return t.dataSource.query(`SELECT edge_id, customer_id, origin, state FROM origin_event ORDER BY at, edge_id, origin`);
}

test('originHealth: each origin in preference order, on every live edge, from the heartbeats, then from any later transition', async () => {
  await heartbeat('edge-a', { originsDown: [{ customerId: CUSTOMER, origin: 'backup', since: '2030-01-01T00:01:00.000Z', reason: 'timeout after 2000 ms' }] });
  // An edge from before issue 15 lists nothing: up unless a transition says otherwise.
  await heartbeat('edge-b');
  let origins = await health();
  assert.deepEqual(origins, [
    { name: 'main', url: 'https://main.health.example', edgesUp: 2, edgesDown: 0, edges: [{ edgeId: 'edge-a', state: 'UP', since: null, reason: null }, { edgeId: 'edge-b', state: 'UP', since: null, reason: null }] },
    {
      name: 'backup', url: 'https://backup.health.example', edgesUp: 1, edgesDown: 1,
      edges: [{ edgeId: 'edge-a', state: 'DOWN', since: '2030-01-01T00:01:00.000Z', reason: 'timeout after 2000 ms' }, { edgeId: 'edge-b', state: 'UP', since: null, reason: null }],
    },
  ]);

  // The api's gauge: one origin of the customer down somewhere.
  const metrics = await (await fetch(`${t.api.url}/metrics`)).text();
  assert.match(metrics, new RegExp(`^cdn_api_origins_down\\{customer="${CUSTOMER}"\\} 1$`, 'm'));
  assert.doesNotMatch(metrics, new RegExp(`cdn_api_origins_down\\{customer="${OTHER}"\\}`));

  // A transition after edge-a's heartbeat wins over it until the next heartbeat.
  const later = new Date(Date.now() + 1000).toISOString();
  await t.fleet.reportOriginHealth([transition('edge-a', 'backup', 'up', later), transition('edge-b', 'main', 'down', later)]);
  origins = await eventually('the transitions stored', async () => {
    const o = await health();
    return o[0]!.edgesDown === 1 && o[1]!.edgesDown === 0 ? o : undefined;
  });
  assert.deepEqual(origins[0]!.edges[1], { edgeId: 'edge-b', state: 'DOWN', since: later, reason: 'connection refused' });
  assert.deepEqual(origins[1]!.edges[0], { edgeId: 'edge-a', state: 'UP', since: later, reason: 'health check passed' });

  // An edge that left is no longer listed.
  await t.fleet.leave('edge-b');
  assert.deepEqual((await health()).map((o) => o.edges.map((e) => e.edgeId)), [['edge-a'], ['edge-a']]);
  await t.fleet.leave('edge-a');
});

test('originHealth: customer.read on that customer; another customer, or none, is NOT_FOUND', async () => {
  assert.equal((await health(tokens.viewer)).length, 2);
  const other = await t.gql(QUERY, { customerId: CUSTOMER }, tokens['other-viewer']);
  assert.equal(other.errors?.[0]?.extensions?.code, 'NOT_FOUND', other.text);
  const unknown = await t.gql(QUERY, { customerId: 'nobody' });
  assert.equal(unknown.errors?.[0]?.extensions?.code, 'NOT_FOUND', unknown.text);
  const anonymous = await t.gql(QUERY, { customerId: CUSTOMER }, null);
  assert.ok(anonymous.errors !== undefined && anonymous.data == null, anonymous.text);
});

test('originHealthChanged: every transition through another api replica, filtered by customer and by the token; each stored once; past the retention, deleted', async () => {
  // Older than the 30 days kept: the replica's sweep at start deletes it; a recent one stays.
  const old = new Date(Date.now() - 31 * 24 * 3600 * 1000).toISOString();
  const recent = new Date(Date.now() - 29 * 24 * 3600 * 1000).toISOString();
  for (const at of [old, recent]) {
    await t.dataSource.query(`INSERT INTO origin_event (edge_id, customer_id, origin, state, reason, at) VALUES ('edge-old', $1, 'main', 'down', 'old', $2)`, [CUSTOMER, at]);
  }
  const config = loadApiConfig({ CDN_API_PORT: '0', CDN_ADMIN_TOKEN: TOKEN, CDN_SECRET_KEY: SECRET_KEY, DATABASE_URL: t.databaseUrl });
  second = await startApi(config, { dataSource: t.dataSource, bus: t.bus, fleet: t.fleet, stats: t.stats, revocations: t.revocations, logger: createLogger({ name: 'api-2', level: 'silent' }) });
  const all = followSubscription<Change>(second.url, TOKEN, CHANGED, {}, 'originHealthChanged');
  const mine = followSubscription<Change>(second.url, tokens.viewer!, CHANGED, { customerId: CUSTOMER }, 'originHealthChanged');
  const theirs = followSubscription<Change>(second.url, tokens['other-viewer']!, CHANGED, {}, 'originHealthChanged');
  try {
    // graphql-ws subscribes lazily: give the three a moment to be registered.
    await new Promise((r) => setTimeout(r, 300));
    const kept: Array<{ at: Date }> = await eventually('the expired event swept', async () => {
      const rows: Array<{ at: Date }> = await t.dataSource.query(`SELECT at FROM origin_event WHERE edge_id = 'edge-old'`);
      return rows.length === 1 ? rows : undefined;
    });
    assert.equal(kept[0]!.at.toISOString(), recent);
    await t.dataSource.query(`DELETE FROM origin_event WHERE edge_id = 'edge-old'`);
    const before = (await storedEvents()).length;
    const at = new Date(Date.now() + 2000).toISOString();
    const down = transition('edge-c', 'main', 'down', at);
    await t.fleet.reportOriginHealth([down, transition('edge-c', 'primary', 'down', at, OTHER)]);
    // The same transition again (an edge retrying after a lost reply): heard again, stored once.
    await t.fleet.reportOriginHealth([down]);
    // A replica starting tells again what the fleet still keeps (the first test's transitions, if its subscribers were quick): only edge-c's are this test's.
    const ours = (events: Change[]) => events.filter((e) => e.edgeId === 'edge-c');
    await eventually('three events heard by the platform subscriber', async () => (ours(all.events).length >= 3 ? true : undefined));
    assert.deepEqual(ours(all.events).map((e) => [e.customerId, e.origin, e.edgeId, e.state, e.at]), [
      [CUSTOMER, 'main', 'edge-c', 'DOWN', at],
      [OTHER, 'primary', 'edge-c', 'DOWN', at],
      [CUSTOMER, 'main', 'edge-c', 'DOWN', at],
    ]);
    await eventually('the customer viewer heard its own', async () => (ours(mine.events).length >= 2 ? true : undefined));
    assert.deepEqual(new Set(mine.events.map((e) => e.customerId)), new Set([CUSTOMER]));
    await eventually('the other viewer heard its own', async () => (theirs.events.length >= 1 ? true : undefined));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(theirs.events.map((e) => [e.customerId, e.origin]), [[OTHER, 'primary']]);
    // Two replicas read each transition, twice for one of them: two rows.
    const rows = await eventually('stored', async () => {
      const r = await storedEvents();
      return r.length >= before + 2 ? r : undefined;
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await storedEvents()).length, before + 2);
    assert.deepEqual(rows.slice(before), [
      { edge_id: 'edge-c', customer_id: CUSTOMER, origin: 'main', state: 'down' },
      { edge_id: 'edge-c', customer_id: OTHER, origin: 'primary', state: 'down' },
    ]);
  } finally {
    await all.close();
    await mine.close();
    await theirs.close();
  }
});
