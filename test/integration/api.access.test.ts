/**
 * Who may do what, through GraphQL, with real tokens: each role against each operation (a
 * table), customer scope for queries, mutations and subscriptions (another customer answers
 * NOT_FOUND, exactly like one that does not exist), token management by role, and the
 * grant-monitoring query and metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { firstSubscriptionCode, startTestApi, type TestApi, wsClient } from './api.harness';
import { CAPABILITIES } from '../../src/core/roles';

let t: TestApi;
let globexPurgeId: string;
const tokens: Record<string, string> = {};

/** A role as the table names it, with its token's customer. */
const ROLES = {
  admin: { role: 'ADMIN', customerId: null },
  operator: { role: 'OPERATOR', customerId: null },
  viewer: { role: 'VIEWER', customerId: null },
  'customer-admin': { role: 'CUSTOMER_ADMIN', customerId: 'acme' },
  'customer-purger': { role: 'CUSTOMER_PURGER', customerId: 'acme' },
  'customer-viewer': { role: 'CUSTOMER_VIEWER', customerId: 'acme' },
} as const;
type RoleName = keyof typeof ROLES;
const ALL = Object.keys(ROLES) as RoleName[];

before(async () => {
  t = await startTestApi();
  for (const id of ['acme', 'globex']) {
    const r = await t.gql(`mutation { createCustomer(input: { id: "${id}", name: "${id}", originUrl: "https://origin.example", domains: ["cdn.${id}.test"] }) { id } }`);
    assert.equal(r.errors, undefined, r.text);
  }
  const purge = await t.gql<{ purgeCache: { id: string } }>('mutation { purgeCache(input: { customerId: "globex", kind: ALL }) { id } }');
  globexPurgeId = purge.data!.purgeCache.id;
  for (const name of ALL) {
    const { role, customerId } = ROLES[name];
    const r = await t.gql<{ createToken: { secret: string; token: { role: string; customerId: string | null; status: string } } }>(
      'mutation($input: CreateTokenInput!) { createToken(input: $input) { secret token { role customerId status } } }',
      { input: { name: `${name} token`, role, customerId, expiresIn: '1h' } },
    );
    assert.equal(r.errors, undefined, r.text);
    assert.deepEqual(r.data!.createToken.token, { role, customerId, status: 'ACTIVE' });
    tokens[name] = r.data!.createToken.secret;
  }
});

after(async () => {
  await t?.close();
});

/** 'ok', or the first error's extensions.code. */
async function outcome(name: RoleName, query: string, variables: Record<string, unknown> = {}): Promise<string> {
  const r = await t.gql(query, variables, tokens[name]!);
  return r.errors === undefined ? 'ok' : String(r.errors[0]!.extensions.code);
}

type Expect = Partial<Record<RoleName, string>> & { else: string };

