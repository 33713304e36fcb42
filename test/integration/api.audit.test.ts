/**
 * The audit log on real PostgreSQL over real HTTP: one entry per mutation with who, what,
 * when and outcome; failures recorded with their code; secrets never stored; paging and the
 * customer filter; queries and refused requests not audited; a mutation that cannot be
 * audited is refused and changes nothing, while a lost outcome never changes an answer;
 * the retention sweep.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadApiConfig } from '../../src/api/config';
import { Database } from '../../src/api/db/database';
import { buildApiSchema } from '../../src/api/server';
import { createCertificateAuthority, type Leaf } from '../../src/bin/demo-pki';
import { MAX_AUDITED_FIELDS } from '../../src/api/plugins/audit.plugin';
import { AuditService } from '../../src/api/services/audit.service';
import { TOKEN_EXPIRES_IN_DEFAULT } from '../../src/api/services/token.service';
import { createLogger } from '../../src/obs/logger.factory';
import { countRows, startTestApi, type TestApi, tokenFor, wsClient, playEdge } from './api.harness';

const PASSWORD = 'audit-origin-pa55word-never-stored';
const ENTRY = 'id at finishedAt actor { kind role tokenId customerId } mutation operationName arguments customerId outcome requestId clientIp';
const AUDIT = `query($first: Int, $after: String, $customerId: ID) {
  auditLog(first: $first, after: $after, customerId: $customerId) { nodes { ${ENTRY} } pageInfo { endCursor hasNextPage } } }`;
const CREATE = `mutation Create($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`;
const UPDATE = `mutation Update($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { id } }`;
const DELETE = `mutation Delete($id: ID!) { deleteCustomer(id: $id) }`;
const PURGE = `mutation Purge($input: PurgeInput!) { purgeCache(input: $input) { id } }`;
const CREATE_TOKEN = `mutation CreateToken($input: CreateTokenInput!) { createToken(input: $input) { token { id } secret } }`;
const REVOKE_TOKEN = `mutation RevokeToken($id: ID!) { revokeToken(id: $id) { id customerId } }`;
const UPLOAD_CERTIFICATE = `mutation UploadCertificate($c: ID!, $cert: String!, $key: String!) { uploadCertificate(customerId: $c, certificatePem: $cert, privateKeyPem: $key) { id } }`;
const REQUEST_CERTIFICATE = `mutation RequestCertificate($c: ID!, $d: [String!]!) { requestCertificate(customerId: $c, domains: $d) { id } }`;
const DELETE_CERTIFICATE = `mutation DeleteCertificate($id: ID!) { deleteCertificate(id: $id) }`;
const SET_RULES = `mutation SetRules($c: ID!, $rules: [DeliveryRuleInput!]!) { setDeliveryRules(customerId: $c, rules: $rules) { id } }`;
const SET_ALERTS = `mutation SetAlerts($c: ID!, $rules: [AlertRuleInput!]!) { setAlertRules(customerId: $c, rules: $rules) { id } }`;
const CREATE_KEY = `mutation CreateKey($c: ID!) { createSigningKey(customerId: $c) { id secret } }`;
const DELETE_KEY = `mutation DeleteKey($c: ID!, $id: ID!) { deleteSigningKey(customerId: $c, id: $id) { id } }`;
const WARM = `mutation Warm($c: ID!, $urls: [String!]!) { warmCache(customerId: $c, urls: $urls) { id } }`;
const SET_ORIGINS = `mutation SetOrigins($c: ID!, $origins: [OriginInput!]!) { setOrigins(customerId: $c, origins: $origins) { id } }`;
const CREATE_WEBHOOK = `mutation CreateWebhook($input: CreateWebhookInput!) { createWebhook(input: $input) { secret webhook { id customerId } } }`;
const UPDATE_WEBHOOK = `mutation UpdateWebhook($id: ID!, $input: UpdateWebhookInput!) { updateWebhook(id: $id, input: $input) { id customerId } }`;
const TEST_WEBHOOK = `mutation TestWebhook($id: ID!) { testWebhook(webhookId: $id) { id customerId } }`;
const REDELIVER_WEBHOOK = `mutation RedeliverWebhook($id: ID!) { redeliverWebhook(deliveryId: $id) { id customerId } }`;
const DELETE_WEBHOOK = `mutation DeleteWebhook($id: ID!) { deleteWebhook(id: $id) { id customerId } }`;
const SET_ORIGIN_POLICY = `mutation SetOriginPolicy($c: ID!, $policy: OriginPolicyInput!) { setOriginPolicy(customerId: $c, policy: $policy) { id } }`;

type Entry = {
  id: string;
  at: string;
  finishedAt: string | null;
  actor: { kind: string; role: string; tokenId: string | null; customerId: string | null };
  mutation: string;
  operationName: string | null;
  arguments: Record<string, unknown>;
  customerId: string | null;
  outcome: string | null;
  requestId: string | null;
  clientIp: string | null;
};
type Page = { auditLog: { nodes: Entry[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } } };

function customer(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, name: `Customer ${id}`, originUrl: `https://origin.${id}.example/`, domains: [`cdn.${id}.example`], ...extra };
}

let t: TestApi;

before(async () => {
  // Room for the operation of more root fields than the audit takes, whatever the alias limit's default.
  // An ACME directory nothing answers (requestCertificate only records the request; its order fails in the background), no automatic requests.
  t = await startTestApi({ CDN_API_MAX_ALIASES: '100', CDN_ACME_DIRECTORY_URL: 'http://127.0.0.1:9/directory', CDN_ACME_AUTO: 'false', CDN_ACME_CHECK_INTERVAL_MS: '3600000' });
});

after(async () => {
  await t.close();
  for (const line of t.logs) assert.ok(!line.includes(PASSWORD), `password in a log line: ${line.slice(0, 200)}`);
});

/** The newest `first` entries, through the API. */
async function newest(first: number, customerId?: string): Promise<Entry[]> {
  const res = await t.gql<Page>(AUDIT, { first, customerId });
  assert.equal(res.errors, undefined, res.text);
  return res.data!.auditLog.nodes;
}

