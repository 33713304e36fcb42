/**
 * The api attacked as an outsider would, over real HTTP on real PostgreSQL (issue 12):
 * control characters in every free-text field (a NUL used to reach PostgreSQL and come back
 * as INTERNAL_SERVER_ERROR; CR/LF and ESC were stored), in lookup arguments and through the
 * `cdn token` command. Each refusal is BAD_USER_INPUT naming the field, nothing is written,
 * and the clean request afterwards succeeds. And what a customer-scoped token learns about
 * other customers from error messages: nothing (a CONFLICT used to name the domain's owner).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from 'pg';
import { isPlainText } from '../../src/core/text.rules';
import { countRows, SECRET_KEY, startTestApi, type GqlResponse, type TestApi } from './api.harness';

const ROOT = path.resolve(__dirname, '..', '..');
const CHARS = { NUL: '\u0000', ESC: '\u001b', CR: '\r', LF: '\n' } as const;
const MORE = { TAB: '\t', DEL: '\u007f', NEL: '\u0085', LS: '\u2028', 'lone surrogate': '\ud800' } as const;
const CODE_POINT: Record<string, string> = { NUL: 'U+0000', ESC: 'U+001B', CR: 'U+000D', LF: 'U+000A', TAB: 'U+0009', DEL: 'U+007F', NEL: 'U+0085', LS: 'U+2028', 'lone surrogate': 'U+D800' };

const CREATE = 'mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id name hasBasicAuth } }';
const UPDATE = 'mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { id name hasBasicAuth } }';
const CREATE_TOKEN = 'mutation($input: CreateTokenInput!) { createToken(input: $input) { secret token { id name } } }';
const PURGE = 'mutation($input: PurgeInput!) { purgeCache(input: $input) { id value } }';

let t: TestApi;

before(async () => {
  t = await startTestApi();
  const r = await t.gql(CREATE, { input: { id: 'acme', name: 'Acme', originUrl: 'https://origin.acme.example', domains: ['cdn.acme.test'] } });
  assert.equal(r.errors, undefined, r.text);
});

after(async () => {
  const unexpected = t?.logs.filter((l) => l.includes('unexpected error in a GraphQL operation')) ?? [];
  await t?.close();
  assert.deepEqual(unexpected, [], 'no request of this file may end in an internal error');
});

/** Everything a refused request must leave alone. */
async function state(): Promise<string> {
  const counts = await Promise.all(['customer', 'domain', 'api_token', 'purge', 'change_log'].map((table) => countRows(t, table)));
  const acme: unknown[] = await t.dataSource.query(`SELECT name, origin_url, basic_auth_username, basic_auth_password_enc, version FROM customer WHERE id = 'acme'`);
  return JSON.stringify({ counts, acme });
}

function assertRefused(r: GqlResponse, field: string, codePoint: string): void {
  const err = r.errors?.[0];
  assert.ok(err, `expected BAD_USER_INPUT for ${field}, got ${r.text.slice(0, 300)}`);
  assert.equal(err.extensions.code, 'BAD_USER_INPUT', r.text.slice(0, 300));
  assert.equal(err.extensions.cdnCode, 'CDN_ERR_INPUT_INVALID');
  const problem = (err.extensions.fields as Array<{ field: string; message: string }>).find((p) => p.field === field);
  assert.ok(problem, `${field} not named in ${JSON.stringify(err.extensions.fields)}`);
  assert.ok(problem.message.includes(codePoint), problem.message);
  assert.ok(err.message.includes(`${field}: `), err.message);
}

let serial = 0;
/** Fresh ids and domains for each clean request. */
function fresh(): { id: string; domain: string } {
  serial += 1;
  return { id: `clean-${serial}`, domain: `cdn.clean-${serial}.test` };
}

interface Case {
  op: 'createCustomer' | 'updateCustomer' | 'createToken' | 'purgeCache';
  field: string;
  /** The request carrying `text` (the attack when it holds a control character). */
  send(text: (clean: string) => string): Promise<GqlResponse>;
}

const customerInput = (extra: Record<string, unknown>, ids = fresh()): Record<string, unknown> => ({
  id: ids.id,
  name: 'Clean Name',
  originUrl: 'https://origin.clean.example',
  domains: [ids.domain],
  ...extra,
});

