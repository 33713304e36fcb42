/**
 * Live stats end to end, with real processes: `cdn api` and `cdn edge` (from dist) on real
 * PostgreSQL and Redis, and a demo origin. The test sends N real requests through the edge;
 * a graphql-ws client subscribed to `cacheStats` receives events whose requests add up to
 * exactly N (each within about an interval and the grace), with the misses' origin latency,
 * the edge named in the breakdown, and the same traffic in `cacheStatsHistory`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startDemoOrigin, type DemoOrigin } from '../../src/demo/demo-origin';
import { eventually, graphqlRequest, httpGet, spawnCdn, stackEnv, type CdnProcess } from '../support/processes';
import { createTestDatabase, createTestRedisPrefix, type TestDatabase, type TestRedis } from '../support/services';

const TOKEN = 'e2e-stats-token-0123456789abcdef';
const SECRET = 'e2e-stats-secret-0123456789abcdef-0123456789';
const CUSTOMER = 'stats-co';
const HOST = 'cdn.stats-co.test';
const EDGE_ID = 'stats-edge-1';
/** Requests sent: 10 distinct paths, each 6 times (10 misses, then hits). */
const PATHS = 10;
const REPEAT = 6;
const N = PATHS * REPEAT;

type CacheStats = {
  at: string;
  requests: number;
  hitRatio: number | null;
  originP50Ms: number | null;
  edges: Array<{ edgeId: string; requests: number }>;
};

const CACHE_STATS = `subscription($customerId: ID!) {
  cacheStats(customerId: $customerId) { at requests hitRatio originP50Ms edges { edgeId requests } }
}`;
const HISTORY = 'query($customerId: ID!) { cacheStatsHistory(customerId: $customerId, minutes: 1) { at requests } }';

let db: TestDatabase;
let redis: TestRedis;
let origin: DemoOrigin;
let api: { proc: CdnProcess; url: string };
let edge: { proc: CdnProcess; url: string };
let ws: Client;
const tempDirs: string[] = [];

before(async () => {
  db = await createTestDatabase();
  redis = createTestRedisPrefix();
  origin = await startDemoOrigin({ customerId: CUSTOMER });
  const env = stackEnv({ databaseUrl: db.url, redisUrl: redis.url, redisPrefix: redis.prefix, adminToken: TOKEN, secretKey: SECRET }, { CDN_EDGE_WORKERS: '1' });
  const apiDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-stats-api-'));
  const edgeDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-stats-edge-'));
  tempDirs.push(apiDir, edgeDir);
  const apiProc = spawnCdn(['api'], { ...env, CDN_DATA_DIR: apiDir });
  api = { proc: apiProc, url: String((await apiProc.waitForLog('api listening')).url).replace(/\/graphql$/, '') };
  const edgeProc = spawnCdn(['edge'], { ...env, CDN_DATA_DIR: edgeDir, CDN_EDGE_ID: EDGE_ID });
  edge = { proc: edgeProc, url: String((await edgeProc.waitForLog('edge listening')).url) };
  const created = await graphqlRequest(api.url, TOKEN, 'mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', {
    input: { id: CUSTOMER, name: 'Stats Co', originUrl: origin.url, domains: [HOST] },
  });
  assert.equal(created.errors, undefined, JSON.stringify(created.errors));
  await eventually(async () => (await httpGet(`${edge.url}/warm-up`, HOST)).status === 200, 10_000, 'the edge serves the customer');
  ws = createClient({ url: `${api.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${TOKEN}` }, retryAttempts: 0, lazy: true });
});

after(async () => {
  await ws?.dispose();
  for (const [what, proc] of [['edge', edge?.proc], ['api', api?.proc]] as const) {
    if (proc) assert.equal(await proc.stop(), 0, `${what} exits 0 on SIGTERM. Output:\n${proc.output().slice(-3000)}`);
  }
  await origin?.close();
  await redis?.cleanup();
  await db?.drop();
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

test('N requests through a real edge add up to N in the cacheStats events, and in the history', async () => {
  const events: CacheStats[] = [];
  const errors: unknown[] = [];
  const iterator = ws.iterate<{ cacheStats: CacheStats }>({ query: CACHE_STATS, variables: { customerId: CUSTOMER } });
  const reading = (async () => {
    try {
      for await (const r of iterator) {
        if (r.errors) errors.push(...r.errors);
        else events.push(r.data!.cacheStats);
      }
    } catch (err) {
      errors.push(err);
    }
  })();
  try {
    // The warm-up request's second is long shown once an interval ending 3 s later arrives.
    const quietFrom = Date.now() + 3000;
    await eventually(async () => events.some((e) => Date.parse(e.at) >= quietFrom), 10_000, 'an event after the warm-up traffic');
    assert.deepEqual(errors, []);
    const marker = events.length;

    for (let round = 0; round < REPEAT; round += 1) {
      for (let p = 0; p < PATHS; p += 1) {
        const res = await httpGet(`${edge.url}/object-${p}.json`, HOST);
        assert.equal(res.status, 200, res.body);
        assert.equal(res.headers['x-cache'], round === 0 ? 'MISS' : 'HIT');
      }
    }
    const sent = Date.now();

    const counted = (): CacheStats[] => events.slice(marker);
    const sum = (list: CacheStats[]): number => list.reduce((total, e) => total + e.requests, 0);
    await eventually(async () => sum(counted()) >= N, 15_000, `events adding up to ${N} requests (so far ${sum(counted())})`);
    // Two more intervals: nothing more may arrive (no request counted twice).
    const settled = counted().length + 2;
    await eventually(async () => counted().length >= settled, 10_000, 'two more events');
    assert.deepEqual(errors, []);
    assert.equal(sum(counted()), N, JSON.stringify(counted()));

    const busy = counted().filter((e) => e.requests > 0);
    assert.deepEqual([...new Set(busy.flatMap((e) => e.edges.map((edge) => edge.edgeId)))], [EDGE_ID]);
    assert.ok(busy.some((e) => e.originP50Ms !== null), 'the misses report origin latency');
    const hits = busy.reduce((total, e) => total + (e.hitRatio ?? 0) * e.requests, 0);
    assert.ok(Math.abs(hits - (N - PATHS)) < 1e-6, `hits ${hits}, expected ${N - PATHS}`);
    // Within the interval: the last busy event ends soon after the last request was sent.
    assert.ok(Date.parse(busy[busy.length - 1]!.at) <= sent + 3000, `last traffic shown at ${busy[busy.length - 1]!.at}, sent by ${new Date(sent).toISOString()}`);

    const history = await graphqlRequest<{ cacheStatsHistory: Array<{ at: string; requests: number }> }>(api.url, TOKEN, HISTORY, { customerId: CUSTOMER });
    assert.equal(history.errors, undefined, JSON.stringify(history.errors));
    const after = history.data!.cacheStatsHistory.filter((h) => Date.parse(h.at) > Date.parse(events[marker - 1]!.at));
    assert.equal(sum(after as CacheStats[]), N);

    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    assert.match(metrics, /^cdn_api_subscriptions_open\{subscription="cacheStats"\} 1$/m);
    assert.match(metrics, /^cdn_api_stats_reports_total [1-9]/m);
  } finally {
    await iterator.return?.();
    await reading;
  }
});