async function ok(query: string, variables: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await t.gql(query, variables);
  assert.equal(res.errors, undefined, res.text);
  return res.data!;
}

describe('every mutation', () => {
  // One way to run each mutation the schema has; the first test fails when a new mutation is not here.
  let tokenId = '';
  let tokenSecret = '';
  let certificateId = '';
  let webhookId = '';
  let webhookSecret = '';
  let deliveryId = '';
  let leaf: Leaf | undefined;
  let keyId = '';
  let keySecret = '';
  const RUNS: Record<string, { run: () => Promise<unknown>; customerId: string | null; args: Record<string, unknown> | (() => Record<string, unknown>) }> = {
    createCustomer: {
      run: () => ok(CREATE, { input: customer('every') }),
      customerId: 'every',
      args: { input: { id: 'every', name: 'Customer every', originUrl: 'https://origin.every.example/', domains: ['cdn.every.example'], cacheTtl: 3600 } },
    },
    updateCustomer: {
      run: () => ok(UPDATE, { id: 'every', input: { cacheTtl: 120 } }),
      customerId: 'every',
      args: { id: 'every', input: { cacheTtl: 120 } },
    },
    createToken: {
      run: async () => {
        const data = (await ok(CREATE_TOKEN, { input: { name: 'audit-every', role: 'CUSTOMER_PURGER', customerId: 'every' } })) as { createToken: { token: { id: string }; secret: string } };
        tokenId = data.createToken.token.id;
        tokenSecret = data.createToken.secret;
      },
      customerId: 'every',
      args: () => ({ input: { name: 'audit-every', role: 'CUSTOMER_PURGER', customerId: 'every', expiresIn: TOKEN_EXPIRES_IN_DEFAULT } }),
    },
    // The customer is known from the result only (revokeToken's id is the token's).
    revokeToken: { run: () => ok(REVOKE_TOKEN, { id: tokenId }), customerId: 'every', args: () => ({ id: tokenId }) },
    purgeCache: {
      run: () => ok(PURGE, { input: { customerId: 'every', kind: 'PREFIX', value: '/img/' } }),
      customerId: 'every',
      args: { input: { customerId: 'every', kind: 'PREFIX', value: '/img/', soft: false, waitForEdges: false, waitTimeoutMs: 10000 } },
    },
    uploadCertificate: {
      run: async () => {
        leaf = await (await createCertificateAuthority('Audit CA')).issue(['cdn.every.example']);
        const data = (await ok(UPLOAD_CERTIFICATE, { c: 'every', cert: leaf.certPem, key: leaf.keyPem })) as { uploadCertificate: { id: string } };
        certificateId = data.uploadCertificate.id;
      },
      customerId: 'every',
      // The key is a secret by its name.
      args: () => ({ customerId: 'every', certificatePem: leaf!.certPem, privateKeyPem: '[REDACTED]' }),
    },
    requestCertificate: {
      run: () => ok(REQUEST_CERTIFICATE, { c: 'every', d: ['cdn.every.example'] }),
      customerId: 'every',
      args: { customerId: 'every', domains: ['cdn.every.example'] },
    },
    // Only a certificate id: the customer is not known to the audit (an admin's entry has none).
    deleteCertificate: { run: () => ok(DELETE_CERTIFICATE, { id: certificateId }), customerId: null, args: () => ({ id: certificateId }) },
    setDeliveryRules: {
      run: () => ok(SET_RULES, { c: 'every', rules: [{ name: 'browser', actions: { cache: { browserTtl: 60 } } }] }),
      customerId: 'every',
      args: { customerId: 'every', rules: [{ name: 'browser', actions: { cache: { browserTtl: 60 } } }] },
    },
    createSigningKey: {
      run: async () => {
        const data = (await ok(CREATE_KEY, { c: 'every' })) as { createSigningKey: { id: string; secret: string } };
        keyId = data.createSigningKey.id;
        keySecret = data.createSigningKey.secret;
      },
      customerId: 'every',
      args: { customerId: 'every' },
    },
    deleteSigningKey: { run: () => ok(DELETE_KEY, { c: 'every', id: keyId }), customerId: 'every', args: () => ({ customerId: 'every', id: keyId }) },
    warmCache: {
      run: async () => {
        // A warm needs a live edge to go to: this test plays one on the in-process fleet channel.
        await playEdge(t, 'audit-edge');
        return ok(WARM, { c: 'every', urls: ['/warm.css'] });
      },
      customerId: 'every',
      args: { customerId: 'every', urls: ['/warm.css'] },
    },
    setOrigins: {
      run: () => ok(SET_ORIGINS, { c: 'every', origins: [{ name: 'primary', url: 'https://origin.every.example/' }, { name: 'backup', url: 'https://backup.every.example/', priority: 2, basicAuth: { username: 'u', password: PASSWORD } }] }),
      customerId: 'every',
      // The password is a secret by its name.
      args: { customerId: 'every', origins: [{ name: 'primary', url: 'https://origin.every.example/' }, { name: 'backup', url: 'https://backup.every.example/', priority: 2, basicAuth: { username: 'u', password: '[REDACTED]' } }] },
    },
    setOriginPolicy: {
      run: () => ok(SET_ORIGIN_POLICY, { c: 'every', policy: { maxConnections: 16 } }),
      customerId: 'every',
      args: { customerId: 'every', policy: { maxConnections: 16 } },
    },
    setAlertRules: {
      run: () => ok(SET_ALERTS, { c: 'every', rules: [{ name: 'down', kind: 'ORIGIN_DOWN' }] }),
      customerId: 'every',
      args: { customerId: 'every', rules: [{ name: 'down', kind: 'ORIGIN_DOWN' }] },
    },
    // A host under .invalid: accepted when saved (it does not resolve), never reached.
    createWebhook: {
      run: async () => {
        const data = (await ok(CREATE_WEBHOOK, { input: { customerId: 'every', url: 'https://hooks.every.invalid/edgeplane', events: ['PURGE_COMPLETED'] } })) as { createWebhook: { secret: string; webhook: { id: string } } };
        webhookId = data.createWebhook.webhook.id;
        webhookSecret = data.createWebhook.secret;
      },
      customerId: 'every',
      args: { input: { customerId: 'every', url: 'https://hooks.every.invalid/edgeplane', events: ['PURGE_COMPLETED'] } },
    },
    // The customer is known from the result only (the webhook's id names it).
    updateWebhook: { run: () => ok(UPDATE_WEBHOOK, { id: webhookId, input: { description: 'audited' } }), customerId: 'every', args: () => ({ id: webhookId, input: { description: 'audited' } }) },
    testWebhook: {
      run: async () => {
        const data = (await ok(TEST_WEBHOOK, { id: webhookId })) as { testWebhook: { id: string } };
        deliveryId = data.testWebhook.id;
      },
      customerId: 'every',
      args: () => ({ webhookId }),
    },
    redeliverWebhook: { run: () => ok(REDELIVER_WEBHOOK, { id: deliveryId }), customerId: 'every', args: () => ({ deliveryId }) },
    deleteWebhook: { run: () => ok(DELETE_WEBHOOK, { id: webhookId }), customerId: 'every', args: () => ({ id: webhookId }) },
    deleteCustomer: { run: () => ok(DELETE, { id: 'every' }), customerId: 'every', args: { id: 'every' } },
  };

  test('the table above covers every mutation of the schema', async () => {
    const schema = await buildApiSchema();
    const fields = Object.keys(schema.getMutationType()!.getFields()).sort();
    assert.deepEqual(Object.keys(RUNS).sort(), fields);
  });

  test('each leaves one entry: who, what, about which customer, when, from which request, outcome OK', async () => {
    for (const [mutation, { run, customerId, args }] of Object.entries(RUNS)) {
      const before = await countRows(t, 'audit_log');
      const startedAt = Date.now();
      await run();
      assert.equal(await countRows(t, 'audit_log'), before + 1, `${mutation}: one entry`);
      const [entry] = await newest(1);
      assert.equal(entry!.mutation, mutation);
      assert.deepEqual(entry!.actor, { kind: 'admin', role: 'admin', tokenId: null, customerId: null });
      assert.equal(entry!.customerId, customerId, mutation);
      assert.equal(entry!.outcome, 'OK', mutation);
      assert.deepEqual(entry!.arguments, typeof args === 'function' ? args() : args, mutation);
      assert.equal(entry!.operationName, {
        createCustomer: 'Create',
        updateCustomer: 'Update',
        createToken: 'CreateToken',
        revokeToken: 'RevokeToken',
        purgeCache: 'Purge',
        uploadCertificate: 'UploadCertificate',
        requestCertificate: 'RequestCertificate',
        deleteCertificate: 'DeleteCertificate',
        setDeliveryRules: 'SetRules',
        createSigningKey: 'CreateKey',
        deleteSigningKey: 'DeleteKey',
        warmCache: 'Warm',
        setOrigins: 'SetOrigins',
        setOriginPolicy: 'SetOriginPolicy',
        createWebhook: 'CreateWebhook',
        updateWebhook: 'UpdateWebhook',
        testWebhook: 'TestWebhook',
        redeliverWebhook: 'RedeliverWebhook',
        deleteWebhook: 'DeleteWebhook',
        setAlertRules: 'SetAlerts',
        deleteCustomer: 'Delete',
      }[mutation]);
      // Clocks: the database's and this process's are the same machine's; allow a second either way.
      const at = Date.parse(entry!.at);
      assert.ok(at >= startedAt - 1000 && at <= Date.now() + 1000, `${mutation}: at ${entry!.at}`);
      assert.ok(Date.parse(entry!.finishedAt!) >= at, `${mutation}: finished after it started`);
      assert.match(entry!.requestId ?? '', /\S/);
      assert.equal(entry!.clientIp, '127.0.0.1');
    }
    // The token's secret is in createToken's answer, never in its arguments: nothing to store.
    assert.ok(tokenSecret.length > 0);
    // Likewise a signing key's: in createSigningKey's answer only, never in the log.
    assert.ok(keySecret.length > 0);
    const all = await t.dataSource.query('SELECT arguments FROM audit_log');
    assert.ok(!JSON.stringify(all).includes(keySecret), 'a signing key secret in the audit log');
    // And a webhook's: in createWebhook's answer only.
    assert.ok(webhookSecret.length > 0);
    assert.ok(!JSON.stringify(all).includes(webhookSecret), 'a webhook secret in the audit log');
    const leaked: Array<{ n: string }> = await t.dataSource.query(`SELECT count(*) AS n FROM audit_log a WHERE strpos(a::text, $1) > 0`, [tokenSecret]);
    assert.equal(leaked[0]!.n, '0');
  });
});

