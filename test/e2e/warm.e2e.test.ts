/**
 * Cache warming end to end, with real processes (`cdn api`, `cdn edge` from dist), real
 * PostgreSQL and real Redis, and a real origin that records every request: who asked (the
 * warm request's User-Agent names the edge process, and the edge passes it on), and how many
 * each edge had in flight at once.
 *
 * - warmCache of N URLs: every edge asks the origin once per URL, never more than
 *   CDN_EDGE_WARM_CONCURRENCY at once; then client requests to both edges are HITs; warmStatus
 *   reports each edge's progress to DONE and ends.
 * - A named edge warms alone.
 * - A cluster edge (two workers) warms once: one worker takes the warm, every URL once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually, graphqlRequest, httpGet, logLines, spawnCdn, stackEnv, type CdnProcess } from '../support/processes';
import { createTestDatabase, createTestRedisPrefix, type TestDatabase, type TestRedis } from '../support/services';
import { followSubscription, type Followed } from '../support/subscriptions';

const TOKEN = 'e2e-warm-token-0123456789abcdef';
const SECRET = 'e2e-warm-secret-0123456789abcdef-0123456789';
const CUSTOMER = 'warm-co';
const HOST = 'cdn.warm-co.test';
const CONCURRENCY = 3;
const URLS = 15;
const ORIGIN_DELAY_MS = 120;

const WARM_FIELDS = 'id urls edgeId completedAt edgesTotal edgesDone edges { edgeId state urlsDone urlsFailed urlsTotal reason }';
const WARM_CACHE = `mutation($customerId: ID!, $urls: [String!]!, $edgeId: ID) { warmCache(customerId: $customerId, urls: $urls, edgeId: $edgeId) { ${WARM_FIELDS} } }`;

type WarmEdge = { edgeId: string; state: string; urlsDone: number; urlsFailed: number; urlsTotal: number; reason: string | null };
type Warm = { id: string; urls: string[]; edgeId: string | null; completedAt: string | null; edgesTotal: number; edgesDone: number; edges: WarmEdge[] };
type StatusEvent = { edge: WarmEdge | null; warm: Pick<Warm, 'completedAt' | 'edgesDone' | 'edges'> };

interface Edge {
  id: string;
  proc: CdnProcess;
  url: string;
}

interface Recorded {
  url: string;
  userAgent: string;
}

let db: TestDatabase;
let redis: TestRedis;
let env: Record<string, string>;
let apiUrl: string;
let edge1: Edge;
let edge2: Edge;
const processes: CdnProcess[] = [];
const tempDirs: string[] = [];

/** The origin: records each request, answers a cacheable stylesheet after a delay, counts requests in flight per asking edge. */
const recorded: Recorded[] = [];
const inFlight = new Map<string, number>();
const peak = new Map<string, number>();
let origin: Server;
let originUrl: string;

/** The edge process a warm request came from: `Edgeplane-warm/<version> (<process id>)`. */
function warmer(userAgent: string): string | undefined {
  return /^Edgeplane-warm\/\S+ \((.+)\)$/.exec(userAgent)?.[1];
}

async function startOrigin(): Promise<void> {
  origin = createServer((req, res) => {
    const userAgent = req.headers['user-agent'] ?? '';
    const who = warmer(userAgent) ?? 'client';
    recorded.push({ url: req.url!, userAgent });
    inFlight.set(who, (inFlight.get(who) ?? 0) + 1);
    peak.set(who, Math.max(peak.get(who) ?? 0, inFlight.get(who)!));
    setTimeout(() => {
      inFlight.set(who, inFlight.get(who)! - 1);
      res.writeHead(200, { 'content-type': 'text/css', 'cache-control': 'max-age=3600' }).end(`/* ${req.url} */ body { margin: 0 }\n`.repeat(20));
    }, ORIGIN_DELAY_MS);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
}

async function startEdge(id: string, extra: Record<string, string> = {}): Promise<Edge> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-warm-edge-'));
  tempDirs.push(dataDir);
  const proc = spawnCdn(['edge'], { ...env, CDN_DATA_DIR: dataDir, CDN_EDGE_ID: id, ...extra });
  processes.push(proc);
  const listening = await proc.waitForLog('edge listening');
  return { id, proc, url: String(listening.url) };
}

async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await graphqlRequest<T>(apiUrl, TOKEN, query, variables);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data!;
}