const CASES: Case[] = [
  { op: 'createCustomer', field: 'input.name', send: (x) => t.gql(CREATE, { input: customerInput({ name: x('Evil Corp') }) }) },
  { op: 'createCustomer', field: 'input.basicAuth.username', send: (x) => t.gql(CREATE, { input: customerInput({ basicAuth: { username: x('origin-user'), password: 'pw' } }) }) },
  { op: 'createCustomer', field: 'input.basicAuth.password', send: (x) => t.gql(CREATE, { input: customerInput({ basicAuth: { username: 'origin-user', password: x('pass word') } }) }) },
  { op: 'createCustomer', field: 'input.originUrl', send: (x) => t.gql(CREATE, { input: customerInput({ originUrl: x('https://origin.clean.example/base') }) }) },
  { op: 'createCustomer', field: 'input.queryString.allow[0]', send: (x) => t.gql(CREATE, { input: customerInput({ queryString: { mode: 'ALLOWLIST', allow: [x('version')] } }) }) },
  { op: 'createCustomer', field: 'input.domains[0]', send: (x) => t.gql(CREATE, { input: customerInput({}, ((ids) => ({ ...ids, domain: x(ids.domain) }))(fresh())) }) },
  { op: 'updateCustomer', field: 'input.name', send: (x) => t.gql(UPDATE, { id: 'acme', input: { name: x('Acme Renamed') } }) },
  { op: 'updateCustomer', field: 'input.basicAuth.username', send: (x) => t.gql(UPDATE, { id: 'acme', input: { basicAuth: { username: x('acme-user'), password: 'pw' } } }) },
  { op: 'updateCustomer', field: 'input.basicAuth.password', send: (x) => t.gql(UPDATE, { id: 'acme', input: { basicAuth: { username: 'acme-user', password: x('pass word') } } }) },
  { op: 'createToken', field: 'input.name', send: (x) => t.gql(CREATE_TOKEN, { input: { name: x('deploy bot'), role: 'VIEWER', expiresIn: '1h' } }) },
  { op: 'createToken', field: 'input.customerId', send: (x) => t.gql(CREATE_TOKEN, { input: { name: 'viewer', role: 'CUSTOMER_VIEWER', customerId: x('acme'), expiresIn: '1h' } }) },
  { op: 'purgeCache', field: 'input.customerId', send: (x) => t.gql(PURGE, { input: { customerId: x('acme'), kind: 'ALL' } }) },
  { op: 'purgeCache', field: 'input.value', send: (x) => t.gql(PURGE, { input: { customerId: 'acme', kind: 'URL', value: x('/img/logo.png') } }) },
  { op: 'purgeCache', field: 'input.value', send: (x) => t.gql(PURGE, { input: { customerId: 'acme', kind: 'PREFIX', value: x('/img/') } }) },
  { op: 'purgeCache', field: 'input.value', send: (x) => t.gql(PURGE, { input: { customerId: 'acme', kind: 'TAG', value: x('product-42') } }) },
];

/** The character inside the clean text (at position 3) and at its end (where trimming must not hide it). */
const PLACES: Array<(clean: string, ch: string) => string> = [
  (clean, ch) => `${clean.slice(0, 2)}${ch}${clean.slice(2)}`,
  (clean, ch) => `${clean}${ch}`,
];

describe('control characters in free text are BAD_USER_INPUT naming the field; nothing is written; the clean request succeeds', () => {
  for (const c of CASES) {
    test(`${c.op} ${c.field}`, async () => {
      for (const [name, ch] of Object.entries({ ...CHARS, ...MORE })) {
        for (const place of PLACES) {
          const before = await state();
          const r = await c.send((clean) => place(clean, ch));
          assertRefused(r, c.field, CODE_POINT[name]!);
          assert.equal(await state(), before, `${name} in ${c.field}: something was written`);
        }
      }
      const clean = await c.send((text) => text);
      assert.equal(clean.errors, undefined, clean.text);
    });
  }
});

test('a refused name is not stored and a clean one is stored as sent (other scripts and emoji are fine)', async () => {
  const ids = fresh();
  const bad = await t.gql(CREATE, { input: customerInput({ name: 'Evil\u001b]0;pwned\u0007Corp' }, ids) });
  assertRefused(bad, 'input.name', 'U+001B');
  assert.equal((await t.gql<{ customer: null }>('query($id: ID!) { customer(id: $id) { id } }', { id: ids.id })).data!.customer, null);
  const good = await t.gql<{ createCustomer: { name: string } }>(CREATE, { input: customerInput({ name: 'Zürich 東京 😀' }, ids) });
  assert.equal(good.errors, undefined, good.text);
  assert.equal(good.data!.createCustomer.name, 'Zürich 東京 😀');
});