describe('who', () => {
  test("an API token is recorded with its id, role and customer; what it may not do is recorded with the refusal's code", async () => {
    await ok(CREATE, { input: customer('scoped') });
    const data = (await ok(CREATE_TOKEN, { input: { name: 'audit-scoped', role: 'CUSTOMER_PURGER', customerId: 'scoped' } })) as { createToken: { token: { id: string }; secret: string } };
    const { token, secret } = data.createToken;
    const purged = await t.gql(PURGE, { input: { customerId: 'scoped', kind: 'ALL' } }, secret);
    assert.equal(purged.errors, undefined, purged.text);
    const [purge] = await newest(1);
    assert.deepEqual(purge!.actor, { kind: 'token', role: 'customer-purger', tokenId: token.id, customerId: 'scoped' });
    assert.deepEqual([purge!.mutation, purge!.customerId, purge!.outcome], ['purgeCache', 'scoped', 'OK']);

    const refused = await t.gql(DELETE, { id: 'scoped' }, secret);
    assert.ok(refused.errors?.length, refused.text);
    const [attempt] = await newest(1);
    assert.deepEqual([attempt!.mutation, attempt!.actor.tokenId, attempt!.outcome], ['deleteCustomer', token.id, refused.errors![0]!.extensions.code]);
    assert.notEqual(attempt!.outcome, 'OK');
    assert.equal((await t.dataSource.query(`SELECT id FROM customer WHERE id = 'scoped'`)).length, 1, 'not deleted');

    // Reading the audit log is the admin's: a customer token is refused.
    const read = await t.gql(AUDIT, {}, secret);
    assert.equal(read.errors?.[0]?.extensions.code, 'FORBIDDEN', read.text);
  });
});

