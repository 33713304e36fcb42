/**
 * The whole path with real processes: a `cdn api` and a `cdn edge` process against the
 * real PostgreSQL and Redis, and demo origins as real HTTP servers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDemoOrigin, type DemoOrigin } from '../../src/demo/demo-origin';
import { createTestDatabase, createTestRedisPrefix, type TestDatabase, type TestRedis } from '../support/services';
import { eventually, graphqlRequest, httpGet, spawnCdn, stackEnv, type CdnProcess } from '../support/processes';

const TOKEN = 'e2e-admin-token-0123456789abcdef';
const SECRET = 'e2e-secret-key-0123456789abcdef-0123456789';

let db: TestDatabase;
let redis: TestRedis;
let dataDir: string;
let api: CdnProcess;
let api2: CdnProcess;
let api2Url: string;
let edge: CdnProcess;
let edge2: CdnProcess;
let edge2Url: string;
let dataDir2: string;
let apiUrl: string;
let edgeUrl: string;
let originA: DemoOrigin;
let originB: DemoOrigin;
let originA2: DemoOrigin;

before(async () => {
  db = await createTestDatabase();
  redis = createTestRedisPrefix();
  dataDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-e2e-'));
  originA = await startDemoOrigin({ customerId: 'customer-a', basicAuth: { username: 'alice', password: 's3cret-pass' } });
  originB = await startDemoOrigin({ customerId: 'customer-b' });
  originA2 = await startDemoOrigin({ customerId: 'customer-a-v2' });
  const env = stackEnv({ databaseUrl: db.url, redisUrl: redis.url, redisPrefix: redis.prefix, adminToken: TOKEN, secretKey: SECRET }, { CDN_DATA_DIR: dataDir });
  // Two apis starting at once on an empty database: migrations run once, under a lock.
  api = spawnCdn(['api'], env);
  api2 = spawnCdn(['api'], env);
  apiUrl = String((await api.waitForLog('api listening')).url).replace(/\/graphql$/, '');
  api2Url = String((await api2.waitForLog('api listening')).url).replace(/\/graphql$/, '');
  edge = spawnCdn(['edge'], env);
  edgeUrl = String((await edge.waitForLog('edge listening')).url);
  // A second edge sharing nothing with the first but Redis.
  dataDir2 = await mkdtemp(path.join(tmpdir(), 'edgeplane-e2e-'));
  edge2 = spawnCdn(['edge'], { ...env, CDN_DATA_DIR: dataDir2 });
  edge2Url = String((await edge2.waitForLog('edge listening')).url);
});

after(async () => {
  const codes = await Promise.all([edge?.stop(), edge2?.stop(), api?.stop(), api2?.stop()]);
  await Promise.all([originA?.close(), originB?.close(), originA2?.close()]);
  await db?.drop();
  await redis?.cleanup();
  await rm(dataDir, { recursive: true, force: true });
  await rm(dataDir2, { recursive: true, force: true });
  assert.deepEqual(codes, [0, 0, 0, 0], 'edges and apis exit 0 on SIGTERM');
});

const CREATE = `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id hasBasicAuth } }`;

test('a customer created through GraphQL is served by the edge: MISS, then HIT, with Basic Auth at the origin', async () => {
  const created = await graphqlRequest(apiUrl, TOKEN, CREATE, {
    input: {
      id: 'customer-a',
      name: 'Customer A',
      originUrl: originA.url,
      domains: ['cdn.customer-a.test'],
      basicAuth: { username: 'alice', password: 's3cret-pass' },
    },
  });
  assert.equal(created.errors, undefined, JSON.stringify(created.errors));
  assert.doesNotMatch(JSON.stringify(created), /s3cret-pass/);

  let first: Awaited<ReturnType<typeof httpGet>> | undefined;
  const took = await eventually(
    async () => {
      const res = await httpGet(`${edgeUrl}/image.json`, 'cdn.customer-a.test');
      if (res.status === 200) first = res;
      else assert.equal(res.status, 404, 'before the change arrives the host is unknown');
      return first !== undefined;
    },
    1000,
    'new customer served by the edge',
  );
  assert.ok(took <= 1000);
  assert.ok(first);
  assert.equal(first.headers['x-cache'], 'MISS');
  assert.equal(JSON.parse(first.body).customer, 'customer-a');

  const second = await httpGet(`${edgeUrl}/image.json`, 'cdn.customer-a.test');
  assert.equal(second.status, 200);
  assert.equal(second.headers['x-cache'], 'HIT');
  assert.equal(second.body, first.body);

  const atOrigin = originA.requests.filter((r) => r.url === '/image.json');
  assert.equal(atOrigin.length, 1, 'the origin is asked once');

  // The second edge heard of the customer too, and keeps its own cache.
  const onEdge2 = await httpGet(`${edge2Url}/image.json`, 'cdn.customer-a.test');
  assert.equal(onEdge2.status, 200);
  assert.equal(onEdge2.headers['x-cache'], 'MISS');
  assert.equal(JSON.parse(onEdge2.body).customer, 'customer-a');
  assert.equal(atOrigin[0]!.headers.authorization, `Basic ${Buffer.from('alice:s3cret-pass').toString('base64')}`);
});

test('two customers asking for the same path each get their own origin (created through a second api)', async () => {
  const created = await graphqlRequest(api2Url, TOKEN, CREATE, {
    input: { id: 'customer-b', name: 'Customer B', originUrl: originB.url, domains: ['cdn.customer-b.test'] },
  });
  assert.equal(created.errors, undefined, JSON.stringify(created.errors));
  await eventually(async () => (await httpGet(`${edgeUrl}/image.json`, 'cdn.customer-b.test')).status === 200, 1000, 'customer b served');
  const a = await httpGet(`${edgeUrl}/image.json`, 'cdn.customer-a.test');
  const b = await httpGet(`${edgeUrl}/image.json`, 'cdn.customer-b.test');
  assert.equal(JSON.parse(a.body).customer, 'customer-a');
  assert.equal(JSON.parse(b.body).customer, 'customer-b');
});

test('after the origin URL changes, the next miss goes to the new origin', async () => {
  const updated = await graphqlRequest(apiUrl, TOKEN, `mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { originUrl } }`, {
    id: 'customer-a',
    input: { originUrl: originA2.url, basicAuth: null },
  });
  assert.equal(updated.errors, undefined, JSON.stringify(updated.errors));
  await eventually(
    async () => {
      const res = await httpGet(`${edgeUrl}/fresh-${Date.now()}.json`, 'cdn.customer-a.test');
      return res.status === 200 && JSON.parse(res.body).customer === 'customer-a-v2';
    },
    1000,
    'misses go to the new origin',
  );
  assert.ok(originA2.requests.length >= 1);
  assert.equal(originA2.requests.at(-1)!.headers.authorization, undefined, 'removed Basic Auth is not sent');
});

test('a deleted customer answers 404 within a second; an unknown host never reaches an origin', async () => {
  const deleted = await graphqlRequest(apiUrl, TOKEN, `mutation { deleteCustomer(id: "customer-b") }`);
  assert.deepEqual(deleted.data, { deleteCustomer: true });
  await eventually(async () => (await httpGet(`${edgeUrl}/image.json`, 'cdn.customer-b.test')).status === 404, 1000, 'deleted host 404');
  await eventually(async () => (await httpGet(`${edge2Url}/image.json`, 'cdn.customer-b.test')).status === 404, 1000, 'deleted host 404 on the second edge');

  const before = originA.requests.length + originB.requests.length + originA2.requests.length;
  const unknown = await httpGet(`${edgeUrl}/image.json`, 'nobody.example.com');
  assert.equal(unknown.status, 404);
  assert.deepEqual(JSON.parse(unknown.body), { error: 'unknown_host', code: 'CDN_ERR_EDGE_UNKNOWN_HOST', message: 'No customer serves the host "nobody.example.com". Check the address, or add the domain to a customer.', host: 'nobody.example.com' });
  assert.equal(originA.requests.length + originB.requests.length + originA2.requests.length, before);
});
