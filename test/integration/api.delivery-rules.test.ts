/**
 * Delivery rules, explainRequest, signing keys, signUrl and compressTypes through GraphQL on
 * real PostgreSQL over real HTTP: rules stored and read back as sent, the default rule made of
 * the customer's fields, every refusal naming the rule and field with nothing changed, what
 * the edges receive (rules, sealed keys), roles, explanations computed as the edges compute
 * them, and keys whose secret is shown once and sealed everywhere else.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BusEvent } from '../../src/core/bus.events';
import type { CustomerConfig } from '../../src/core/customer.types';
import { SecretBox } from '../../src/core/secret-box';
import { signPath, verifySignedUrl } from '../../src/core/signed-url';
import { maxChangeSeq, SECRET_KEY, startTestApi, type TestApi, refused, tokenFor } from './api.harness';

type Gql = { errors?: Array<{ message: string; extensions: Record<string, unknown> }> | undefined; text: string };

const RULE_FIELDS = `name match { pathPrefixes globs extensions methods headers { name values } cookies { name values } not { extensions } all { pathPrefixes } }
  actions { cache { bypass edgeTtl { seconds mode } browserTtl staleWhileRevalidate staleIfError }
    cacheKey { query { mode names } headers cookies }
    responseHeaders { op name value } originHeaders { op name value }
    access { deny allowCidrs denyCidrs referers { allow allowEmpty } signedUrl rateLimit { perSecond burst } }
    redirect { status location } }`;
const SET = `mutation($c: ID!, $rules: [DeliveryRuleInput!]!) { setDeliveryRules(customerId: $c, rules: $rules) { id rules { ${RULE_FIELDS} } } }`;
const READ = `query($c: ID!) { customer(id: $c) { rules { ${RULE_FIELDS} } defaultRule { ${RULE_FIELDS} } compressTypes signingKeys { id createdAt } } }`;
const EXPLAIN = `query($c: ID!, $url: String!, $method: String, $headers: [HeaderInput!], $ip: String) {
  explainRequest(customerId: $c, url: $url, method: $method, headers: $headers, clientIp: $ip) {
    matchedRules outcome status reason location cacheKey keyParts originTarget edgeTtl { seconds mode } browserTtl staleWhileRevalidate staleIfError
    responseHeaders { op name value } originHeaders { op name value } signedUrlRequired rateLimit { perSecond burst } } }`;

/** What a site might send: the list of everyday needs. */
const RULES = [
  { name: 'static', match: { extensions: ['css', 'js', 'woff2'] }, actions: { cache: { edgeTtl: { seconds: 86400, mode: 'OVERRIDE' }, browserTtl: 3600 } } },
  { name: 'tracking', actions: { cacheKey: { query: { mode: 'DENY', names: ['utm_*', 'fbclid'] } } } },
  { name: 'private', match: { pathPrefixes: ['/account/'] }, actions: { cache: { bypass: true } } },
  { name: 'cors', match: { globs: ['/api/**'] }, actions: { responseHeaders: [{ op: 'SET', name: 'access-control-allow-origin', value: '*' }] } },
  { name: 'lang', match: { pathPrefixes: ['/i18n/'] }, actions: { cacheKey: { headers: ['accept-language'] } } },
  { name: 'admin', match: { pathPrefixes: ['/admin/'] }, actions: { access: { allowCidrs: ['10.0.0.0/8'] } } },
  { name: 'paid', match: { pathPrefixes: ['/paid/'] }, actions: { access: { signedUrl: true } } },
  { name: 'old', match: { pathPrefixes: ['/old/'], not: { extensions: ['png'] } }, actions: { redirect: { status: 301, location: 'https://{host}/new{path}{search}' } } },
];

let t: TestApi;
const box = new SecretBox(SECRET_KEY);

async function gql<T = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}, token?: string) {
  return t.gql<T>(query, variables, token);
}

async function createCustomer(id: string, domains: string[], extra: Record<string, unknown> = {}): Promise<Gql> {
  return gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', {
    input: { id, name: id, originUrl: `https://origin.${id}.example`, domains, ...extra },
  });
}