describe('a failed mutation', () => {
  test('is recorded with its error code and changes nothing else', async () => {
    const customers = await countRows(t, 'customer');
    const changes = await countRows(t, 'change_log');
    const res = await t.gql(CREATE, { input: customer('bad', { originUrl: 'ftp://nope' }) });
    assert.equal(res.errors?.[0]?.extensions.code, 'BAD_USER_INPUT');
    assert.equal(await countRows(t, 'customer'), customers);
    assert.equal(await countRows(t, 'change_log'), changes);
    const [entry] = await newest(1);
    assert.equal(entry!.mutation, 'createCustomer');
    assert.equal(entry!.outcome, 'BAD_USER_INPUT');
    assert.equal(entry!.customerId, 'bad');
    assert.deepEqual((entry!.arguments.input as Record<string, unknown>).originUrl, 'ftp://nope');

    const missing = await t.gql(DELETE, { id: 'nobody-here' });
    assert.equal(missing.errors?.[0]?.extensions.code, 'NOT_FOUND');
    const [deleted] = await newest(1);
    assert.deepEqual([deleted!.mutation, deleted!.outcome, deleted!.customerId], ['deleteCustomer', 'NOT_FOUND', 'nobody-here']);
  });

  test('several root fields in one operation: one entry each, with what really happened to each', async () => {
    await ok(CREATE, { input: customer('multi') });
    const purges = await countRows(t, 'purge');
    // The failing field nulls the whole response (non-null fields), yet the first one ran and the last never did.
    const res = await t.gql(`mutation {
      fine: purgeCache(input: { customerId: "multi", kind: ALL }) { id }
      unknown: purgeCache(input: { customerId: "nobody-multi", kind: ALL }) { id }
      never: purgeCache(input: { customerId: "multi", kind: TAG, value: "t" }) { id }
    }`);
    assert.equal(res.data, null);
    assert.equal(res.errors?.length, 1);
    assert.equal(await countRows(t, 'purge'), purges + 1);
    const [third, second, first] = await newest(3);
    assert.deepEqual([first!.mutation, first!.customerId, first!.outcome], ['purgeCache', 'multi', 'OK']);
    assert.deepEqual([second!.mutation, second!.customerId, second!.outcome], ['purgeCache', 'nobody-multi', 'NOT_FOUND']);
    assert.deepEqual([third!.mutation, third!.customerId, third!.outcome], ['purgeCache', 'multi', 'NOT_RUN']);
    assert.equal(first!.requestId, second!.requestId, 'same request');
    assert.equal(first!.operationName, null);
  });
});

