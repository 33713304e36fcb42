/**
 * The GraphQL contract on real PostgreSQL over real HTTP: every query and mutation,
 * every error code, the outbox and relay, and that no password ever leaves the api.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from 'pg';
import { SecretBox } from '../../src/core/secret-box';
import { SECRET_KEY, startTestApi, TOKEN, type TestApi, countRows, maxChangeSeq } from './api.harness';

const PASSWORD = 'origin-pa55word-never-returned';
const FIELDS = 'id name originUrl domains cacheTtl hasBasicAuth createdAt updatedAt';
const CREATE = `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { ${FIELDS} } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { ${FIELDS} } }`;
const DELETE = `mutation($id: ID!) { deleteCustomer(id: $id) }`;
const GET = `query($id: ID!) { customer(id: $id) { ${FIELDS} } }`;
const BY_DOMAIN = `query($d: String!) { customerByDomain(domain: $d) { id domains } }`;
const LIST = `query($first: Int, $after: String) { customers(first: $first, after: $after) { totalCount nodes { id } pageInfo { endCursor hasNextPage } } }`;

type Customer = { id: string; name: string; originUrl: string; domains: string[]; cacheTtl: number; hasBasicAuth: boolean; createdAt: string; updatedAt: string };

function input(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, name: `Customer ${id}`, originUrl: `https://origin.${id}.example/assets/`, domains: [`cdn.${id}.example`], ...extra };
}

let t: TestApi;
const bodies: string[] = [];

async function gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, token?: string | null) {
  const res = await t.gql<T>(query, variables, token);
  bodies.push(res.text);
  return res;
}

const count = (table: string): Promise<number> => countRows(t, table);
const maxSeq = (): Promise<number> => maxChangeSeq(t);

before(async () => {
  t = await startTestApi();
});

after(async () => {
  await t.close();
  // Checked last, over every response body of the file and every log line.
  for (const text of [...bodies, ...t.logs]) assert.ok(!text.includes(PASSWORD), `password leaked: ${text.slice(0, 200)}`);
});

describe('createCustomer', () => {
  test('creates a customer, normalising domains and origin, with default cacheTtl', async () => {
    const res = await gql<{ createCustomer: Customer }>(CREATE, {
      input: input('alpha', { domains: ['CDN.Alpha.Example.', 'www.alpha.example'], basicAuth: { username: 'u', password: PASSWORD } }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.errors, undefined);
    const c = res.data!.createCustomer;
    assert.equal(c.id, 'alpha');
    assert.deepEqual(c.domains, ['cdn.alpha.example', 'www.alpha.example']);
    assert.equal(c.originUrl, 'https://origin.alpha.example/assets');
    assert.equal(c.cacheTtl, 3600);
    assert.equal(c.hasBasicAuth, true);
    assert.ok(!Number.isNaN(Date.parse(c.createdAt)));
  });

  test('stores the password encrypted, and the relay publishes the change with a snapshot', async () => {
    const rows: Array<{ basic_auth_password_enc: string }> = await t.dataSource.query(
      `SELECT basic_auth_password_enc FROM customer WHERE id = 'alpha'`,
    );
    const stored = rows[0]!.basic_auth_password_enc;
    assert.notEqual(stored, PASSWORD);
    assert.ok(!stored.includes(PASSWORD));
    assert.equal(new SecretBox(SECRET_KEY).open(stored), PASSWORD);

    const seq = await maxSeq();
    await t.waitForBusSeq(seq);
    const changes = await t.bus.read(seq - 1, { blockMs: 0 });
    assert.equal(changes.kind, 'changes');
    const change = changes.kind === 'changes' ? changes.changes[0]! : assert.fail();
    assert.equal(change.seq, seq);
    assert.equal(change.event.kind, 'customer.upserted');
    const snapshot = (await t.bus.readSnapshot())!;
    assert.equal(snapshot.seq, seq);
    const inSnapshot = snapshot.customers.find((c) => c.id === 'alpha')!;
    assert.deepEqual(inSnapshot.domains, ['cdn.alpha.example', 'www.alpha.example']);
    assert.equal(inSnapshot.basicAuth?.passwordCiphertext, stored);
  });

  test('reports every bad field at once as BAD_USER_INPUT', async () => {
    const before = [await count('customer'), await count('change_log')];
    const res = await gql(CREATE, {
      input: {
        id: 'Bad_Slug',
        name: 'x',
        originUrl: 'https://user:secret@origin.example/',
        domains: ['ok.example', 'not a host', 'OK.example.'],
        cacheTtl: -1,
      },
    });
    assert.equal(res.errors?.length, 1);
    const err = res.errors![0]!;
    assert.equal(err.extensions.code, 'BAD_USER_INPUT');
    assert.equal(err.extensions.cdnCode, 'CDN_ERR_INPUT_INVALID');
    const fields = (err.extensions.fields as Array<{ field: string; message: string }>).map((f) => f.field);
    assert.deepEqual(fields.sort(), ['input.cacheTtl', 'input.domains[1]', 'input.domains[2]', 'input.id', 'input.originUrl'].sort());
    assert.match(err.message, /credentials/);
    assert.match(err.message, /repeats input\.domains\[0\]/);
    assert.deepEqual([await count('customer'), await count('change_log')], before);
  });

  test('rejects an ftp origin, empty domains and a TTL over one year', async () => {
    const res = await gql(CREATE, { input: input('beta', { originUrl: 'ftp://origin.example/', domains: [], cacheTtl: 366 * 24 * 3600 }) });
    const err = res.errors![0]!;
    assert.equal(err.extensions.code, 'BAD_USER_INPUT');
    const problems = err.extensions.fields as Array<{ field: string; message: string }>;
    assert.match(problems.find((p) => p.field === 'input.originUrl')!.message, /http or https/);
    assert.match(problems.find((p) => p.field === 'input.domains')!.message, /at least one/);
    assert.match(problems.find((p) => p.field === 'input.cacheTtl')!.message, /one year/);
  });

  test('CONFLICT when the id is taken', async () => {
    const res = await gql(CREATE, { input: input('alpha', { domains: ['other.alpha.example'] }) });
    assert.equal(res.errors![0]!.extensions.code, 'CONFLICT');
    assert.equal(res.errors![0]!.extensions.cdnCode, 'CDN_ERR_CUSTOMER_EXISTS');
    assert.match(res.errors![0]!.message, /"alpha"/);
  });

  test('CONFLICT naming the domain and its owner; nothing is written', async () => {
    const before = [await count('customer'), await count('domain'), await count('change_log')];
    const res = await gql(CREATE, { input: input('gamma', { domains: ['cdn.gamma.example', 'WWW.alpha.example'] }) });
    const err = res.errors![0]!;
    assert.equal(err.extensions.code, 'CONFLICT');
    assert.equal(err.extensions.domain, 'www.alpha.example');
    assert.equal(err.extensions.owner, 'alpha');
    assert.match(err.message, /www\.alpha\.example.*alpha/);
    assert.deepEqual([await count('customer'), await count('domain'), await count('change_log')], before);
    assert.equal((await gql(GET, { id: 'gamma' })).data!.customer, null);
  });

  test('concurrent creates claiming one domain: one wins, the other gets CONFLICT (unique violation race)', async () => {
    const results = await Promise.all(
      ['race-1', 'race-2', 'race-3'].map((id) => gql(CREATE, { input: input(id, { domains: ['race.example'] }) })),
    );
    const ok = results.filter((r) => r.errors === undefined);
    const conflicts = results.filter((r) => r.errors?.[0]?.extensions.code === 'CONFLICT');
    assert.equal(ok.length, 1);
    assert.equal(conflicts.length, 2);
    for (const c of conflicts) assert.equal(c.errors![0]!.extensions.domain, 'race.example');
  });

  test('a domain committed by another transaction after the check becomes CONFLICT too (23505 translated)', async () => {
    const other = new Client({ connectionString: t.databaseUrl });
    await other.connect();
    try {
      // Another api's transaction holds the domain, uncommitted: invisible to the service's check.
      await other.query('BEGIN');
      await other.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('sneaky', 'S', 'https://s.example', 60)`);
      await other.query(`INSERT INTO domain (hostname, customer_id) VALUES ('contested.example', 'sneaky')`);
      const pending = gql(CREATE, { input: input('late', { domains: ['contested.example'] }) });
      await new Promise((r) => setTimeout(r, 300));
      await other.query('COMMIT');
      const err = (await pending).errors![0]!;
      assert.equal(err.extensions.code, 'CONFLICT');
      assert.equal(err.extensions.cdnCode, 'CDN_ERR_DOMAIN_TAKEN');
      assert.equal(err.extensions.domain, 'contested.example');
      assert.equal(err.extensions.owner, 'sneaky');
      assert.equal((await gql(GET, { id: 'late' })).data!.customer, null);
    } finally {
      await other.end();
    }
  });

  test('refuses a private origin unless allowed (CDN_ALLOW_PRIVATE_ORIGINS)', async () => {
    const strict = await startTestApi({ CDN_ALLOW_PRIVATE_ORIGINS: 'false' });
    try {
      // Loopback, private, link-local (cloud metadata), unique-local, IPv4-mapped, and a host name that resolves to loopback.
      for (const originUrl of ['http://127.0.0.1:1/', 'http://10.0.0.7/', 'http://169.254.169.254/latest/meta-data/', 'http://[fd00::1]/', 'http://[::ffff:127.0.0.1]/', 'http://localhost:8080/']) {
        const res = await strict.gql(CREATE, { input: input('private', { originUrl }) });
        const err = res.errors![0]!;
        assert.equal(err.extensions.code, 'BAD_USER_INPUT', originUrl);
        assert.match(err.message, /input\.originUrl: .*CDN_ALLOW_PRIVATE_ORIGINS/, originUrl);
      }
      assert.equal(await countRows(strict, 'customer'), 0, 'nothing was stored');
      const ok = await strict.gql(CREATE, { input: input('public', { originUrl: 'http://93.184.215.14/' }) });
      assert.equal(ok.errors, undefined);
      const moved = await strict.gql('mutation { updateCustomer(id: "public", input: { originUrl: "http://localhost:9/" }) { id } }');
      assert.match(moved.errors![0]!.message, /input\.originUrl: .*CDN_ALLOW_PRIVATE_ORIGINS/, 'checked again on update');
    } finally {
      await strict.close();
    }
  });
});

describe('queries', () => {
  test('customer by id, and null for an unknown id', async () => {
    const res = await gql<{ customer: Customer }>(GET, { id: 'alpha' });
    assert.equal(res.data!.customer.name, 'Customer alpha');
    assert.equal((await gql(GET, { id: 'nobody' })).data!.customer, null);
  });

  test('customerByDomain ignores case and a trailing dot', async () => {
    const res = await gql<{ customerByDomain: { id: string } }>(BY_DOMAIN, { d: 'WWW.ALPHA.Example.' });
    assert.equal(res.data!.customerByDomain.id, 'alpha');
    assert.equal((await gql(BY_DOMAIN, { d: 'unknown.example' })).data!.customerByDomain, null);
  });

  test('customers pages through everyone by id with totalCount', async () => {
    for (const id of ['p-1', 'p-2', 'p-3', 'p-4', 'p-5']) assert.equal((await gql(CREATE, { input: input(id) })).errors, undefined);
    const all = await gql<{ customers: { totalCount: number; nodes: { id: string }[] } }>(LIST, { first: 500 });
    const expected = all.data!.customers.nodes.map((n) => n.id);
    assert.deepEqual(expected, [...expected].sort());
    assert.equal(all.data!.customers.totalCount, expected.length);

    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 20; page++) {
      const res: Awaited<ReturnType<typeof gql<{ customers: { totalCount: number; nodes: { id: string }[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } } }>>> =
        await gql(LIST, { first: 2, after: cursor });
      const conn = res.data!.customers;
      assert.equal(conn.totalCount, expected.length);
      assert.ok(conn.nodes.length <= 2);
      seen.push(...conn.nodes.map((n) => n.id));
      cursor = conn.pageInfo.endCursor;
      if (!conn.pageInfo.hasNextPage) break;
    }
    assert.deepEqual(seen, expected);
  });

  test('first outside 1..500 and a foreign cursor are BAD_USER_INPUT', async () => {
    for (const first of [0, 501]) {
      const err = (await gql(LIST, { first })).errors![0]!;
      assert.equal(err.extensions.code, 'BAD_USER_INPUT');
      assert.match(err.message, /first/);
    }
    const err = (await gql(LIST, { after: 'not-a-cursor' })).errors![0]!;
    assert.equal(err.extensions.code, 'BAD_USER_INPUT');
    assert.match(err.message, /after/);
  });
});

describe('updateCustomer and deleteCustomer', () => {
  test('updates a subset; basicAuth absent keeps it; writes one change_log row', async () => {
    const seqBefore = await maxSeq();
    const res = await gql<{ updateCustomer: Customer }>(UPDATE, { id: 'alpha', input: { cacheTtl: 60, name: 'Alpha Renamed' } });
    assert.equal(res.errors, undefined);
    const c = res.data!.updateCustomer;
    assert.equal(c.cacheTtl, 60);
    assert.equal(c.name, 'Alpha Renamed');
    assert.equal(c.hasBasicAuth, true);
    assert.deepEqual(c.domains, ['cdn.alpha.example', 'www.alpha.example']);
    assert.equal(await maxSeq(), seqBefore + 1);
    await t.waitForBusSeq(seqBefore + 1);
    const snap = (await t.bus.readSnapshot())!;
    assert.equal(snap.customers.find((x) => x.id === 'alpha')!.cacheTtl, 60);
  });

  test('domains replaces the set, freeing the old ones; basicAuth null removes it', async () => {
    const res = await gql<{ updateCustomer: Customer }>(UPDATE, { id: 'alpha', input: { domains: ['new.alpha.example'], basicAuth: null } });
    assert.equal(res.errors, undefined);
    assert.deepEqual(res.data!.updateCustomer.domains, ['new.alpha.example']);
    assert.equal(res.data!.updateCustomer.hasBasicAuth, false);
    const rows: Array<{ u: string | null; p: string | null }> = await t.dataSource.query(
      `SELECT basic_auth_username AS u, basic_auth_password_enc AS p FROM customer WHERE id = 'alpha'`,
    );
    assert.deepEqual(rows[0], { u: null, p: null });
    assert.equal((await gql(BY_DOMAIN, { d: 'cdn.alpha.example' })).data!.customerByDomain, null);
    assert.equal((await gql(CREATE, { input: input('delta', { domains: ['cdn.alpha.example'] }) })).errors, undefined);
  });

  test('sets Basic Auth again on update', async () => {
    const res = await gql<{ updateCustomer: Customer }>(UPDATE, { id: 'alpha', input: { basicAuth: { username: 'x', password: PASSWORD } } });
    assert.equal(res.data!.updateCustomer.hasBasicAuth, true);
  });

  test('update errors: NOT_FOUND, BAD_USER_INPUT, CONFLICT with the owner; nothing changes', async () => {
    assert.equal((await gql(UPDATE, { id: 'nobody', input: { name: 'x' } })).errors![0]!.extensions.code, 'NOT_FOUND');
    const bad = (await gql(UPDATE, { id: 'alpha', input: { name: null, cacheTtl: 31536001, originUrl: 'nope' } })).errors![0]!;
    assert.equal(bad.extensions.code, 'BAD_USER_INPUT');
    const fields = (bad.extensions.fields as Array<{ field: string }>).map((f) => f.field).sort();
    assert.deepEqual(fields, ['input.cacheTtl', 'input.name', 'input.originUrl']);
    const seq = await maxSeq();
    const conflict = (await gql(UPDATE, { id: 'alpha', input: { name: 'Changed', domains: ['new.alpha.example', 'cdn.alpha.example'] } })).errors![0]!;
    assert.equal(conflict.extensions.code, 'CONFLICT');
    assert.equal(conflict.extensions.owner, 'delta');
    assert.equal(await maxSeq(), seq);
    assert.equal((await gql<{ customer: Customer }>(GET, { id: 'alpha' })).data!.customer.name, 'Alpha Renamed');
  });

  test('deleteCustomer removes the customer and its domains, publishes customer.deleted; NOT_FOUND after', async () => {
    const seqBefore = await maxSeq();
    const res = await gql<{ deleteCustomer: boolean }>(DELETE, { id: 'delta' });
    assert.equal(res.data!.deleteCustomer, true);
    assert.equal(await maxSeq(), seqBefore + 1);
    const domains: unknown[] = await t.dataSource.query(`SELECT * FROM domain WHERE customer_id = 'delta'`);
    assert.equal(domains.length, 0);
    await t.waitForBusSeq(seqBefore + 1);
    const read = await t.bus.read(seqBefore, { blockMs: 0 });
    assert.ok(read.kind === 'changes');
    assert.deepEqual(read.changes.map((c) => c.event), [{ kind: 'customer.deleted', v: 1, customerId: 'delta' }]);
    assert.equal((await t.bus.readSnapshot())!.customers.some((c) => c.id === 'delta'), false);
    const again = (await gql(DELETE, { id: 'delta' })).errors![0]!;
    assert.equal(again.extensions.code, 'NOT_FOUND');
    assert.equal(again.extensions.cdnCode, 'CDN_ERR_CUSTOMER_NOT_FOUND');
  });
});

describe('authentication', () => {
  test('no token and a wrong token answer 401 UNAUTHENTICATED for queries and mutations', async () => {
    for (const token of [null, 'wrong-token-wrong-token', '']) {
      for (const [q, v] of [[LIST, {}], [CREATE, { input: input('intruder') }]] as const) {
        const res = await gql(q, v, token);
        assert.equal(res.status, 401);
        assert.equal(res.errors![0]!.extensions.code, 'UNAUTHENTICATED');
        assert.equal(res.data, undefined);
      }
    }
    assert.equal((await gql(GET, { id: 'intruder' })).data!.customer, null);
  });

  test('a non-Bearer scheme is refused', async () => {
    const res = await fetch(`${t.api.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`a:${TOKEN}`).toString('base64')}` },
      body: JSON.stringify({ query: '{ customers { totalCount } }' }),
    });
    assert.equal(res.status, 401);
  });
});

describe('plain HTTP routes', () => {
  test('GET /graphql from a browser is the self-contained IDE, without the token', async () => {
    const res = await fetch(`${t.api.url}/graphql`, { headers: { accept: 'text/html,application/xhtml+xml' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    const html = await res.text();
    assert.match(html, /<title>Edgeplane GraphQL<\/title>/);
    assert.ok(!/<script[^>]+src=["']https?:/i.test(html), 'loads a script from outside');
    assert.ok(!/<link[^>]+href=["']https?:/i.test(html), 'loads a stylesheet from outside');
    assert.ok(!html.includes(TOKEN));
    assert.ok(html.includes('Bearer <paste token>'));
    assert.ok(html.includes('"subscriptionsProtocol":"WS"'));
  });

  test('a GraphQL body over 1 MiB is refused with 413', async () => {
    const res = await fetch(`${t.api.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ query: `{ customers { totalCount } }`, variables: { pad: 'x'.repeat(1024 * 1024) } }),
    });
    assert.equal(res.status, 413);
  });

  test('/healthz, /readyz and /metrics answer without auth', async () => {
    assert.equal((await fetch(`${t.api.url}/healthz`)).status, 200);
    const ready = await fetch(`${t.api.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ok', checks: { database: 'ok', bus: 'ok' } });
    const metrics = await (await fetch(`${t.api.url}/metrics`)).text();
    assert.match(metrics, /cdn_api_graphql_operations_total\{operation="createCustomer",outcome="ok"\} \d+/);
    assert.match(metrics, /cdn_api_graphql_operations_total\{operation="unknown",outcome="unauthenticated"\} \d+/);
    assert.match(metrics, /cdn_api_relay_published_seq \d+/);
    assert.match(metrics, /process_cpu_user_seconds_total/);
  });
});