test('a NUL in a lookup argument answers like an unknown id (or an invalid cursor), never an internal error', async () => {
  const nul = 'acme\u0000';
  const cursor = Buffer.from('v1:acme\u0000', 'utf8').toString('base64url');
  const expectations: Array<[string, string, Record<string, unknown>, (r: GqlResponse) => void]> = [
    ['customer', 'query($id: ID!) { customer(id: $id) { id } }', { id: nul }, (r) => assert.deepEqual(r.data, { customer: null })],
    ['customerByDomain', 'query($d: String!) { customerByDomain(domain: $d) { id } }', { d: 'cdn.acme.test\u0000' }, (r) => assert.deepEqual(r.data, { customerByDomain: null })],
    ['updateCustomer', 'mutation($id: ID!) { updateCustomer(id: $id, input: { cacheTtl: 60 }) { id } }', { id: nul }, (r) => assert.equal(r.errors?.[0]?.extensions.code, 'NOT_FOUND')],
    ['deleteCustomer', 'mutation($id: ID!) { deleteCustomer(id: $id) }', { id: nul }, (r) => assert.equal(r.errors?.[0]?.extensions.code, 'NOT_FOUND')],
    ['customers(after)', 'query($a: String) { customers(after: $a) { totalCount } }', { a: cursor }, (r) => assert.equal(r.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')],
    ['purges', 'query($id: ID!) { purges(customerId: $id) { totalCount } }', { id: nul }, (r) => assert.equal(r.errors?.[0]?.extensions.code, 'NOT_FOUND')],
    ['tokens', 'query($id: ID) { tokens(customerId: $id) { id } }', { id: nul }, (r) => assert.deepEqual(r.data, { tokens: [] })],
    ['cacheStatsHistory', 'query($id: ID!) { cacheStatsHistory(customerId: $id, minutes: 1) { requests } }', { id: nul }, (r) => assert.equal(r.errors?.[0]?.extensions.code, 'NOT_FOUND')],
    ['auditLog', 'query($id: ID) { auditLog(customerId: $id) { nodes { id } } }', { id: nul }, (r) => assert.equal(r.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')],
  ];
  for (const [name, query, variables, check] of expectations) {
    const before = await state();
    const r = await t.gql(query, variables);
    assert.notEqual(r.errors?.[0]?.extensions.code, 'INTERNAL_SERVER_ERROR', `${name}: ${r.text}`);
    check(r);
    assert.equal(await state(), before, name);
  }
  // The same lookups without the NUL still find acme.
  assert.deepEqual((await t.gql('{ customer(id: "acme") { id } }')).data, { customer: { id: 'acme' } });
  assert.deepEqual((await t.gql('{ customerByDomain(domain: "cdn.acme.test") { id } }')).data, { customerByDomain: { id: 'acme' } });
});

/** `cdn token …` from the sources, on the test database; resolves with its exit code and output. */
function cdnToken(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('NODE_TEST') && k !== 'NODE_OPTIONS' && k !== 'REDIS_URL') env[k] = v;
  Object.assign(env, { DATABASE_URL: t.databaseUrl, CDN_SECRET_KEY: SECRET_KEY, SWC_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') });
  const script = `require(${JSON.stringify(path.join(ROOT, 'src', 'bin', 'cdn.ts'))}).main(process.argv.slice(1))`;
  const child = spawn(process.execPath, ['--require', '@swc-node/register', '-e', script, 'token', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

test('cdn token create --name with ESC, CR or LF exits 1 naming --name\'s field and the character, creates nothing; a clean name works', async () => {
  // A NUL cannot reach a command line at all (argv strings end at NUL); these can.
  for (const [name, ch] of Object.entries({ ESC: CHARS.ESC, CR: CHARS.CR, LF: CHARS.LF })) {
    const before = await countRows(t, 'api_token');
    const r = await cdnToken(['create', '--role', 'viewer', '--name', `ci${ch}bot`, '--expires-in', '1h']);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.equal(r.stdout, '', 'no token is printed');
    assert.match(r.stderr, new RegExp(`cdn token: Invalid input: input\\.name: must not contain control characters \\(found ${CODE_POINT[name]!.replace('+', '\\+')} at position 3\\)`));
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
    assert.equal(await countRows(t, 'api_token'), before, name);
  }
  const ok = await cdnToken(['create', '--role', 'viewer', '--name', 'ci bot', '--expires-in', '1h']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout.trim(), /^[\w-]+\.[\w-]+\.[\w-]+$/);
});

test('cdn token list prints a name stored before the rule (an ESC sequence) escaped, not raw to the terminal', async () => {
  await t.dataSource.query(
    `INSERT INTO api_token (id, name, role, customer_id, token_sha256, created_at, expires_at, created_by)
     VALUES ('00000000-0000-4000-8000-00000000e5c0', $1, 'viewer', NULL, repeat('e', 64), now(), now() + interval '1 hour', 'cli')`,
    ['legacy\u001b]0;owned\u0007\u001b[2J name'],
  );
  const r = await cdnToken(['list']);
  assert.equal(r.code, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => l.startsWith('00000000-0000-4000-8000-00000000e5c0'));
  assert.ok(line, r.stdout);
  assert.ok(line.endsWith('legacy\\u{1b}]0;owned\\u{7}\\u{1b}[2J name'), line);
  assert.equal(isPlainText(r.stdout.replaceAll('\n', '')), true, 'no control character reaches the terminal');
});

describe('messages to a customer-scoped token name nothing outside its customer', () => {
  const OTHER_NAME = 'Globex Secret Holdings';
  const OTHER_DOMAIN = 'shop.example.net';
  const tokens: { acmeAdmin: string; globexTokenId: string; globexPurgeId: string } = { acmeAdmin: '', globexTokenId: '', globexPurgeId: '' };

  /** Nothing of globex in the answer: neither its id nor its name (`input` lists what the caller itself sent, if it named globex). */
  function assertNothingOfGlobex(r: GqlResponse, what: string, sentId = false): void {
    assert.ok(!r.text.toLowerCase().includes(OTHER_NAME.toLowerCase()), `${what} leaks the name: ${r.text}`);
    if (!sentId) assert.ok(!r.text.toLowerCase().includes('globex'), `${what} leaks the id: ${r.text}`);
  }

  before(async () => {
    const created = await t.gql(CREATE, { input: { id: 'globex', name: OTHER_NAME, originUrl: 'https://origin.globex.example', domains: [OTHER_DOMAIN] } });
    assert.equal(created.errors, undefined, created.text);
    const admin = await t.gql<{ createToken: { secret: string } }>(CREATE_TOKEN, { input: { name: 'acme admin', role: 'CUSTOMER_ADMIN', customerId: 'acme', expiresIn: '1h' } });
    assert.equal(admin.errors, undefined, admin.text);
    tokens.acmeAdmin = admin.data!.createToken.secret;
    const globexToken = await t.gql<{ createToken: { token: { id: string } } }>(CREATE_TOKEN, { input: { name: 'globex viewer', role: 'CUSTOMER_VIEWER', customerId: 'globex', expiresIn: '1h' } });
    tokens.globexTokenId = globexToken.data!.createToken.token.id;
    const purge = await t.gql<{ purgeCache: { id: string } }>(PURGE, { input: { customerId: 'globex', kind: 'ALL' } });
    tokens.globexPurgeId = purge.data!.purgeCache.id;
  });

  test("a CUSTOMER_ADMIN adding another customer's domain gets CONFLICT without that customer's id or name; an ADMIN still learns the owner", async () => {
    const attack = { id: 'acme', input: { domains: ['cdn.acme.test', OTHER_DOMAIN] } };
    const before = await state();
    const r = await t.gql(UPDATE, attack, tokens.acmeAdmin);
    const err = r.errors?.[0];
    assert.equal(err?.extensions.code, 'CONFLICT', r.text);
    assert.equal(err.extensions.cdnCode, 'CDN_ERR_DOMAIN_TAKEN');
    assert.equal(err.extensions.domain, OTHER_DOMAIN);
    assert.equal('owner' in err.extensions, false, r.text);
    assert.deepEqual(err.extensions.taken, [{ domain: OTHER_DOMAIN }]);
    assert.equal(err.message, `Domain "${OTHER_DOMAIN}" is already in use by another customer. A domain can belong to one customer only; choose another domain, or ask an operator if it should be yours.`);
    assertNothingOfGlobex(r, 'CONFLICT to the customer admin');
    assert.equal(await state(), before, 'nothing changed');

    const asAdmin = await t.gql(UPDATE, attack);
    assert.equal(asAdmin.errors?.[0]?.extensions.code, 'CONFLICT');
    assert.equal(asAdmin.errors[0].extensions.owner, 'globex');
    assert.match(asAdmin.errors[0].message, /already belongs to customer "globex"/);
    assert.equal(await state(), before);

    const clean = await t.gql<{ updateCustomer: { id: string } }>(UPDATE, { id: 'acme', input: { domains: ['cdn.acme.test', 'www.acme.test'] } }, tokens.acmeAdmin);
    assert.equal(clean.errors, undefined, clean.text);
  });

  test('the same when the other customer claims the domain between the check and the write (unique violation)', async () => {
    const other = new Client({ connectionString: t.databaseUrl });
    await other.connect();
    try {
      // Another api's transaction holds the domain, uncommitted: invisible to the service's check.
      await other.query('BEGIN');
      await other.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('sneaky-owner', 'Sneaky Secret Inc', 'https://s.example', 60)`);
      await other.query(`INSERT INTO domain (hostname, customer_id) VALUES ('contested.example.org', 'sneaky-owner')`);
      const pending = t.gql(UPDATE, { id: 'acme', input: { domains: ['cdn.acme.test', 'contested.example.org'] } }, tokens.acmeAdmin);
      await new Promise((r) => setTimeout(r, 300));
      await other.query('COMMIT');
      const r = await pending;
      assert.equal(r.errors?.[0]?.extensions.code, 'CONFLICT', r.text);
      assert.equal(r.errors[0].extensions.domain, 'contested.example.org');
      assert.equal('owner' in r.errors[0].extensions, false, r.text);
      assert.ok(!/sneaky/i.test(r.text), r.text);
      assert.match(r.errors[0].message, /already in use by another customer/);
    } finally {
      await other.end();
    }
  });

  test("no other answer to the customer admin about globex's customer, domain, purges or tokens names it", async () => {
    const as = (query: string, variables: Record<string, unknown> = {}): Promise<GqlResponse> => t.gql(query, variables, tokens.acmeAdmin);
    const notFound = (r: GqlResponse, what: string): void => assert.equal(r.errors?.[0]?.extensions.code, 'NOT_FOUND', `${what}: ${r.text}`);
    // Asked by globex's id: NOT_FOUND, repeating only the id the caller sent.
    for (const [what, query, variables] of [
      ['customer', 'query($id: ID!) { customer(id: $id) { id name } }', { id: 'globex' }],
      ['updateCustomer', 'mutation($id: ID!) { updateCustomer(id: $id, input: { cacheTtl: 5 }) { id } }', { id: 'globex' }],
      ['purgeCache', 'mutation { purgeCache(input: { customerId: "globex", kind: ALL }) { id } }', {}],
      ['purges', '{ purges(customerId: "globex") { totalCount } }', {}],
      ['tokens', '{ tokens(customerId: "globex") { id } }', {}],
      ['createToken', 'mutation { createToken(input: { name: "x", role: CUSTOMER_VIEWER, customerId: "globex" }) { secret } }', {}],
      ['cacheStatsHistory', '{ cacheStatsHistory(customerId: "globex", minutes: 1) { requests } }', {}],
    ] as const) {
      const r = await as(query, variables);
      notFound(r, what);
      assertNothingOfGlobex(r, what, true);
    }
    // Asked by something else of globex's: the answer does not say whose it is.
    const byDomain = await as('query($d: String!) { customerByDomain(domain: $d) { id name } }', { d: OTHER_DOMAIN });
    assert.deepEqual(byDomain.data, { customerByDomain: null });
    assertNothingOfGlobex(byDomain, 'customerByDomain');
    const purge = await as('query($id: ID!) { purge(id: $id) { id customer { id } } }', { id: tokens.globexPurgeId });
    assert.deepEqual(purge.data, { purge: null });
    assertNothingOfGlobex(purge, 'purge');
    const revoke = await as('mutation($id: ID!) { revokeToken(id: $id) { id } }', { id: tokens.globexTokenId });
    notFound(revoke, 'revokeToken');
    assertNothingOfGlobex(revoke, 'revokeToken');
    const foreignUrl = await as('mutation($v: String) { purgeCache(input: { customerId: "acme", kind: URL, value: $v }) { id } }', { v: `https://${OTHER_DOMAIN}/a.png` });
    assert.equal(foreignUrl.errors?.[0]?.extensions.code, 'BAD_USER_INPUT');
    assertNothingOfGlobex(foreignUrl, 'purgeCache with a URL on globex\'s domain');
  });
});