describe('bounds', () => {
  test(`more than ${MAX_AUDITED_FIELDS} mutation fields in one operation are refused before any runs`, async () => {
    const before = await countRows(t, 'audit_log');
    const fields = Array.from({ length: MAX_AUDITED_FIELDS + 1 }, (_, i) => `d${i}: deleteCustomer(id: "nobody-${i}")`);
    const res = await t.gql(`mutation { ${fields.join(' ')} }`);
    assert.equal(res.status, 400);
    assert.equal(res.errors?.[0]?.extensions.code, 'BAD_USER_INPUT');
    assert.match(res.errors![0]!.message, new RegExp(`at most ${MAX_AUDITED_FIELDS} root fields per mutation operation, got ${MAX_AUDITED_FIELDS + 1}`));
    assert.equal(await countRows(t, 'audit_log'), before);
  });
});

describe('secrets', () => {
  test('a Basic Auth password is never stored, whether sent as a variable or inline; the username is', async () => {
    await ok(CREATE, { input: customer('secretive', { basicAuth: { username: 'origin-user', password: PASSWORD } }) });
    const inline = await t.gql(`mutation { updateCustomer(id: "secretive", input: { basicAuth: { username: "other-user", password: "${PASSWORD}" } }) { id } }`);
    assert.equal(inline.errors, undefined, inline.text);
    const rows: Array<{ row: string }> = await t.dataSource.query(`SELECT arguments::text AS row FROM audit_log WHERE customer_id = 'secretive' ORDER BY id`);
    assert.equal(rows.length, 2);
    for (const { row } of rows) {
      assert.ok(!row.includes(PASSWORD), `password stored: ${row}`);
      assert.ok(row.includes('"password": "[REDACTED]"'), row);
    }
    assert.match(rows[0]!.row, /"username": "origin-user"/);
    assert.match(rows[1]!.row, /"username": "other-user"/);
    const all: Array<{ n: string }> = await t.dataSource.query(`SELECT count(*) AS n FROM audit_log a WHERE strpos(a::text, $1) > 0`, [PASSWORD]);
    assert.equal(all[0]!.n, '0');
  });

  test('removing Basic Auth (null) is recorded as such', async () => {
    await ok(UPDATE, { id: 'secretive', input: { basicAuth: null } });
    const [entry] = await newest(1, 'secretive');
    assert.deepEqual(entry!.arguments, { id: 'secretive', input: { basicAuth: null } });
    assert.equal(entry!.outcome, 'OK');
  });
});