/** warmStatus over graphql-ws: every event, until the server completes it. */
function follow(id: string): Followed<StatusEvent> {
  return followSubscription<StatusEvent>(
    apiUrl,
    TOKEN,
    'subscription($id: ID!) { warmStatus(id: $id) { edge { edgeId state urlsDone urlsFailed urlsTotal reason } warm { completedAt edgesDone edges { edgeId state urlsDone urlsFailed urlsTotal reason } } } }',
    { id },
    'warmStatus',
  );
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function cacheOf(edge: Edge, urlPath: string): Promise<string> {
  const res = await httpGet(`${edge.url}${urlPath}`, HOST, { freshConnection: true });
  assert.equal(res.status, 200, `${edge.id} ${urlPath}: ${res.body}`);
  return String(res.headers['x-cache']);
}

/** Origin requests of a warm's paths, by the edge process that asked. */
function askedBy(prefix: string): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const r of recorded.filter((x) => x.url.startsWith(prefix))) {
    const who = warmer(r.userAgent) ?? 'client';
    by.set(who, [...(by.get(who) ?? []), r.url]);
  }
  return by;
}

before(async () => {
  db = await createTestDatabase();
  redis = createTestRedisPrefix();
  await startOrigin();
  env = stackEnv(
    { databaseUrl: db.url, redisUrl: redis.url, redisPrefix: redis.prefix, adminToken: TOKEN, secretKey: SECRET },
    { CDN_EDGE_WORKERS: '1', CDN_EDGE_HEARTBEAT_MS: '200', CDN_EDGE_WARM_CONCURRENCY: String(CONCURRENCY), CDN_EDGE_WARM_RATE_PER_SECOND: '200' },
  );
  const apiDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-warm-api-'));
  tempDirs.push(apiDir);
  const api = spawnCdn(['api'], { ...env, CDN_DATA_DIR: apiDir });
  processes.push(api);
  apiUrl = String((await api.waitForLog('api listening')).url).replace(/\/graphql$/, '');
  [edge1, edge2] = await Promise.all([startEdge('edge-1'), startEdge('edge-2')]);
  await gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', { input: { id: CUSTOMER, name: 'Warm Co', originUrl, domains: [HOST] } });
  await eventually(async () => (await gql<{ edges: Array<{ edgeId: string }> }>('{ edges { edgeId } }')).edges.length === 2, 10_000, 'both edges live');
  for (const edge of [edge1, edge2]) await eventually(async () => (await httpGet(`${edge.url}/probe`, HOST)).status === 200, 10_000, `${edge.id} serves the customer`);
});

after(async () => {
  const codes = await Promise.all(processes.map(async (proc) => ({ proc, code: await proc.stop() })));
  await new Promise<void>((resolve) => {
    origin?.closeAllConnections();
    origin?.close(() => resolve());
  });
  await db?.drop();
  await redis?.cleanup();
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
  for (const { proc, code } of codes) assert.equal(code, 0, `a process did not exit cleanly:\n${proc.output().slice(-3000)}`);
});

test('warmCache: every edge asks the origin once per URL, at most CDN_EDGE_WARM_CONCURRENCY at once; then HITs at both edges; warmStatus to DONE per edge', async () => {
  const paths = Array.from({ length: URLS }, (_, i) => `/all/${i}.css`);
  const { warmCache: warm } = await gql<{ warmCache: Warm }>(WARM_CACHE, { customerId: CUSTOMER, urls: [...paths, `http://${HOST}/all/0.css`] });
  assert.equal(warm.urls.length, URLS, 'the duplicate folded');
  assert.deepEqual(warm.edges.map((e) => e.edgeId), ['edge-1', 'edge-2']);
  const status = follow(warm.id);
  try {
    await within(status.ended, 30_000, 'warmStatus ends');
  } finally {
    await status.close();
  }

  // The origin: each URL once from each edge, never more than the concurrency at once per edge.
  const by = askedBy('/all/');
  assert.deepEqual([...by.keys()].sort(), ['edge-1', 'edge-2'], 'only the warms asked the origin');
  for (const edge of ['edge-1', 'edge-2']) {
    assert.deepEqual(by.get(edge)!.sort(), [...paths].sort(), `${edge} asked for each URL once`);
    assert.ok(peak.get(edge)! <= CONCURRENCY, `${edge} had ${peak.get(edge)} at once at the origin`);
    assert.ok(peak.get(edge)! >= 2, `${edge} did warm concurrently (peak ${peak.get(edge)})`);
  }

  // Progress per edge, over the subscription, to the end.
  const events = status.events;
  assert.equal(events[0]!.edge, null);
  const last = events.at(-1)!;
  assert.notEqual(last.warm.completedAt, null);
  assert.equal(last.warm.edgesDone, 2);
  assert.deepEqual(last.warm.edges.map((e) => [e.edgeId, e.state, e.urlsDone, e.urlsFailed, e.urlsTotal]), [
    ['edge-1', 'DONE', URLS, 0, URLS],
    ['edge-2', 'DONE', URLS, 0, URLS],
  ]);
  for (const edge of ['edge-1', 'edge-2']) {
    const steps = events.filter((e) => e.edge?.edgeId === edge).map((e) => e.edge!);
    assert.equal(steps.at(-1)!.state, 'DONE', `${edge} reported done`);
    for (let i = 1; i < steps.length; i++) assert.ok(steps[i]!.urlsDone >= steps[i - 1]!.urlsDone, `${edge}'s progress never goes back`);
  }

  // Clients now get HITs at both edges, and the origin hears nothing more.
  const before = recorded.length;
  for (const edge of [edge1, edge2]) for (const p of paths) assert.equal(await cacheOf(edge, p), 'HIT', `${edge.id} ${p}`);
  assert.equal(recorded.length, before);
});