const OPS: Array<{ name: string; query: string; variables?: Record<string, unknown>; expect: Expect }> = [
  { name: 'customers', query: '{ customers { totalCount } }', expect: { else: 'ok' } },
  { name: 'customer (own)', query: '{ customer(id: "acme") { id } }', expect: { else: 'ok' } },
  { name: "customer (another's)", query: '{ customer(id: "globex") { id } }', expect: { 'customer-admin': 'NOT_FOUND', 'customer-purger': 'NOT_FOUND', 'customer-viewer': 'NOT_FOUND', else: 'ok' } },
  { name: 'createCustomer', query: 'mutation { createCustomer(input: { id: "x", name: "x", originUrl: "notaurl", domains: [] }) { id } }', expect: { admin: 'BAD_USER_INPUT', operator: 'BAD_USER_INPUT', else: 'FORBIDDEN' } },
  { name: 'updateCustomer (own)', query: 'mutation { updateCustomer(id: "acme", input: { cacheTtl: 120 }) { id } }', expect: { admin: 'ok', operator: 'ok', 'customer-admin': 'ok', else: 'FORBIDDEN' } },
  { name: "updateCustomer (another's)", query: 'mutation { updateCustomer(id: "globex", input: { cacheTtl: 120 }) { id } }', expect: { admin: 'ok', operator: 'ok', 'customer-admin': 'NOT_FOUND', else: 'FORBIDDEN' } },
  { name: 'deleteCustomer', query: 'mutation { deleteCustomer(id: "nobody") }', expect: { admin: 'NOT_FOUND', operator: 'NOT_FOUND', else: 'FORBIDDEN' } },
  { name: 'purgeCache (own)', query: 'mutation { purgeCache(input: { customerId: "acme", kind: URL, value: "/a" }) { id } }', expect: { viewer: 'FORBIDDEN', 'customer-viewer': 'FORBIDDEN', else: 'ok' } },
  { name: "purgeCache (another's)", query: 'mutation { purgeCache(input: { customerId: "globex", kind: URL, value: "/a" }) { id } }', expect: { admin: 'ok', operator: 'ok', 'customer-admin': 'NOT_FOUND', 'customer-purger': 'NOT_FOUND', else: 'FORBIDDEN' } },
  { name: 'purges (own)', query: '{ purges(customerId: "acme") { totalCount } }', expect: { else: 'ok' } },
  { name: "purges (another's)", query: '{ purges(customerId: "globex") { totalCount } }', expect: { 'customer-admin': 'NOT_FOUND', 'customer-purger': 'NOT_FOUND', 'customer-viewer': 'NOT_FOUND', else: 'ok' } },
  { name: 'edges', query: '{ edges { edgeId } }', expect: { admin: 'ok', operator: 'ok', viewer: 'ok', else: 'FORBIDDEN' } },
  { name: 'cacheStatsHistory (own)', query: '{ cacheStatsHistory(customerId: "acme", minutes: 1) { requests } }', expect: { else: 'ok' } },
  { name: "cacheStatsHistory (another's)", query: '{ cacheStatsHistory(customerId: "globex", minutes: 1) { requests } }', expect: { 'customer-admin': 'NOT_FOUND', 'customer-purger': 'NOT_FOUND', 'customer-viewer': 'NOT_FOUND', else: 'ok' } },
  { name: 'tokens', query: '{ tokens { id } }', expect: { admin: 'ok', 'customer-admin': 'ok', else: 'FORBIDDEN' } },
  { name: 'createToken (own customer)', query: 'mutation { createToken(input: { name: "n", role: CUSTOMER_VIEWER, customerId: "acme" }) { secret } }', expect: { admin: 'ok', 'customer-admin': 'ok', else: 'FORBIDDEN' } },
  { name: 'createToken (platform role)', query: 'mutation { createToken(input: { name: "n", role: VIEWER }) { secret } }', expect: { admin: 'ok', else: 'FORBIDDEN' } },
  { name: 'auditLog', query: '{ auditLog { nodes { id } } }', expect: { admin: 'ok', 'customer-admin': 'ok', else: 'FORBIDDEN' } },
  { name: 'auditLog (own)', query: '{ auditLog(customerId: "acme") { nodes { id } } }', expect: { admin: 'ok', 'customer-admin': 'ok', else: 'FORBIDDEN' } },
  { name: "auditLog (another's)", query: '{ auditLog(customerId: "globex") { nodes { id } } }', expect: { admin: 'ok', 'customer-admin': 'NOT_FOUND', else: 'FORBIDDEN' } },
  { name: 'me', query: '{ me { role capabilities } }', expect: { else: 'ok' } },
  { name: 'accessStats', query: '{ accessStats { totalActive } }', expect: { admin: 'ok', else: 'FORBIDDEN' } },
];

describe('each role against each operation', () => {
  for (const op of OPS) {
    test(op.name, async () => {
      const got: Record<string, string> = {};
      const want: Record<string, string> = {};
      for (const role of ALL) {
        got[role] = await outcome(role, op.query, op.variables);
        want[role] = op.expect[role] ?? op.expect.else;
      }
      assert.deepEqual(got, want);
    });
  }
});