describe('auditLog', () => {
  test('pages newest first with an opaque cursor, every entry once; customerId filters', async () => {
    await ok(CREATE, { input: customer('page-a') });
    await ok(CREATE, { input: customer('page-b') });
    for (let i = 0; i < 3; i++) {
      await ok(PURGE, { input: { customerId: 'page-a', kind: 'URL', value: `/a/${i}` } });
      await ok(PURGE, { input: { customerId: 'page-b', kind: 'URL', value: `/b/${i}` } });
    }
    const total = await countRows(t, 'audit_log');
    const seen: Entry[] = [];
    let cursor: string | null = null;
    for (;;) {
      const res: Awaited<ReturnType<typeof t.gql<Page>>> = await t.gql<Page>(AUDIT, { first: 4, after: cursor });
      assert.equal(res.errors, undefined, res.text);
      const page = res.data!.auditLog;
      assert.ok(page.nodes.length <= 4);
      seen.push(...page.nodes);
      if (!page.pageInfo.hasNextPage) break;
      cursor = page.pageInfo.endCursor;
      assert.doesNotMatch(cursor!, /^\d+$/, 'opaque');
    }
    assert.equal(seen.length, total);
    const ids = seen.map((e) => BigInt(e.id));
    assert.deepEqual(ids, [...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)), 'newest first');
    assert.equal(new Set(ids).size, ids.length, 'no entry twice');

    const onlyA = await newest(100, 'page-a');
    assert.equal(onlyA.length, 4, 'created once, purged three times');
    assert.ok(onlyA.every((e) => e.customerId === 'page-a'));
    assert.deepEqual(onlyA.map((e) => (e.arguments.input as { value?: string }).value), ['/a/2', '/a/1', '/a/0', undefined]);

    const paged = await t.gql<Page>(AUDIT, { first: 3, customerId: 'page-a' });
    const rest = await t.gql<Page>(AUDIT, { first: 3, customerId: 'page-a', after: paged.data!.auditLog.pageInfo.endCursor });
    assert.deepEqual([...paged.data!.auditLog.nodes, ...rest.data!.auditLog.nodes].map((e) => e.id), onlyA.map((e) => e.id));
    assert.equal(rest.data!.auditLog.pageInfo.hasNextPage, false);

    assert.deepEqual(await newest(10, 'never-existed'), [], 'an unknown customer has no entries, and is not an error');
  });

  test("a customer admin reads its customer's entries only; platform staff stay anonymous there; another customer is NOT_FOUND", async () => {
    await ok(CREATE, { input: customer('own-a') });
    await ok(CREATE, { input: customer('own-b') });
    // A platform API token acts on own-a (its token id and IP are not shown to the customer), then on own-b, and fleet-wide.
    const staff = (await ok(CREATE_TOKEN, { input: { name: 'staff', role: 'OPERATOR' } })) as { createToken: { token: { id: string }; secret: string } };
    assert.equal((await t.gql(PURGE, { input: { customerId: 'own-a', kind: 'URL', value: '/by-staff' } }, staff.createToken.secret)).errors, undefined);
    await ok(PURGE, { input: { customerId: 'own-b', kind: 'URL', value: '/other' } });
    const admin = await tokenFor(t, 'CUSTOMER_ADMIN', 'own-a');
    assert.equal((await t.gql(PURGE, { input: { customerId: 'own-a', kind: 'URL', value: '/by-customer' } }, admin)).errors, undefined);
    await ok(CREATE_TOKEN, { input: { name: 'fleet-wide', role: 'VIEWER' } });

    const platformView = await newest(100, 'own-a');
    const own = await t.gql<Page>(AUDIT, { first: 100 }, admin);
    assert.equal(own.errors, undefined, own.text);
    const entries = own.data!.auditLog.nodes;
    assert.deepEqual(entries.map((e) => e.id), platformView.map((e) => e.id), 'exactly the entries about own-a');
    assert.ok(entries.every((e) => e.customerId === 'own-a'), 'nothing about own-b, nothing fleet-wide');
    assert.deepEqual(entries.map((e) => [e.mutation, (e.arguments.input as { value?: string }).value]).slice(0, 2), [['purgeCache', '/by-customer'], ['createToken', undefined]]);
    const byStaff = entries.find((e) => (e.arguments.input as { value?: string }).value === '/by-staff')!;
    assert.deepEqual([byStaff.actor, byStaff.clientIp], [{ kind: 'token', role: 'operator', tokenId: null, customerId: null }, null]);
    const byCustomer = entries[0]!;
    assert.equal(byCustomer.actor.customerId, 'own-a');
    assert.notEqual(byCustomer.actor.tokenId, null, "the customer's own tokens are named");
    assert.notEqual(byCustomer.clientIp, null);
    // The redaction rules are the log's: what was redacted when written stays redacted.
    assert.deepEqual(platformView.map((e) => e.arguments), entries.map((e) => e.arguments));

    const named = await t.gql<Page>(AUDIT, { first: 100, customerId: 'own-a' }, admin);
    assert.deepEqual(named.data!.auditLog.nodes.map((e) => e.id), entries.map((e) => e.id));
    for (const other of ['own-b', 'never-existed']) {
      const refused = await t.gql<Page>(AUDIT, { customerId: other }, admin);
      assert.equal(refused.errors?.[0]?.extensions.code, 'NOT_FOUND', refused.text);
    }
    for (const role of ['CUSTOMER_PURGER', 'CUSTOMER_VIEWER']) {
      const refused = await t.gql<Page>(AUDIT, {}, await tokenFor(t, role, 'own-a'));
      assert.equal(refused.errors?.[0]?.extensions.code, 'FORBIDDEN', refused.text);
    }
  });

  test('refuses a bad page size or cursor, naming them', async () => {
    const res = await t.gql(AUDIT, { first: 0, after: 'not-a-cursor' });
    assert.equal(res.errors?.[0]?.extensions.code, 'BAD_USER_INPUT');
    assert.match(res.errors![0]!.message, /first: must be from 1 to 500, got 0; after: is not a cursor/);
  });

  test('needs a token', async () => {
    const res = await t.gql(AUDIT, {}, null);
    assert.equal(res.status, 401);
  });
});