async function version(customerId: string): Promise<number> {
  const rows: Array<{ version: number }> = await t.dataSource.query('SELECT version FROM customer WHERE id = $1', [customerId]);
  return rows[0]!.version;
}

async function lastConfig(customerId: string): Promise<CustomerConfig> {
  const rows: Array<{ payload: BusEvent }> = await t.dataSource.query('SELECT payload FROM change_log ORDER BY seq DESC LIMIT 1');
  const event = rows[0]!.payload;
  assert.ok(event.kind === 'customer.upserted' && event.customer.id === customerId, JSON.stringify(event).slice(0, 200));
  return event.customer;
}



async function explain(customerId: string, url: string, extra: Record<string, unknown> = {}) {
  const res = await gql<{ explainRequest: Record<string, unknown> }>(EXPLAIN, { c: customerId, url, ...extra });
  assert.equal(res.errors, undefined, res.text);
  return res.data!.explainRequest;
}

before(async () => {
  t = await startTestApi({ CDN_RULES_MAX: '10' });
  for (const [id, domains] of [['alpha', ['cdn.alpha.example']], ['beta', ['cdn.beta.example']]] as const) {
    const res = await createCustomer(id, [...domains], { cacheTtl: 120, staleIfErrorSeconds: 600, queryString: { mode: 'ALLOWLIST', allow: ['v', 'page'] } });
    assert.equal(res.errors, undefined, res.text);
  }
});

after(async () => {
  await t?.close();
});