test('a customer-scoped token sees its own customer only, in lists and lookups', async () => {
  const r = await t.gql<{ customers: { totalCount: number; nodes: Array<{ id: string }> } }>('{ customers { totalCount nodes { id } } }', {}, tokens['customer-viewer']!);
  assert.deepEqual(r.data!.customers, { totalCount: 1, nodes: [{ id: 'acme' }] });
  const byDomain = await t.gql<{ customerByDomain: unknown }>('{ customerByDomain(domain: "cdn.globex.test") { id } }', {}, tokens['customer-viewer']!);
  assert.equal(byDomain.data!.customerByDomain, null, "another customer's domain looks unserved");
  const purge = await t.gql<{ purge: unknown }>('query($id: ID!) { purge(id: $id) { id } }', { id: globexPurgeId }, tokens['customer-admin']!);
  assert.deepEqual(purge.data, { purge: null }, "another customer's purge looks absent");
  const asAdmin = await t.gql<{ purge: { id: string } }>('query($id: ID!) { purge(id: $id) { id } }', { id: globexPurgeId }, tokens.operator!);
  assert.equal(asAdmin.data!.purge.id, globexPurgeId);
  const unknown = await t.gql('{ customer(id: "never-existed") { id } }', {}, tokens['customer-viewer']!);
  const other = await t.gql('{ customer(id: "globex") { id } }', {}, tokens['customer-viewer']!);
  assert.equal(unknown.errors![0]!.message.replace('never-existed', 'X'), other.errors![0]!.message.replace('globex', 'X'), 'an existing and an unknown id answer alike');
});