describe('not audited', () => {
  test('queries, requests without a valid token, and operations that fail validation', async () => {
    const before = await countRows(t, 'audit_log');
    await ok('{ customers { totalCount } }', {});
    await newest(5);
    assert.equal((await t.gql(CREATE, { input: customer('anon') }, null)).status, 401);
    assert.equal((await t.gql(CREATE, { input: customer('anon') }, 'wrong-token-0123456789')).status, 401);
    const invalid = await t.gql('mutation { createCustomer(input: { id: "x" }) { id } }');
    assert.equal(invalid.errors?.[0]?.extensions.code, 'GRAPHQL_VALIDATION_FAILED');
    const badVariables = await t.gql(DELETE, { id: { not: 'an id' } });
    assert.equal(badVariables.errors?.[0]?.extensions.code, 'BAD_USER_INPUT');
    assert.equal(await countRows(t, 'audit_log'), before);
    assert.deepEqual(await t.dataSource.query(`SELECT id FROM customer WHERE id = 'anon'`), []);
  });
});

describe('graphql-ws', () => {
  test('mutations are refused over the websocket (it would bypass the audit), and change nothing', async () => {
    const ws = wsClient(t.api.url);
    try {
      const before = await countRows(t, 'audit_log');
      const result = await new Promise<{ errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }>((resolve, reject) => {
        let last: unknown;
        ws.subscribe({ query: CREATE, variables: { input: customer('over-ws') } }, {
          next: (value) => {
            last = value;
          },
          error: (err) => resolve({ errors: Array.isArray(err) ? err : [{ message: String(err) }] }),
          complete: () => resolve(last as { errors?: Array<{ message: string }> }),
        });
        setTimeout(() => reject(new Error('no answer over the websocket')), 5000).unref();
      });
      assert.match(result.errors?.[0]?.message ?? '', /HTTP/);
      assert.deepEqual(await t.dataSource.query(`SELECT id FROM customer WHERE id = 'over-ws'`), []);
      assert.equal(await countRows(t, 'audit_log'), before);
    } finally {
      await ws.dispose();
    }
  });
});