test('a named edge warms alone', async () => {
  const paths = ['/named/a.css', '/named/b.css', '/named/c.css'];
  const { warmCache: warm } = await gql<{ warmCache: Warm }>(WARM_CACHE, { customerId: CUSTOMER, urls: paths, edgeId: 'edge-2' });
  assert.deepEqual([warm.edgeId, warm.edges.map((e) => e.edgeId)], ['edge-2', ['edge-2']]);
  const done = await within(
    (async () => {
      for (;;) {
        const w = (await gql<{ warm: Warm }>(`query($id: ID!) { warm(id: $id) { ${WARM_FIELDS} } }`, { id: warm.id })).warm;
        if (w.completedAt !== null) return w;
        await new Promise((r) => setTimeout(r, 100));
      }
    })(),
    30_000,
    'the named warm completes',
  );
  assert.deepEqual(done.edges.map((e) => [e.edgeId, e.state, e.urlsDone]), [['edge-2', 'DONE', 3]]);
  assert.deepEqual([...askedBy('/named/').keys()], ['edge-2'], 'edge-1 asked the origin nothing');
  for (const p of paths) {
    assert.equal(await cacheOf(edge2, p), 'HIT');
    assert.equal(await cacheOf(edge1, p), 'MISS', 'edge-1 was not warmed');
  }
});

test('a cluster edge warms once for its workers: one worker takes the warm, each URL once at the origin', async () => {
  const cluster = await startEdge('edge-c', { CDN_EDGE_WORKERS: '2' });
  await eventually(async () => (await gql<{ edges: Array<{ edgeId: string }> }>('{ edges { edgeId } }')).edges.filter((e) => e.edgeId.startsWith('edge-c#')).length === 2, 15_000, 'both workers live');
  const paths = Array.from({ length: 8 }, (_, i) => `/cluster/${i}.css`);
  const { warmCache: warm } = await gql<{ warmCache: Warm }>(WARM_CACHE, { customerId: CUSTOMER, urls: paths, edgeId: 'edge-c' });
  assert.deepEqual(warm.edges.map((e) => e.edgeId), ['edge-c'], 'one edge for the machine, not one per worker');
  await eventually(async () => (await gql<{ warm: Warm }>(`query($id: ID!) { warm(id: $id) { ${WARM_FIELDS} } }`, { id: warm.id })).warm.completedAt !== null, 30_000, 'the cluster warm completes');
  const by = askedBy('/cluster/');
  assert.equal(by.size, 1, `one worker asked the origin: ${[...by.keys()].join(', ')}`);
  const [worker, asked] = [...by.entries()][0]!;
  assert.match(worker, /^edge-c#\d+$/);
  assert.deepEqual(asked.sort(), [...paths].sort(), 'each URL once for the whole machine');
  const taken = logLines(cluster.proc, 'warming').filter((l) => l.warmId === warm.id);
  assert.equal(taken.length, 1, 'one worker took the warm up');
  for (const p of paths) assert.equal(await cacheOf(cluster, p), 'HIT', `the cluster serves ${p} from cache, whichever worker answers`);
});