test('subscriptions are scoped: only its own customer\'s changes, stats and purges; fleet stats refused', async () => {
  const ws = wsClient(t.api.url, tokens['customer-viewer']);
  try {
    const changes: string[] = [];
    const iterator = ws.iterate<{ customerChanged: { customerId: string } }>({ query: 'subscription { customerChanged { customerId } }' });
    const collect = (async () => {
      for await (const r of iterator) {
        changes.push(r.data!.customerChanged.customerId);
        if (changes.includes('acme')) return;
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await t.gql('mutation { updateCustomer(id: "globex", input: { cacheTtl: 61 }) { id } }')).errors, undefined);
    assert.equal((await t.gql('mutation { updateCustomer(id: "acme", input: { cacheTtl: 62 }) { id } }')).errors, undefined);
    await Promise.race([collect, new Promise((_, reject) => setTimeout(() => reject(new Error(`got ${changes}`)), 5_000))]);
    await iterator.return?.();
    assert.deepEqual(changes, ['acme'], "globex's change never reached acme's token");

    const first = (query: string, variables: Record<string, unknown> = {}): Promise<string> => firstSubscriptionCode(ws, query, variables);
    assert.equal(await first('subscription { cacheStats(customerId: "globex") { requests } }'), 'NOT_FOUND');
    assert.equal(await first('subscription { cacheStats(customerId: "acme") { requests } }'), 'ok');
    assert.equal(await first('subscription { fleetStats { requests } }'), 'FORBIDDEN');
    assert.equal(await first('subscription($id: ID!) { purgeStatus(id: $id) { purge { id } } }', { id: globexPurgeId }), 'NOT_FOUND');
  } finally {
    await ws.dispose();
  }
});

test('a revoked token is refused at once, over HTTP and at connection_init', async () => {
  const created = await t.gql<{ createToken: { secret: string; token: { id: string } } }>('mutation { createToken(input: { name: "short-lived", role: CUSTOMER_VIEWER, customerId: "acme" }) { secret token { id } } }', {}, tokens['customer-admin']!);
  const { secret, token } = created.data!.createToken;
  assert.equal((await t.gql('{ customers { totalCount } }', {}, secret)).errors, undefined);
  const revoked = await t.gql<{ revokeToken: { status: string; revokedAt: string } }>('mutation($id: ID!) { revokeToken(id: $id) { status revokedAt } }', { id: token.id }, tokens['customer-admin']!);
  assert.equal(revoked.data!.revokeToken.status, 'REVOKED');
  const refused = await t.gql('{ customers { totalCount } }', {}, secret);
  assert.equal(refused.status, 401);
  assert.equal(refused.errors![0]!.extensions.code, 'UNAUTHENTICATED');
  assert.match(refused.errors![0]!.message, /revoked/);
  const ws = wsClient(t.api.url, secret);
  try {
    await assert.rejects(ws.iterate({ query: '{ customers { totalCount } }' }).next(), (err: { code?: number; reason?: string }) => err.code === 4401 && err.reason === 'CDN_ERR_AUTH_REVOKED');
  } finally {
    await ws.dispose();
  }
  const other = await t.gql('mutation($id: ID!) { revokeToken(id: $id) { id } }', { id: token.id }, tokens['customer-purger']!);
  assert.equal(other.errors![0]!.extensions.code, 'FORBIDDEN');
});

test('grant monitoring: live tokens per role and per customer against thresholds, in accessStats and in /metrics', async () => {
  const r = await t.gql<{ accessStats: { totalActive: number; roles: Array<{ role: string; active: number; warning: number; level: string }>; customers: Array<{ customerId: string; active: number; level: string }> } }>(
    '{ accessStats { totalActive roles { role active warning level } customers { customerId active level } } }',
    {},
    tokens.admin!,
  );
  const s = r.data!.accessStats;
  // Made above: one token per role, a VIEWER and two CUSTOMER_VIEWERs of acme by the table, one revoked token (not live).
  assert.deepEqual(s.roles.map((x) => [x.role, x.active, x.level]), [['ADMIN', 1, 'OK'], ['OPERATOR', 1, 'OK'], ['VIEWER', 2, 'OK']]);
  assert.equal(s.roles[0]!.warning, 3);
  assert.deepEqual(s.customers, [{ customerId: 'acme', active: 5, level: 'OK' }]);
  assert.equal(s.totalActive, 9);
  const metrics = await (await fetch(`${t.api.url}/metrics`)).text();
  assert.match(metrics, /cdn_api_tokens_active\{role="operator",customer=""\} 1/);
  assert.match(metrics, /cdn_api_tokens_active\{role="customer",customer="acme"\} 5/);
  assert.match(metrics, /cdn_api_tokens_threshold\{role="admin",level="critical"\} 10/);
  assert.match(metrics, /cdn_api_auth_l1_hits_total \d+/);
  assert.match(metrics, /cdn_api_token_revocations_total \d+/);
});

test('me: who the caller is and what its role allows, never the token; the bootstrap token has no id; no token is the usual 401', async () => {
  type Me = { me: { tokenId: string | null; name: string | null; role: string; customerId: string | null; expiresAt: string | null; capabilities: string[] } };
  const ME = '{ me { tokenId name role customerId expiresAt capabilities } }';
  const listed = await t.gql<{ tokens: Array<{ id: string; name: string; expiresAt: string }> }>('{ tokens(customerId: "acme") { id name expiresAt } }');
  const acmeAdmin = listed.data!.tokens.find((tk) => tk.name === 'customer-admin token')!;
  const scoped = await t.gql<Me>(ME, {}, tokens['customer-admin']!);
  assert.equal(scoped.errors, undefined, scoped.text);
  assert.deepEqual(scoped.data!.me, {
    tokenId: acmeAdmin.id,
    name: 'customer-admin token',
    role: 'CUSTOMER_ADMIN',
    customerId: 'acme',
    expiresAt: acmeAdmin.expiresAt,
    capabilities: ['customer.audit', 'customer.read', 'customer.update', 'purge.create', 'purge.read', 'stats.read', 'token.manage'],
  });
  assert.ok(!scoped.text.includes(tokens['customer-admin']!), 'the token itself is never in the answer');
  const viewer = await t.gql<Me>(ME, {}, tokens['customer-viewer']!);
  assert.deepEqual(viewer.data!.me.capabilities, ['customer.read', 'purge.read', 'stats.read']);
  const operator = await t.gql<Me>(ME, {}, tokens.operator!);
  assert.deepEqual([operator.data!.me.role, operator.data!.me.customerId, operator.data!.me.capabilities.includes('audit.read')], ['OPERATOR', null, false]);
  const bootstrap = await t.gql<Me>(ME);
  assert.deepEqual(bootstrap.data!.me, { tokenId: null, name: null, role: 'ADMIN', customerId: null, expiresAt: null, capabilities: Object.keys(CAPABILITIES).sort() });
  const anonymous = await t.gql(ME, {}, null);
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.errors?.[0]?.extensions.code, 'UNAUTHENTICATED', anonymous.text);
  assert.match(anonymous.errors![0]!.message, /Missing credentials/);
});