describe('when the audit log cannot be written', () => {
  test('a mutation whose entry cannot be written is refused (503) and changes nothing', async () => {
    await t.dataSource.query(`ALTER TABLE audit_log ADD CONSTRAINT test_no_inserts CHECK (false) NOT VALID`);
    try {
      const customers = await countRows(t, 'customer');
      const changes = await countRows(t, 'change_log');
      const res = await t.gql(CREATE, { input: customer('unaudited') });
      assert.equal(res.status, 503);
      assert.equal(res.errors?.[0]?.extensions.cdnCode, 'CDN_ERR_AUDIT_UNAVAILABLE');
      // Retryable like the database's own errors: clients retry on SERVICE_UNAVAILABLE.
      assert.equal(res.errors?.[0]?.extensions.code, 'SERVICE_UNAVAILABLE');
      assert.match(res.errors![0]!.message, /nothing was changed/);
      assert.equal(await countRows(t, 'customer'), customers);
      assert.equal(await countRows(t, 'change_log'), changes);
      assert.ok(t.logs.some((l) => l.includes('audit entry could not be written')));
      assert.match(await (await fetch(`${t.api.url}/metrics`)).text(), /cdn_api_audit_write_failures_total\{what="entry"\} 1/);
      // Queries need no audit entry.
      assert.equal((await t.gql('{ customers { totalCount } }')).errors, undefined);
    } finally {
      await t.dataSource.query(`ALTER TABLE audit_log DROP CONSTRAINT test_no_inserts`);
    }
  });

  test('a mutation that ran keeps its answer when its outcome cannot be recorded; the entry says outcome null', async () => {
    await t.dataSource.query(`ALTER TABLE audit_log ADD CONSTRAINT test_no_outcomes CHECK (outcome IS NULL) NOT VALID`);
    try {
      const res = await t.gql<{ createCustomer: { id: string } }>(CREATE, { input: customer('outcome-lost') });
      assert.equal(res.errors, undefined, res.text);
      assert.equal(res.data!.createCustomer.id, 'outcome-lost');
    } finally {
      await t.dataSource.query(`ALTER TABLE audit_log DROP CONSTRAINT test_no_outcomes`);
    }
    const [entry] = await newest(1, 'outcome-lost');
    assert.deepEqual([entry!.mutation, entry!.outcome, entry!.finishedAt], ['createCustomer', null, null]);
    assert.ok(t.logs.some((l) => l.includes('audit outcome could not be written')));
    assert.match(await (await fetch(`${t.api.url}/metrics`)).text(), /cdn_api_audit_write_failures_total\{what="outcome"\} 1/);
  });
});

describe('retention', () => {
  test('CDN_AUDIT_RETENTION_DAYS defaults to 90 and must be a whole number of days', () => {
    const env = { CDN_ADMIN_TOKEN: 'x'.repeat(16), CDN_SECRET_KEY: 'y'.repeat(32) };
    assert.equal(loadApiConfig(env).auditRetentionDays, 90);
    assert.equal(loadApiConfig({ ...env, CDN_AUDIT_RETENTION_DAYS: '7' }).auditRetentionDays, 7);
    assert.throws(() => loadApiConfig({ ...env, CDN_AUDIT_RETENTION_DAYS: '0' }), /CDN_AUDIT_RETENTION_DAYS/);
  });

  test('the sweep deletes entries older than the retention, in batches, and keeps the others', async () => {
    const insert = (daysAgo: number, mutation: string) =>
      t.dataSource.query(
        `INSERT INTO audit_log (at, actor_kind, actor_role, mutation, customer_id) VALUES (now() - make_interval(days => $1), 'admin', 'admin', $2, 'swept')`,
        [daysAgo, mutation],
      );
    for (let i = 0; i < 5; i++) await insert(91 + i, `old${i}`);
    await insert(89, 'recent');
    const service = new AuditService({ db: new Database(t.dataSource), logger: createLogger({ name: 'test', level: 'silent' }), retentionDays: 90, sweepBatch: 2 });
    assert.equal(await service.sweep(), 5);
    const left: Array<{ mutation: string }> = await t.dataSource.query(`SELECT mutation FROM audit_log WHERE customer_id = 'swept'`);
    assert.deepEqual(left, [{ mutation: 'recent' }]);
    assert.ok((await countRows(t, 'audit_log')) > 1, 'entries of this run are recent and stay');
    assert.equal(await service.sweep(), 0);
  });
});
