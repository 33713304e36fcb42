/**
 * Several origins per customer through GraphQL on real PostgreSQL over real HTTP, with
 * CDN_ALLOW_PRIVATE_ORIGINS off: a new customer's one origin (`primary`), setOrigins stored and
 * read back in preference order, what the edges receive (origins, policy, the preferred origin
 * as originUrl/basicAuth, passwords sealed), Basic Auth kept, replaced or removed only when
 * asked, every refusal naming the origin and field with nothing changed, the SSRF guard on
 * every origin, passwords nowhere in clear (answers, database, outbox, audit log, logs),
 * updateCustomer changing the preferred origin, setOriginPolicy, and roles.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BusEvent } from '../../src/core/bus.events';
import type { CustomerConfig } from '../../src/core/customer.types';
import { HEALTH_CHECK_DEFAULTS, ORIGINS_MAX } from '../../src/core/origin.types';
import { SecretBox } from '../../src/core/secret-box';
import { maxChangeSeq, SECRET_KEY, startTestApi, type TestApi, refused, tokenFor } from './api.harness';

type OriginOut = { name: string; url: string; hasBasicAuth: boolean; priority: number; weight: number; hostHeader: string | null; tlsServerName: string | null; healthCheck: Record<string, unknown> | null };

const ORIGIN_FIELDS = 'name url hasBasicAuth priority weight hostHeader tlsServerName healthCheck { path intervalSeconds timeoutMs expectedStatusMin expectedStatusMax healthyThreshold unhealthyThreshold }';
const POLICY_FIELDS = 'maxConnections queueTimeoutMs retryBudgetPercent staleIfDownSeconds';
const SET = `mutation($c: ID!, $origins: [OriginInput!]!) { setOrigins(customerId: $c, origins: $origins) { id originUrl hasBasicAuth origins { ${ORIGIN_FIELDS} } } }`;
const SET_POLICY = `mutation($c: ID!, $p: OriginPolicyInput!) { setOriginPolicy(customerId: $c, policy: $p) { id originPolicy { ${POLICY_FIELDS} } } }`;
const READ = `query($c: ID!) { customer(id: $c) { originUrl hasBasicAuth origins { ${ORIGIN_FIELDS} } originPolicy { ${POLICY_FIELDS} } } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { originUrl hasBasicAuth origins { name url hasBasicAuth } } }`;

/** Passwords sent in this file: none may appear in clear anywhere but in what the tests send. */
const PASSWORDS = { primary: 'primary-pass-7f3a', eu: 'eu-pass-91bc', rotated: 'rotated-pass-55de' };

let t: TestApi;
const box = new SecretBox(SECRET_KEY);
const answers: string[] = [];

async function gql<T = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}, token?: string) {
  const res = await t.gql<T>(query, variables, token);
  answers.push(res.text);
  return res;
}

async function read(customerId: string): Promise<{ originUrl: string; hasBasicAuth: boolean; origins: OriginOut[]; originPolicy: Record<string, number | null> }> {
  const res = await gql<{ customer: { originUrl: string; hasBasicAuth: boolean; origins: OriginOut[]; originPolicy: Record<string, number | null> } }>(READ, { c: customerId });
  assert.equal(res.errors, undefined, res.text);
  return res.data!.customer;
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

/** Everything a refused mutation must leave as it was. */
async function state(customerId: string): Promise<unknown[]> {
  return [
    await version(customerId),
    await maxChangeSeq(t),
    await t.dataSource.query('SELECT * FROM customer_origin WHERE customer_id = $1 ORDER BY name', [customerId]),
    await t.dataSource.query('SELECT origin_url, basic_auth_username, basic_auth_password_enc, origin_policy FROM customer WHERE id = $1', [customerId]),
  ];
}



/** Public addresses (literals need no DNS): CDN_ALLOW_PRIVATE_ORIGINS is off here. */
const URLS = { primary: 'https://8.8.8.8/site', eu: 'https://1.1.1.1', backup: 'http://[2606:4700::1111]:8080/b', moved: 'https://9.9.9.9/new' };

before(async () => {
  t = await startTestApi({ CDN_ALLOW_PRIVATE_ORIGINS: 'false' });
  for (const [id, extra] of [['alpha', { basicAuth: { username: 'alpha', password: PASSWORDS.primary } }], ['beta', {}]] as const) {
    const res = await gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', {
      input: { id, name: id, originUrl: `${URLS.primary}/`, domains: [`cdn.${id}.example`], ...extra },
    });
    assert.equal(res.errors, undefined, res.text);
  }
});