describe('rules', () => {
  test('a customer without rules: none stored, and its fields make the default rule', async () => {
    const res = await gql<{ customer: { rules: unknown[]; defaultRule: unknown } }>(READ, { c: 'beta' });
    assert.equal(res.errors, undefined, res.text);
    assert.deepEqual(res.data!.customer.rules, []);
    const rule = res.data!.customer.defaultRule as { name: string; match: unknown; actions: { cache: Record<string, unknown>; cacheKey: { query: unknown } } };
    assert.equal(rule.name, 'default');
    assert.equal(rule.match, null);
    assert.deepEqual(rule.actions.cache.edgeTtl, { seconds: 120, mode: 'DEFAULT' });
    assert.equal(rule.actions.cache.staleIfError, 600);
    assert.deepEqual(rule.actions.cacheKey.query, { mode: 'ALLOW', names: ['v', 'page'] });
    // Behaviour as before rules existed: the customer's TTL and query policy.
    const e = await explain('beta', 'https://cdn.beta.example/a/b.html?z=1&v=2&page=3');
    assert.deepEqual(e.matchedRules, ['default']);
    assert.equal(e.outcome, 'CACHE');
    assert.equal(e.cacheKey, 'beta\n/a/b.html?page=3&v=2');
    assert.equal(e.originTarget, '/a/b.html?page=3&v=2');
    assert.deepEqual(e.edgeTtl, { seconds: 120, mode: 'DEFAULT' });
    assert.equal(e.staleIfError, 600);
  });

  test('setDeliveryRules stores the list as sent, bumps the version and sends the rules to the edges', async () => {
    const before = await version('alpha');
    const res = await gql<{ setDeliveryRules: { rules: Array<{ name: string }> } }>(SET, { c: 'alpha', rules: RULES });
    assert.equal(res.errors, undefined, res.text);
    assert.deepEqual(res.data!.setDeliveryRules.rules.map((r) => r.name), RULES.map((r) => r.name));
    assert.equal(await version('alpha'), before + 1);
    const config = await lastConfig('alpha');
    assert.deepEqual(config.rules!.map((r) => r.name), RULES.map((r) => r.name));
    assert.deepEqual(config.rules![0], { name: 'static', match: { extensions: ['css', 'js', 'woff2'] }, actions: { cache: { edgeTtl: { seconds: 86400, mode: 'override' }, browserTtl: 3600 } } });
    // Read back: what was sent, so a client can edit and send it again.
    const read = await gql<{ customer: { rules: Array<Record<string, unknown>> } }>(READ, { c: 'alpha' });
    const again = await gql(SET, { c: 'alpha', rules: read.data!.customer.rules.map(withoutNulls) });
    assert.equal(again.errors, undefined, again.text);
    assert.deepEqual((await lastConfig('alpha')).rules, config.rules);
  });

  test('a refused list names the rule and the field, and changes nothing', async () => {
    const state = async () => [await version('alpha'), await maxChangeSeq(t), JSON.stringify((await lastConfig('alpha')).rules)];
    const was = await state();
    const cases: Array<[unknown[], string, RegExp]> = [
      [[{ name: 'a', actions: { cache: { bypass: true } } }, { name: 'a', actions: { cache: { bypass: true } } }], 'rules[1] (a).name', /a second time|unique|already/i],
      [[{ name: 'default', actions: { cache: { bypass: true } } }], 'rules[0] (default).name', /default/],
      [[{ name: 'g', match: { globs: ['no-slash/*'] }, actions: { cache: { bypass: true } } }], 'rules[0] (g).match.globs[0]', /\//],
      [[{ name: 'c', actions: { cache: { bypass: true, edgeTtl: { seconds: 5, mode: 'OVERRIDE' } } } }], 'rules[0] (c).actions.cache.bypass', /edgeTtl/],
      [[{ name: 'r', actions: { redirect: { status: 301, location: '/x/{nope}' } } }], 'rules[0] (r).actions.redirect.location', /nope|placeholder/],
      [[{ name: 'h', actions: { responseHeaders: [{ op: 'SET', name: 'transfer-encoding', value: 'x' }] } }], 'rules[0] (h).actions.responseHeaders[0].name', /transfer-encoding/],
      [[{ name: 'ip', actions: { access: { allowCidrs: ['10.0.0.0/33'] } } }], 'rules[0] (ip).actions.access.allowCidrs[0]', /CIDR|prefix|block/i],
      [[{ name: 'empty', actions: {} }], 'rules[0] (empty).actions', /at least one|empty/i],
    ];
    for (const [rules, field, message] of cases) refused(await gql(SET, { c: 'alpha', rules }), field, message);
    const many = Array.from({ length: 11 }, (_, i) => ({ name: `r${i}`, actions: { cache: { bypass: true } } }));
    refused(await gql(SET, { c: 'alpha', rules: many }), 'rules', /10/);
    // GraphQL itself refuses a field the schema does not have.
    const unknown = await gql(SET, { c: 'alpha', rules: [{ name: 'u', actions: { cache: { bypass: true, ttl: 5 } } }] });
    assert.match(unknown.text, /ttl/);
    assert.deepEqual(await state(), was);
    const missing = await gql(SET, { c: 'nobody', rules: [] });
    assert.equal(missing.errors?.[0]?.extensions.code, 'NOT_FOUND', missing.text);
  });

  test('customer-scoped tokens: an admin sets its own customer\'s rules only (another customer is not found), a viewer explains but does not set', async () => {
    const admin = await tokenFor(t, 'CUSTOMER_ADMIN', 'beta');
    const viewer = await tokenFor(t, 'CUSTOMER_VIEWER', 'beta');
    const rules = [{ name: 'b', actions: { cache: { browserTtl: 60 } } }];
    // Another customer looks like no customer at all to a customer-scoped token.
    assert.equal((await gql(SET, { c: 'alpha', rules }, admin)).errors?.[0]?.extensions.code, 'NOT_FOUND');
    assert.equal((await gql(SET, { c: 'beta', rules }, viewer)).errors?.[0]?.extensions.code, 'FORBIDDEN');
    const own = await gql(SET, { c: 'beta', rules }, admin);
    assert.equal(own.errors, undefined, own.text);
    const e = await gql(EXPLAIN, { c: 'beta', url: '/x' }, viewer);
    assert.equal(e.errors, undefined, e.text);
    assert.equal((await gql(EXPLAIN, { c: 'alpha', url: '/x' }, viewer)).errors?.[0]?.extensions.code, 'NOT_FOUND');
    assert.equal((await gql(SET, { c: 'beta', rules: [] }, admin)).errors, undefined);
  });
});

describe('explainRequest', () => {
  test('the rules that match, the key and the TTLs, as the edge computes them', async () => {
    const css = await explain('alpha', 'https://cdn.alpha.example/app.CSS?utm_source=x&v=3&fbclid=y');
    assert.deepEqual(css.matchedRules, ['default', 'static', 'tracking']);
    assert.equal(css.outcome, 'CACHE');
    // The tracking rule's DENY replaces the default ALLOW: everything but utm_* and fbclid, sorted.
    assert.equal(css.cacheKey, 'alpha\n/app.CSS?v=3');
    assert.deepEqual(css.edgeTtl, { seconds: 86400, mode: 'OVERRIDE' });
    assert.equal(css.browserTtl, 3600);
    const api = await explain('alpha', '/api/v1/items?b=2&a=1');
    assert.deepEqual(api.responseHeaders, [{ op: 'SET', name: 'access-control-allow-origin', value: '*' }]);
    assert.equal(api.cacheKey, 'alpha\n/api/v1/items?a=1&b=2');
    const account = await explain('alpha', '/account/orders');
    assert.equal(account.outcome, 'BYPASS');
    assert.equal(account.cacheKey, null);
    const post = await explain('alpha', '/api/v1/items', { method: 'POST' });
    assert.equal(post.outcome, 'BYPASS');
  });

  test('header values in the key: one object per value, shown as key parts', async () => {
    const en = await explain('alpha', '/i18n/strings.json', { headers: [{ name: 'Accept-Language', value: 'en' }] });
    const fr = await explain('alpha', '/i18n/strings.json', { headers: [{ name: 'accept-language', value: 'fr' }] });
    assert.deepEqual(en.keyParts, ['h:accept-language=en']);
    assert.match(String(en.cacheKey), /^alpha\n\/i18n\/strings\.json\?\n#[A-Za-z0-9_-]{43}$/);
    assert.notEqual(en.cacheKey, fr.cacheKey);
  });

  test('access and redirects: refused by address, redirected with the template', async () => {
    const outside = await explain('alpha', '/admin/', { ip: '203.0.113.9' });
    assert.equal(outside.outcome, 'DENY');
    assert.equal(outside.status, 403);
    assert.match(String(outside.reason), /address/);
    assert.doesNotMatch(String(outside.reason), /10\.0\.0\.0/, 'the configured list is not revealed');
    const inside = await explain('alpha', '/admin/', { ip: '10.1.2.3' });
    assert.equal(inside.outcome, 'CACHE');
    const old = await explain('alpha', 'https://cdn.alpha.example/old/page.html?x=1');
    assert.equal(old.outcome, 'REDIRECT');
    assert.equal(old.status, 301);
    assert.equal(old.location, 'https://cdn.alpha.example/new/old/page.html?x=1');
    assert.equal((await explain('alpha', '/old/logo.png')).outcome, 'CACHE');
  });

  test('refuses a URL of another customer, a bad method or header', async () => {
    refused(await gql(EXPLAIN, { c: 'alpha', url: 'https://cdn.beta.example/x' }), 'url', /not one of the customer's domains/);
    refused(await gql(EXPLAIN, { c: 'alpha', url: 'x' }), 'url', /path/);
    refused(await gql(EXPLAIN, { c: 'alpha', url: '/x', method: 'G T' }), 'method', /HTTP method/);
    refused(await gql(EXPLAIN, { c: 'alpha', url: '/x', headers: [{ name: 'a b', value: 'x' }] }), 'headers[0].name', /field name/);
  });
});

describe('signing keys and signed URLs', () => {
  const CREATE = `mutation($c: ID!) { createSigningKey(customerId: $c) { id secret createdAt } }`;
  const SIGN = `query($c: ID!, $url: String!, $s: Int!, $k: ID, $p: String, $ip: String) { signUrl(customerId: $c, url: $url, expiresIn: $s, keyId: $k, pathPrefix: $p, clientIp: $ip) { url keyId expiresAt } }`;
  const keys: Array<{ id: string; secret: string }> = [];

  test('signUrl without a key says to create one', async () => {
    const res = await gql(SIGN, { c: 'alpha', url: 'https://cdn.alpha.example/paid/a.zip', s: 60 });
    assert.equal(res.errors?.[0]?.extensions.code, 'CONFLICT', res.text);
    assert.match(res.errors![0]!.message, /createSigningKey/);
  });

  test('a key: its secret shown once, sealed in the database and on the bus; two at most', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await gql<{ createSigningKey: { id: string; secret: string } }>(CREATE, { c: 'alpha' });
      assert.equal(res.errors, undefined, res.text);
      keys.push(res.data!.createSigningKey);
    }
    assert.match(keys[0]!.id, /^[0-9a-f]{8}$/);
    assert.notEqual(keys[0]!.secret, keys[1]!.secret);
    const stored: Array<{ secret_enc: string }> = await t.dataSource.query(`SELECT secret_enc FROM signing_key WHERE customer_id = 'alpha' ORDER BY created_at`);
    assert.deepEqual(stored.map((r) => box.open(r.secret_enc)), keys.map((k) => k.secret));
    const config = await lastConfig('alpha');
    assert.deepEqual(config.signingKeys!.map((k) => k.id), keys.map((k) => k.id));
    const events: Array<{ payload: unknown }> = await t.dataSource.query('SELECT payload FROM change_log');
    for (const key of keys) assert.ok(!JSON.stringify(events).includes(key.secret), 'no secret in clear on the bus');
    const audit: Array<{ arguments: unknown }> = await t.dataSource.query('SELECT arguments FROM audit_log');
    for (const key of keys) assert.ok(!JSON.stringify(audit).includes(key.secret), 'no secret in the audit log');
    const read = await gql<{ customer: { signingKeys: Array<{ id: string }> } }>(READ, { c: 'alpha' });
    assert.deepEqual(read.data!.customer.signingKeys.map((k) => k.id), keys.map((k) => k.id));
    assert.ok(!read.text.includes(keys[0]!.secret));
    const third = await gql(CREATE, { c: 'alpha' });
    assert.equal(third.errors?.[0]?.extensions.code, 'CONFLICT', third.text);
  });

  test('signUrl signs with the newest key (or the one named) as the edges verify, and explainRequest checks it', async () => {
    const res = await gql<{ signUrl: { url: string; keyId: string; expiresAt: string } }>(SIGN, { c: 'alpha', url: 'https://cdn.alpha.example/paid/a.zip?x=1', s: 300 });
    assert.equal(res.errors, undefined, res.text);
    const signed = new URL(res.data!.signUrl.url);
    assert.equal(res.data!.signUrl.keyId, keys[1]!.id);
    assert.equal(signed.searchParams.get('ep_kid'), keys[1]!.id);
    assert.equal(signed.searchParams.get('x'), '1');
    assert.ok(Math.abs(Date.parse(res.data!.signUrl.expiresAt) - (Date.now() + 300_000)) < 5000);
    const verdict = verifySignedUrl({ path: signed.pathname, query: signed.search.slice(1), clientAddress: '', nowMs: Date.now(), leewaySeconds: 0, keys });
    assert.deepEqual(verdict, { ok: true, keyId: keys[1]!.id });

    const ok = await explain('alpha', res.data!.signUrl.url);
    assert.equal(ok.outcome, 'CACHE');
    assert.equal(ok.signedUrlRequired, true);
    // Signature parameters never enter the key: every link to one object is one entry.
    assert.equal(ok.cacheKey, 'alpha\n/paid/a.zip?x=1');
    const tampered = await explain('alpha', res.data!.signUrl.url.replace('/paid/a.zip', '/paid/b.zip'));
    assert.equal(tampered.outcome, 'DENY');
    assert.match(String(tampered.reason), /signature/i);
    const unsigned = await explain('alpha', '/paid/a.zip');
    assert.equal(unsigned.outcome, 'DENY');
    // Older key still accepted (rotation), a foreign secret is not.
    const older = signPath({ path: '/paid/a.zip', keyId: keys[0]!.id, secret: keys[0]!.secret, expiresAt: Math.floor(Date.now() / 1000) + 60 });
    assert.equal((await explain('alpha', older)).outcome, 'CACHE');
    const forged = signPath({ path: '/paid/a.zip', keyId: keys[0]!.id, secret: 'not-the-secret', expiresAt: Math.floor(Date.now() / 1000) + 60 });
    assert.equal((await explain('alpha', forged)).outcome, 'DENY');
    // IP-bound.
    const bound = await gql<{ signUrl: { url: string } }>(SIGN, { c: 'alpha', url: 'https://cdn.alpha.example/paid/a.zip', s: 60, ip: '198.51.100.7' });
    assert.equal((await explain('alpha', bound.data!.signUrl.url, { ip: '198.51.100.7' })).outcome, 'CACHE');
    assert.equal((await explain('alpha', bound.data!.signUrl.url, { ip: '198.51.100.8' })).outcome, 'DENY');
  });

  test('signUrl refuses what could never be served', async () => {
    refused(await gql(SIGN, { c: 'alpha', url: 'https://cdn.beta.example/paid/a.zip', s: 60 }), 'url', /not one of the customer's domains/);
    refused(await gql(SIGN, { c: 'alpha', url: 'https://cdn.alpha.example/paid/a.zip', s: 0 }), 'expiresIn', /1 to/);
    refused(await gql(SIGN, { c: 'alpha', url: 'https://cdn.alpha.example/paid/a.zip', s: 60, p: '/other/' }), 'pathPrefix', /prefix/);
    const unknownKey = await gql(SIGN, { c: 'alpha', url: 'https://cdn.alpha.example/paid/a.zip', s: 60, k: 'ffffffff' });
    assert.equal(unknownKey.errors?.[0]?.extensions.code, 'NOT_FOUND', unknownKey.text);
  });

  test('deleting a key: links it signed are refused, the other key still signs', async () => {
    const link = signPath({ path: '/paid/a.zip', keyId: keys[0]!.id, secret: keys[0]!.secret, expiresAt: Math.floor(Date.now() / 1000) + 60 });
    const res = await gql(`mutation($c: ID!, $id: ID!) { deleteSigningKey(customerId: $c, id: $id) { id } }`, { c: 'alpha', id: keys[0]!.id });
    assert.equal(res.errors, undefined, res.text);
    assert.deepEqual((await lastConfig('alpha')).signingKeys!.map((k) => k.id), [keys[1]!.id]);
    assert.equal((await explain('alpha', link)).outcome, 'DENY');
    const again = await gql(`mutation($c: ID!, $id: ID!) { deleteSigningKey(customerId: $c, id: $id) { id } }`, { c: 'alpha', id: keys[0]!.id });
    assert.equal(again.errors?.[0]?.extensions.code, 'NOT_FOUND', again.text);
  });
});

describe('compressTypes', () => {
  test('set on create and update, lower-cased; a bad type refused', async () => {
    const res = await createCustomer('gamma', ['cdn.gamma.example'], { compressTypes: ['application/x-ndjson'] });
    assert.equal(res.errors, undefined, res.text);
    assert.deepEqual((await lastConfig('gamma')).compressTypes, ['application/x-ndjson']);
    const update = await gql(`mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { compressTypes } }`, {
      id: 'gamma',
      input: { compressTypes: ['Text/X-Custom', 'application/geo+json'] },
    });
    assert.equal(update.errors, undefined, update.text);
    assert.deepEqual((await lastConfig('gamma')).compressTypes, ['text/x-custom', 'application/geo+json']);
    const bad = await gql(`mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { compressTypes } }`, {
      id: 'gamma',
      input: { compressTypes: ['text/html; charset=utf-8'] },
    });
    refused(bad, 'input.compressTypes[0]', /media type/);
  });
});

function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
}