after(async () => {
  await t?.close();
});

describe('origins', () => {
  test('a new customer has one origin, primary: its originUrl and Basic Auth, priority 1, weight 1, no health check; the policy is all defaults', async () => {
    const alpha = await read('alpha');
    assert.deepEqual(alpha.origins, [
      { name: 'primary', url: URLS.primary, hasBasicAuth: true, priority: 1, weight: 1, hostHeader: null, tlsServerName: null, healthCheck: null },
    ]);
    assert.deepEqual(alpha.originPolicy, { maxConnections: null, queueTimeoutMs: null, retryBudgetPercent: null, staleIfDownSeconds: null });
    assert.equal((await read('beta')).origins[0]!.hasBasicAuth, false);
    const rows: Array<{ customer_id: string; name: string; basic_auth_password_enc: string | null }> = await t.dataSource.query(
      'SELECT customer_id, name, basic_auth_password_enc FROM customer_origin ORDER BY customer_id',
    );
    assert.deepEqual(rows.map((r) => [r.customer_id, r.name]), [['alpha', 'primary'], ['beta', 'primary']]);
    assert.equal(box.open(rows[0]!.basic_auth_password_enc!), PASSWORDS.primary);
  });

  test('setOrigins stores the list in preference order (priority, then name), bumps the version and sends it to the edges; the preferred origin is originUrl', async () => {
    const before = await version('alpha');
    const wasPrimary = (await lastConfigOf('alpha')).origins!.find((o) => o.name === 'primary')!.basicAuth!;
    const res = await gql<{ setOrigins: { originUrl: string; hasBasicAuth: boolean; origins: OriginOut[] } }>(SET, {
      c: 'alpha',
      origins: [
        { name: 'backup', url: URLS.backup, priority: 2, healthCheck: { path: '/healthz?deep=1', intervalSeconds: 5 } },
        { name: 'primary', url: URLS.primary, keepBasicAuth: true },
        {
          name: 'eu',
          url: `${URLS.eu}/`,
          weight: 3,
          basicAuth: { username: 'eu-user', password: PASSWORDS.eu },
          hostHeader: 'WWW.Alpha.example:8443',
          tlsServerName: 'tls.alpha.example',
        },
      ],
    });
    assert.equal(res.errors, undefined, res.text);
    const set = res.data!.setOrigins;
    assert.deepEqual(set.origins.map((o) => [o.name, o.priority, o.weight, o.hasBasicAuth]), [['eu', 1, 3, true], ['primary', 1, 1, true], ['backup', 2, 1, false]]);
    assert.equal(set.originUrl, URLS.eu, 'the preferred origin');
    assert.equal(set.hasBasicAuth, true);
    assert.deepEqual(set.origins[0], { name: 'eu', url: URLS.eu, hasBasicAuth: true, priority: 1, weight: 3, hostHeader: 'www.alpha.example:8443', tlsServerName: 'tls.alpha.example', healthCheck: null });
    assert.deepEqual(set.origins[2]!.healthCheck, { ...HEALTH_CHECK_DEFAULTS, path: '/healthz?deep=1', intervalSeconds: 5 });
    assert.deepEqual((await read('alpha')).origins, set.origins, 'read back as answered');
    assert.equal(await version('alpha'), before + 1);

    // What the edges get: every origin in order, passwords sealed, the preferred one as originUrl/basicAuth.
    const config = await lastConfig('alpha');
    assert.deepEqual(config.origins!.map((o) => o.name), ['eu', 'primary', 'backup']);
    assert.equal(config.originUrl, URLS.eu);
    assert.equal(config.basicAuth!.username, 'eu-user');
    assert.equal(box.open(config.basicAuth!.passwordCiphertext), PASSWORDS.eu);
    assert.deepEqual(config.origins![0], {
      name: 'eu',
      url: URLS.eu,
      basicAuth: config.basicAuth,
      priority: 1,
      weight: 3,
      hostHeader: 'www.alpha.example:8443',
      tlsServerName: 'tls.alpha.example',
      healthCheck: null,
    });
    assert.deepEqual(config.origins![1]!.basicAuth, wasPrimary, 'keepBasicAuth keeps the very credentials');
    assert.deepEqual(config.origins![2]!.healthCheck, { ...HEALTH_CHECK_DEFAULTS, path: '/healthz?deep=1', intervalSeconds: 5 });
    assert.deepEqual(config.originPolicy, { maxConnections: null, queueTimeoutMs: null, retryBudgetPercent: null, staleIfDownSeconds: null });
    // The relay publishes it.
    await t.waitForBusSeq(await maxChangeSeq(t));
    // The customer's own columns follow the preferred origin (older readers, the down migration).
    const [row] = (await t.dataSource.query(`SELECT origin_url, basic_auth_username, basic_auth_password_enc FROM customer WHERE id = 'alpha'`)) as Array<Record<string, string>>;
    assert.equal(row!.origin_url, URLS.eu);
    assert.equal(box.open(row!.basic_auth_password_enc!), PASSWORDS.eu);
  });

  test('Basic Auth: leaving it out of an origin that has it is refused, keepBasicAuth needs credentials to keep and excludes basicAuth, null removes, a new one replaces', async () => {
    const was = await state('alpha');
    const eu = { name: 'eu', url: URLS.eu };
    const primary = { name: 'primary', url: URLS.primary, keepBasicAuth: true };
    refused(await gql(SET, { c: 'alpha', origins: [eu, primary] }), 'origins[0] (eu).basicAuth', /has Basic Auth now.*keepBasicAuth: true.*basicAuth: null/);
    refused(await gql(SET, { c: 'alpha', origins: [{ ...eu, keepBasicAuth: false }, primary] }), 'origins[0] (eu).basicAuth', /never read back/);
    refused(await gql(SET, { c: 'alpha', origins: [{ ...eu, keepBasicAuth: true }, { name: 'backup', url: URLS.backup, keepBasicAuth: true }] }), 'origins[1] (backup).keepBasicAuth', /no Basic Auth to keep/);
    refused(await gql(SET, { c: 'alpha', origins: [{ name: 'new', url: URLS.backup, keepBasicAuth: true }] }), 'origins[0] (new).keepBasicAuth', /no Basic Auth to keep/);
    refused(
      await gql(SET, { c: 'alpha', origins: [{ ...eu, keepBasicAuth: true, basicAuth: { username: 'x', password: 'y' } }] }),
      'origins[0] (eu).keepBasicAuth',
      /either basicAuth .* or keepBasicAuth/,
    );
    assert.deepEqual(await state('alpha'), was, 'nothing changed');

    const res = await gql<{ setOrigins: { origins: OriginOut[] } }>(SET, {
      c: 'alpha',
      origins: [{ ...eu, basicAuth: null }, { name: 'primary', url: URLS.primary, basicAuth: { username: 'alpha', password: PASSWORDS.rotated } }, { name: 'backup', url: URLS.backup, priority: 2 }],
    });
    assert.equal(res.errors, undefined, res.text);
    assert.deepEqual(res.data!.setOrigins.origins.map((o) => [o.name, o.hasBasicAuth]), [['eu', false], ['primary', true], ['backup', false]]);
    const config = await lastConfig('alpha');
    assert.equal(config.basicAuth, null, 'the preferred origin (eu) has none now');
    assert.equal(box.open(config.origins![1]!.basicAuth!.passwordCiphertext), PASSWORDS.rotated);
    assert.equal(config.origins![2]!.healthCheck, null, 'a health check left out is removed: the list is replaced');
  });

  test('a refused list names the origin and the field, and changes nothing', async () => {
    const was = await state('alpha');
    const ok = { name: 'eu', url: URLS.eu };
    const cases: Array<[unknown[], string, RegExp]> = [
      [[], 'origins', /at least one/],
      [Array.from({ length: ORIGINS_MAX + 1 }, (_, i) => ({ name: `o${i}`, url: URLS.eu })), 'origins', new RegExp(`at most ${ORIGINS_MAX}`)],
      [[ok, { ...ok, url: URLS.backup }], 'origins[1] (eu).name', /unique/],
      [[{ ...ok, name: 'EU' }], 'origins[0] (EU).name', /lower-case/],
      [[{ ...ok, url: 'https://user:pw@1.1.1.1' }], 'origins[0] (eu).url', /credentials/],
      [[{ ...ok, url: 'gopher://1.1.1.1' }], 'origins[0] (eu).url', /http or https/],
      [[{ ...ok, priority: 0 }], 'origins[0] (eu).priority', /from 1 to 100/],
      [[{ ...ok, weight: 1001 }], 'origins[0] (eu).weight', /from 1 to 1000/],
      [[{ ...ok, hostHeader: 'www.alpha.example/x' }], 'origins[0] (eu).hostHeader', /host name/],
      [[{ ...ok, tlsServerName: '1.1.1.1' }], 'origins[0] (eu).tlsServerName', /IP address/],
      [[{ ...ok, healthCheck: { path: 'healthz' } }], 'origins[0] (eu).healthCheck.path', /start with "\/"/],
      [[{ ...ok, healthCheck: { path: '/h', intervalSeconds: 1, timeoutMs: 5000 } }], 'origins[0] (eu).healthCheck.timeoutMs', /at most intervalSeconds × 1000/],
      [[{ ...ok, healthCheck: { path: '/h', expectedStatusMin: 500, expectedStatusMax: 200 } }], 'origins[0] (eu).healthCheck.expectedStatusMax', /at least expectedStatusMin/],
      [[{ ...ok, basicAuth: { username: 'a:b', password: 'p' } }], 'origins[0] (eu).basicAuth.username', /":"/],
    ];
    for (const [origins, field, message] of cases) refused(await gql(SET, { c: 'alpha', origins }), field, message);
    // Every problem of a list at once.
    const many = refused(await gql(SET, { c: 'alpha', origins: [{ ...ok, priority: 0 }, { name: 'b', url: 'nope', weight: 0 }] }), 'origins[1] (b).url', /absolute URL/);
    assert.deepEqual(many.map((p) => p.field), ['origins[0] (eu).priority', 'origins[1] (b).url', 'origins[1] (b).weight']);
    // GraphQL itself refuses a field the schema does not have.
    assert.match((await gql(SET, { c: 'alpha', origins: [{ ...ok, wieght: 2 }] })).text, /wieght/);
    assert.deepEqual(await state('alpha'), was);
    const missing = await gql(SET, { c: 'nobody', origins: [ok] });
    assert.equal(missing.errors?.[0]?.extensions.code, 'NOT_FOUND', missing.text);
  });

  test('SSRF: an origin that is, or resolves to, a private address is refused, whichever origin it is, naming it; nothing changes', async () => {
    const was = await state('alpha');
    const cases: Array<[string, string]> = [
      ['http://10.0.0.1', '10.0.0.1'],
      ['http://0x7f.1:9000/', '127.0.0.1'],
      ['http://[::ffff:169.254.169.254]/', '::ffff:a9fe:a9fe'],
      ['http://localhost:8080', '127.0.0.1'],
    ];
    for (const [url, address] of cases) {
      const res = await gql(SET, { c: 'alpha', origins: [{ name: 'eu', url: URLS.eu }, { name: 'internal', url, priority: 2 }] });
      const [problem] = refused(res, 'origins[1] (internal).url', /not a public unicast address .*CDN_ALLOW_PRIVATE_ORIGINS=true/);
      assert.ok(problem!.message.includes(address), `${url}: ${problem!.message}`);
    }
    assert.deepEqual(await state('alpha'), was);
  });

  test('passwords are sealed in the database and the outbox, and never in an answer, the audit log or the logs', async () => {
    const origins: Array<{ basic_auth_password_enc: string | null }> = await t.dataSource.query(`SELECT basic_auth_password_enc FROM customer_origin WHERE customer_id = 'alpha'`);
    assert.ok(origins.some((r) => r.basic_auth_password_enc !== null && box.open(r.basic_auth_password_enc) === PASSWORDS.rotated));
    const audit: Array<{ mutation: string; arguments: unknown }> = await t.dataSource.query(`SELECT mutation, arguments FROM audit_log WHERE mutation = 'setOrigins' ORDER BY id`);
    assert.ok(audit.length > 0);
    assert.match(JSON.stringify(audit), /"password":"\[REDACTED\]"/);
    const everywhere = [
      JSON.stringify(await t.dataSource.query('SELECT * FROM customer_origin')),
      JSON.stringify(await t.dataSource.query('SELECT * FROM customer')),
      JSON.stringify(await t.dataSource.query('SELECT payload FROM change_log')),
      JSON.stringify(await t.dataSource.query('SELECT * FROM audit_log')),
      ...answers,
      ...t.logs,
    ].join('\n');
    for (const password of Object.values(PASSWORDS)) assert.ok(!everywhere.includes(password), `${password} appears in clear`);
  });

  test("updateCustomer's originUrl and basicAuth change the preferred origin and leave the others", async () => {
    const before = (await lastConfig('alpha')).origins!;
    const res = await gql<{ updateCustomer: { originUrl: string; hasBasicAuth: boolean; origins: Array<{ name: string; url: string; hasBasicAuth: boolean }> } }>(UPDATE, {
      id: 'alpha',
      input: { originUrl: `${URLS.moved}/`, basicAuth: { username: 'moved', password: PASSWORDS.rotated } },
    });
    assert.equal(res.errors, undefined, res.text);
    const updated = res.data!.updateCustomer;
    assert.equal(updated.originUrl, URLS.moved);
    assert.deepEqual(updated.origins, [
      { name: 'eu', url: URLS.moved, hasBasicAuth: true },
      { name: 'primary', url: URLS.primary, hasBasicAuth: true },
      { name: 'backup', url: URLS.backup, hasBasicAuth: false },
    ]);
    const config = await lastConfig('alpha');
    assert.equal(config.originUrl, URLS.moved);
    assert.deepEqual(config.origins![0]!.basicAuth, config.basicAuth);
    assert.equal(config.basicAuth!.username, 'moved');
    assert.deepEqual(config.origins!.slice(1), before.slice(1), 'the other origins are untouched');
    assert.deepEqual({ ...config.origins![0], url: before[0]!.url, basicAuth: before[0]!.basicAuth }, before[0], 'only url and credentials of the preferred origin changed');

    // basicAuth: null removes the preferred origin's credentials; an SSRF originUrl is refused as before.
    const removed = await gql<{ updateCustomer: { hasBasicAuth: boolean; origins: Array<{ hasBasicAuth: boolean }> } }>(UPDATE, { id: 'alpha', input: { basicAuth: null } });
    assert.equal(removed.errors, undefined, removed.text);
    assert.deepEqual(removed.data!.updateCustomer.origins.map((o) => o.hasBasicAuth), [false, true, false]);
    refused(await gql(UPDATE, { id: 'alpha', input: { originUrl: 'http://192.168.1.1' } }), 'input.originUrl', /not a public unicast address/);
    assert.equal((await read('alpha')).originUrl, URLS.moved);
  });

  test('setOriginPolicy: stored, read back and sent; out of range refused naming the field with nothing changed; null restores the default', async () => {
    const before = await version('beta');
    const res = await gql<{ setOriginPolicy: { originPolicy: Record<string, number | null> } }>(SET_POLICY, {
      c: 'beta',
      p: { maxConnections: 64, queueTimeoutMs: 2500, retryBudgetPercent: 10, staleIfDownSeconds: 86400 },
    });
    assert.equal(res.errors, undefined, res.text);
    const policy = { maxConnections: 64, queueTimeoutMs: 2500, retryBudgetPercent: 10, staleIfDownSeconds: 86400 };
    assert.deepEqual(res.data!.setOriginPolicy.originPolicy, policy);
    assert.deepEqual((await read('beta')).originPolicy, policy);
    assert.deepEqual((await lastConfig('beta')).originPolicy, policy);
    assert.equal(await version('beta'), before + 1);

    const was = await state('beta');
    for (const [p, field, message] of [
      [{ maxConnections: 0 }, 'policy.maxConnections', /from 1 to 10000/],
      [{ queueTimeoutMs: 60001 }, 'policy.queueTimeoutMs', /from 0 to 60000/],
      [{ retryBudgetPercent: 101 }, 'policy.retryBudgetPercent', /from 0 to 100/],
      [{ staleIfDownSeconds: -1 }, 'policy.staleIfDownSeconds', /from 0 to 604800/],
    ] as const) {
      refused(await gql(SET_POLICY, { c: 'beta', p }), field, message);
    }
    assert.deepEqual(await state('beta'), was);

    const reset = await gql<{ setOriginPolicy: { originPolicy: Record<string, number | null> } }>(SET_POLICY, { c: 'beta', p: { retryBudgetPercent: 0 } });
    assert.equal(reset.errors, undefined, reset.text);
    assert.deepEqual(reset.data!.setOriginPolicy.originPolicy, { maxConnections: null, queueTimeoutMs: null, retryBudgetPercent: 0, staleIfDownSeconds: null });
    assert.equal((await gql(SET_POLICY, { c: 'nobody', p: {} })).errors?.[0]?.extensions.code, 'NOT_FOUND');
  });

  test("roles: a customer admin sets its own customer's origins and policy only (another customer is not found), a viewer reads but does not set", async () => {
    const admin = await tokenFor(t, 'CUSTOMER_ADMIN', 'beta');
    const viewer = await tokenFor(t, 'CUSTOMER_VIEWER', 'beta');
    const origins = [{ name: 'primary', url: URLS.primary }, { name: 'second', url: URLS.eu, weight: 2 }];
    assert.equal((await gql(SET, { c: 'alpha', origins }, admin)).errors?.[0]?.extensions.code, 'NOT_FOUND');
    assert.equal((await gql(SET_POLICY, { c: 'alpha', p: {} }, admin)).errors?.[0]?.extensions.code, 'NOT_FOUND');
    assert.equal((await gql(SET, { c: 'beta', origins }, viewer)).errors?.[0]?.extensions.code, 'FORBIDDEN');
    assert.equal((await gql(SET_POLICY, { c: 'beta', p: {} }, viewer)).errors?.[0]?.extensions.code, 'FORBIDDEN');
    const own = await gql<{ setOrigins: { origins: OriginOut[] } }>(SET, { c: 'beta', origins }, admin);
    assert.equal(own.errors, undefined, own.text);
    assert.deepEqual(own.data!.setOrigins.origins.map((o) => o.name), ['primary', 'second']);
    const seen = await gql<{ customer: { origins: OriginOut[] } }>(READ, { c: 'beta' }, viewer);
    assert.equal(seen.errors, undefined, seen.text);
    assert.equal(seen.data!.customer.origins.length, 2);
  });

  test('deleting a customer deletes its origins', async () => {
    const res = await gql('mutation { deleteCustomer(id: "beta") }');
    assert.equal(res.errors, undefined, res.text);
    assert.deepEqual(await t.dataSource.query(`SELECT name FROM customer_origin WHERE customer_id = 'beta'`), []);
  });
});

/** The customer's config as the newest outbox row about it says. */
async function lastConfigOf(customerId: string): Promise<CustomerConfig> {
  const rows: Array<{ payload: BusEvent }> = await t.dataSource.query(`SELECT payload FROM change_log WHERE payload->>'kind' = 'customer.upserted' AND payload->'customer'->>'id' = $1 ORDER BY seq DESC LIMIT 1`, [customerId]);
  const event = rows[0]!.payload;
  assert.ok(event.kind === 'customer.upserted');
  return event.customer;
}
