/**
 * Purges under faults, with real processes (`cdn api`, `cdn edge` from dist), real
 * PostgreSQL and real Redis (issue 4, "Fault tests"): two apis and two edges; an edge
 * stopped (SIGSTOP) during a purge; Redis restarted empty (a private redis-server, never
 * the shared one); an api gone between commit and publish; a burst of 10,000 purges.
 *
 * Edges run as one process each (CDN_EDGE_WORKERS=1), so each is one edge in `edges`.
 * Nothing here waits a fixed time and then asserts: every wait is `eventually` with a
 * bound, and the few plain sleeps only make a fault last long enough to matter.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDemoOrigin, type DemoOrigin } from '../../src/demo/demo-origin';
import { eventually, graphqlRequest, httpGet, spawnCdn, stackEnv, type CdnProcess, type HttpResult } from '../support/processes';
import { followPurge, insertPurgesInSql, PURGE_FIELDS, sql, type Purge } from '../support/purge.fixtures';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-server';
import { createTestDatabase, createTestRedisPrefix, type TestDatabase, type TestRedis } from '../support/services';

const TOKEN = 'e2e-purge-token-0123456789abcdef';
const SECRET = 'e2e-purge-secret-0123456789abcdef-0123456789';
const CUSTOMER = 'purge-co';
const HOST = 'cdn.purge-co.test';
const HEARTBEAT_MS = 200;
/** Edge 2 is the one stopped in case 2: its heartbeat lives 3 s, so "stopped but still live" is a window, not a race. */
const SLOW_HEARTBEAT_MS = 1000;
const MAX_DETACHED_SECONDS = 2;
const BURST = 10_000;

const PURGE_CACHE = `mutation($input: PurgeInput!) { purgeCache(input: $input) { ${PURGE_FIELDS} } }`;
const GET_PURGE = `query($id: ID!) { purge(id: $id) { ${PURGE_FIELDS} } }`;
const EDGES = '{ edges { edgeId host pid version appliedSeq lastHeartbeat ready cacheObjects cacheBytes } }';
const CREATE = 'mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }';

type EdgeRow = { edgeId: string; host: string; pid: number; version: string; appliedSeq: number; lastHeartbeat: string; ready: boolean; cacheObjects: number; cacheBytes: number };

interface Api {
  proc: CdnProcess;
  url: string;
}

interface Edge {
  id: string;
  proc: CdnProcess;
  url: string;
  adminUrl: string;
}

let db: TestDatabase;
let redis: TestRedis;
let origin: DemoOrigin;
let apiA: Api;
let apiB: Api;
let edge1: Edge;
let edge2: Edge;
/** Every process started here, for `after`; those killed on purpose are in `killed`. */
const processes: CdnProcess[] = [];
const killed = new Set<CdnProcess>();
const tempDirs: string[] = [];
/** Case 3's own database and Redis. */
let db3: TestDatabase | undefined;
let privateRedis: PrivateRedis | undefined;
/** Samples /readyz of both edges from `before` to the end of case 1 (idle, connected edges stay ready). */
let readinessWatch: ReadinessWatch;

function baseEnv(database: TestDatabase, redisUrl: string, prefix: string): Record<string, string> {
  return stackEnv(
    { databaseUrl: database.url, redisUrl, redisPrefix: prefix, adminToken: TOKEN, secretKey: SECRET },
    { CDN_EDGE_WORKERS: '1', CDN_EDGE_MAX_DETACHED_SECONDS: String(MAX_DETACHED_SECONDS) },
  );
}

async function startApi(env: Record<string, string>): Promise<Api> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-purge-api-'));
  tempDirs.push(dataDir);
  const proc = spawnCdn(['api'], { ...env, CDN_DATA_DIR: dataDir });
  processes.push(proc);
  const url = String((await proc.waitForLog('api listening')).url).replace(/\/graphql$/, '');
  return { proc, url };
}

async function startEdge(env: Record<string, string>, id: string, heartbeatMs: number): Promise<Edge> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-purge-edge-'));
  tempDirs.push(dataDir);
  const proc = spawnCdn(['edge'], { ...env, CDN_DATA_DIR: dataDir, CDN_EDGE_ID: id, CDN_EDGE_HEARTBEAT_MS: String(heartbeatMs) });
  processes.push(proc);
  const listening = await proc.waitForLog('edge listening');
  return { id, proc, url: String(listening.url), adminUrl: String(listening.admin) };
}

/** SIGTERM, and the exit code must be 0. */
async function stopCleanly(proc: CdnProcess, what: string): Promise<void> {
  assert.equal(await proc.stop(), 0, `${what} exits 0 on SIGTERM. Output:\n${proc.output().slice(-3000)}`);
}

function sigkill(proc: CdnProcess): void {
  killed.add(proc);
  process.kill(-proc.child.pid!, 'SIGKILL');
}

async function gql<T>(apiUrl: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await graphqlRequest<T>(apiUrl, TOKEN, query, variables);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data!;
}

async function purgeCache(apiUrl: string, input: Record<string, unknown>): Promise<Purge> {
  return (await gql<{ purgeCache: Purge }>(apiUrl, PURGE_CACHE, { input: { customerId: CUSTOMER, ...input } })).purgeCache;
}

async function getPurge(apiUrl: string, id: string): Promise<Purge> {
  const purge = (await gql<{ purge: Purge | null }>(apiUrl, GET_PURGE, { id })).purge;
  assert.ok(purge, `purge ${id} exists`);
  return purge;
}

async function liveEdges(apiUrl: string): Promise<EdgeRow[]> {
  return (await gql<{ edges: EdgeRow[] }>(apiUrl, EDGES)).edges;
}

async function get(edge: Edge, urlPath: string, host = HOST): Promise<HttpResult> {
  return httpGet(`${edge.url}${urlPath}`, host);
}

/** The X-Cache of a GET that must answer 200. */
async function cacheOf(edge: Edge, urlPath: string, host = HOST): Promise<string> {
  const res = await get(edge, urlPath, host);
  assert.equal(res.status, 200, `${edge.id} ${urlPath}: ${res.body}`);
  return String(res.headers['x-cache']);
}

/** Fetches each path until the edge answers it from cache. */
async function warm(edges: Edge[], paths: string[], host = HOST): Promise<void> {
  for (const edge of edges) {
    for (const p of paths) await eventually(async () => (await cacheOf(edge, p, host)) === 'HIT', 5000, `${edge.id} caches ${p}`);
  }
}

async function readyz(edge: Edge): Promise<{ status: number; appliedSeq: number; body: Record<string, unknown> }> {
  const res = await fetch(`${edge.adminUrl}/readyz`);
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, appliedSeq: Number(body.appliedSeq), body };
}

async function appliedAtLeast(edge: Edge, seq: number, timeoutMs: number): Promise<void> {
  await eventually(async () => (await readyz(edge)).appliedSeq >= seq, timeoutMs, `${edge.id} applies seq ${seq}`);
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ReadinessWatch {
  /** Stops sampling; every answer that was not 200, and how long it sampled. */
  stop(): Promise<{ samples: number; failures: string[]; spanMs: number }>;
  spanMs(): number;
}

/** Polls /readyz of each edge every 100 ms. */
function watchReadiness(edges: Edge[]): ReadinessWatch {
  const started = Date.now();
  let stopped = false;
  let samples = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (!stopped) {
      for (const edge of edges) {
        const r = await readyz(edge).catch((err: unknown) => ({ status: 0, appliedSeq: -1, body: { err: String(err) } }));
        samples += 1;
        if (r.status !== 200) failures.push(`${edge.id} at +${Date.now() - started} ms: ${r.status} ${JSON.stringify(r.body)}`);
      }
      await sleep(100);
    }
  })();
  return {
    spanMs: () => Date.now() - started,
    async stop() {
      stopped = true;
      await loop;
      return { samples, failures, spanMs: Date.now() - started };
    },
  };
}

before(async () => {
  db = await createTestDatabase();
  redis = createTestRedisPrefix();
  origin = await startDemoOrigin({ customerId: CUSTOMER });
  const env = baseEnv(db, redis.url, redis.prefix);
  // Two apis at once on an empty database: migrations run once, under a lock.
  [apiA, apiB] = await Promise.all([startApi(env), startApi(env)]);
  [edge1, edge2] = await Promise.all([startEdge(env, 'edge-1', HEARTBEAT_MS), startEdge(env, 'edge-2', SLOW_HEARTBEAT_MS)]);
  await gql(apiA.url, CREATE, { input: { id: CUSTOMER, name: 'Purge Co', originUrl: origin.url, domains: [HOST] } });
  for (const edge of [edge1, edge2]) {
    await eventually(async () => (await get(edge, '/hello.json')).status === 200, 5000, `${edge.id} serves the customer`);
    await eventually(async () => (await readyz(edge)).status === 200, 5000, `${edge.id} ready`);
  }
  readinessWatch = watchReadiness([edge1, edge2]);
});

after(async () => {
  await readinessWatch?.stop();
  // A stopped process cannot act on SIGTERM: let it run again first.
  for (const proc of processes) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      try {
        process.kill(-proc.child.pid!, 'SIGCONT');
      } catch {
        // already gone
      }
    }
  }
  const codes = await Promise.all(processes.map(async (proc) => ({ proc, code: await proc.stop() })));
  await privateRedis?.kill();
  await origin?.close();
  await db?.drop();
  await db3?.drop();
  await redis?.cleanup();
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  const unclean = codes.filter(({ proc, code }) => !killed.has(proc) && code !== 0);
  assert.deepEqual(
    unclean.map(({ code }) => code),
    [],
    `every process exits 0 on SIGTERM. Output of the others:\n${unclean.map(({ proc }) => proc.output().slice(-2000)).join('\n---\n')}`,
  );
});

test('two apis and two edges: both edges are listed live, and URL and PREFIX purges issued on either api reach both', async () => {
  for (const api of [apiA, apiB]) {
    await eventually(
      async () => {
        const edges = await liveEdges(api.url);
        // appliedSeq comes with each heartbeat: edge-2's are slow, so its first ones may predate the customer.
        return edges.length === 2 && edges.every((e) => e.ready && e.cacheObjects >= 0 && e.appliedSeq >= 1);
      },
      10_000,
      'both edges live and ready in `edges`, with the customer creation applied',
    );
    const edges = await liveEdges(api.url);
    assert.deepEqual(edges.map((e) => e.edgeId), ['edge-1', 'edge-2']);
    assert.deepEqual(edges.map((e) => e.pid), [edge1.proc.child.pid, edge2.proc.child.pid]);
    for (const e of edges) {
      assert.ok(e.appliedSeq >= 1, 'the customer creation is applied');
      assert.match(e.version, /^\d+\.\d+\.\d+/);
      assert.ok(e.host.length > 0);
    }
  }

  const paths = ['/u/one.json', '/u/two.json', '/p/x.json', '/p/y.json', '/keep.json'];
  await warm([edge1, edge2], paths);

  // URL on api A, PREFIX on api B, each waiting for every live edge.
  const byUrl = await purgeCache(apiA.url, { kind: 'URL', value: '/u/one.json', waitForEdges: true, waitTimeoutMs: 10_000 });
  const byPrefix = await purgeCache(apiB.url, { kind: 'PREFIX', value: '/p/', waitForEdges: true, waitTimeoutMs: 10_000 });
  for (const purge of [byUrl, byPrefix]) {
    assert.equal(purge.edgesTotal, 2, JSON.stringify(purge));
    assert.equal(purge.edgesApplied, 2, JSON.stringify(purge));
    assert.ok(purge.completedAt !== null, 'complete when every live edge has applied it');
    assert.deepEqual(purge.edges.map((e) => [e.edgeId, e.live, e.appliedAt !== null]), [['edge-1', true, true], ['edge-2', true, true]]);
  }
  assert.ok(byPrefix.seq > byUrl.seq);
  // A URL purge removes the one object (acks carry the count). An edge may count as applied
  // from its heartbeat's appliedSeq a moment before its ack is stored (objectsRemoved null
  // until then, as the schema says): wait for both acks, then check the counts.
  let acked = byUrl;
  await eventually(
    async () => {
      acked = await getPurge(apiA.url, byUrl.id);
      return acked.edges.every((e) => e.objectsRemoved !== null);
    },
    10_000,
    'both edges acked the URL purge',
  );
  assert.deepEqual(acked.edges.map((e) => e.objectsRemoved), [1, 1]);

  // Applied means in effect: no waiting here.
  for (const edge of [edge1, edge2]) {
    assert.equal(await cacheOf(edge, '/u/one.json'), 'MISS', `${edge.id}: URL-purged object`);
    assert.equal(await cacheOf(edge, '/p/x.json'), 'MISS', `${edge.id}: prefix-purged object`);
    assert.equal(await cacheOf(edge, '/p/y.json'), 'MISS', `${edge.id}: prefix-purged object`);
    assert.equal(await cacheOf(edge, '/u/two.json'), 'HIT', `${edge.id}: unpurged object`);
    assert.equal(await cacheOf(edge, '/keep.json'), 'HIT', `${edge.id}: unpurged object`);
  }

  // Either api answers for a purge issued on the other, and its status subscription ends.
  const followed = followPurge(apiB.url, TOKEN, byUrl.id);
  try {
    await within(followed.ended, 10_000, 'purgeStatus completes');
  } finally {
    await followed.close();
  }
  assert.ok(followed.events.length >= 1);
  const last = followed.events.at(-1)!;
  assert.ok(last.purge.completedAt !== null);
  assert.equal(last.purge.edgesApplied, 2);
  assert.equal(last.purge.edgesTotal, 2);
  assert.equal((await getPurge(apiB.url, byPrefix.id)).completedAt, byPrefix.completedAt, 'completion is set once, seen by both apis');

  // An idle edge connected to the bus never fails /readyz (sampled over several blocking reads).
  await eventually(async () => readinessWatch.spanMs() >= 6000, 10_000, 'readiness sampled for 6 s');
  const watched = await readinessWatch.stop();
  assert.ok(watched.samples >= 20, `sampled /readyz ${watched.samples} times`);
  assert.deepEqual(watched.failures, [], 'a connected, idle edge stays ready');
});

test('an edge stopped (SIGSTOP) during a purge applies it on return, before /readyz says ready, and never serves the purged object again', async (t) => {
  await warm([edge1, edge2], ['/s/gone.json', '/s/kept.json']);
  // A fresh heartbeat from edge 2, so it stays live for a good part of its 3 s heartbeat TTL once stopped.
  const before = (await liveEdges(apiA.url)).find((e) => e.edgeId === 'edge-2')!;
  await eventually(async () => (await liveEdges(apiA.url)).find((e) => e.edgeId === 'edge-2')?.lastHeartbeat !== before.lastHeartbeat, 5000, 'edge 2 beats');

  process.kill(-edge2.proc.child.pid!, 'SIGSTOP');
  const stoppedAt = Date.now();
  let purge: Purge;
  let followed: ReturnType<typeof followPurge> | undefined;
  try {
    purge = await purgeCache(apiA.url, { kind: 'URL', value: '/s/gone.json', waitForEdges: true, waitTimeoutMs: 300 });
    // The wait timed out: the stopped (still live) edge is the one that has not applied it.
    assert.equal(purge.completedAt, null, JSON.stringify(purge));
    assert.equal(purge.edgesTotal, 2);
    assert.equal(purge.edgesApplied, 1);
    assert.deepEqual(purge.edges.map((e) => [e.edgeId, e.live, e.appliedAt !== null]), [['edge-1', true, true], ['edge-2', true, false]]);
    assert.equal(await cacheOf(edge1, '/s/gone.json'), 'MISS');

    followed = followPurge(apiB.url, TOKEN, purge.id);
    await eventually(async () => followed!.events.length >= 1, 5000, 'the first purgeStatus event');
    const first = followed.events[0]!;
    assert.equal(first.edge, null, 'the first event is the state when subscribing');
    assert.equal(first.purge.completedAt, null);
    assert.deepEqual(first.purge.edges.map((e) => [e.edgeId, e.appliedAt !== null]), [['edge-1', true], ['edge-2', false]]);

    // Documented: an edge whose heartbeat expired is not live; a purge is complete when every
    // live edge has applied it, and the subscription ends with an event saying so.
    await eventually(async () => (await liveEdges(apiA.url)).map((e) => e.edgeId).join() === 'edge-1', 10_000, 'the stopped edge leaves `edges`');
    await within(followed.ended, 10_000, 'purgeStatus completes once the stopped edge is no longer live');
    const last = followed.events.at(-1)!;
    assert.equal(last.edge, null, 'completion without a new edge applying it');
    assert.ok(last.purge.completedAt !== null);
    assert.deepEqual(last.purge.edges.map((e) => e.edgeId), ['edge-1'], 'a silent edge that never applied it no longer counts');
    // Stopped past the stall threshold too (5 s), so the edge must notice it was frozen.
    const remaining = stoppedAt + 6000 - Date.now();
    if (remaining > 0) await sleep(remaining);
  } finally {
    await followed?.close();
    process.kill(-edge2.proc.child.pid!, 'SIGCONT');
  }

  // Ready again only once it has applied what it missed.
  const answers: string[] = [];
  await eventually(
    async () => {
      const r = await readyz(edge2);
      answers.push(`${r.status} seq ${r.appliedSeq} ${JSON.stringify(r.body)}`);
      if (r.status !== 200) return false;
      assert.ok(r.appliedSeq >= purge.seq, `ready before applying the purge (seq ${purge.seq}): ${answers.join(' | ')}`);
      return true;
    },
    15_000,
    'edge 2 ready again',
  );
  t.diagnostic(`/readyz of edge 2 after SIGCONT: ${answers.join(' | ')}`);
  assert.equal(await cacheOf(edge2, '/s/gone.json'), 'MISS', 'the purged object is never served after return');
  assert.equal(await cacheOf(edge2, '/s/kept.json'), 'HIT', 'an unpurged object is still cached');

  // Back in the fleet, and its ack reaches the purge's record (completion stays as first stamped).
  await eventually(async () => (await liveEdges(apiA.url)).length === 2, 10_000, 'edge 2 live again');
  await eventually(
    async () => {
      const p = await getPurge(apiA.url, purge.id);
      return p.edges.some((e) => e.edgeId === 'edge-2' && e.appliedAt !== null && e.live);
    },
    10_000,
    'edge 2 reported as having applied the purge',
  );
  const now = await getPurge(apiA.url, purge.id);
  assert.equal(now.edgesApplied, 2);
  assert.equal(now.edgesTotal, 2);
  assert.ok(now.completedAt !== null);
});

test('Redis restarted empty mid-run: the edge resyncs, no purge from before, during or after is lost, and it is ready again', async (t) => {
  privateRedis = await startPrivateRedis();
  db3 = await createTestDatabase();
  const env = baseEnv(db3, privateRedis.url, 'edgeplane_purge_e2e:');
  const host = 'cdn.purge-r.test';
  const api = await startApi(env);
  const edge = await startEdge(env, 'edge-r', HEARTBEAT_MS);
  await gql(api.url, CREATE, { input: { id: 'purge-r', name: 'Purge R', originUrl: origin.url, domains: [host] } });
  await eventually(async () => (await get(edge, '/r/0.json', host)).status === 200, 5000, 'edge r serves the customer');
  await warm([edge], ['/r/before.json', '/r/during.json', '/r/after.json', '/r/kept.json'], host);
  const purgeR = (input: Record<string, unknown>): Promise<Purge> =>
    gql<{ purgeCache: Purge }>(api.url, PURGE_CACHE, { input: { customerId: 'purge-r', ...input } }).then((d) => d.purgeCache);

  const before = await purgeR({ kind: 'URL', value: '/r/before.json', waitForEdges: true, waitTimeoutMs: 10_000 });
  assert.ok(before.completedAt !== null, JSON.stringify(before));
  // Not requested again until the end: a request after the purge would cache it afresh.

  await privateRedis.kill();
  // Detached beyond CDN_EDGE_MAX_DETACHED_SECONDS: drained, while still serving what it has.
  await eventually(async () => (await readyz(edge)).status === 503, 10_000, 'edge r not ready while Redis is down');
  assert.equal(await cacheOf(edge, '/r/kept.json', host), 'HIT', 'a detached edge keeps serving');
  // A purge while Redis is down is committed (the relay publishes it later).
  const during = await purgeR({ kind: 'URL', value: '/r/during.json' });
  assert.equal(during.completedAt, null);

  await privateRedis.restart();
  const afterward = await purgeR({ kind: 'URL', value: '/r/after.json' });

  await eventually(async () => (await readyz(edge)).status === 200, 20_000, 'edge r ready again');
  await appliedAtLeast(edge, afterward.seq, 20_000);
  for (const p of ['/r/before.json', '/r/during.json', '/r/after.json']) {
    assert.equal(await cacheOf(edge, p, host), 'MISS', `${p} purged`);
  }
  // Unpurged: may have gone too (a gap purges the customer whole), but is served.
  const kept = await cacheOf(edge, '/r/kept.json', host);
  assert.match(kept, /^(HIT|MISS)$/);
  const resync = edge.proc
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{') && /gap|purging these customers|snapshot/.test(l))
    .map((l) => /"msg":"([^"]*)"/.exec(l)?.[1]);
  t.diagnostic(`unpurged object after the restart: ${kept}; edge r said: ${resync.join(' | ')}`);

  await eventually(async () => (await gql<{ edges: EdgeRow[] }>(api.url, EDGES)).edges.some((e) => e.edgeId === 'edge-r'), 10_000, 'edge r live again');
  for (const p of [during, afterward]) {
    await eventually(
      async () => (await gql<{ purge: Purge }>(api.url, GET_PURGE, { id: p.id })).purge.completedAt !== null,
      10_000,
      `purge of ${p.value} complete`,
    );
  }
  await stopCleanly(edge.proc, 'edge r');
  await stopCleanly(api.proc, 'api r');
});

test('a purge committed while no api runs (killed between commit and publish) still reaches every edge', async () => {
  await warm([edge1, edge2], ['/k/sql.json', '/k/killed.json', '/k/kept.json']);
  await stopCleanly(apiA.proc, 'api A');
  await stopCleanly(apiB.proc, 'api B');

  // Deterministic: the rows an api commits, with no api left to publish them.
  const [row] = await insertPurgesInSql(db, CUSTOMER, ['/k/sql.json']);
  assert.ok(row);
  for (const edge of [edge1, edge2]) {
    assert.ok((await readyz(edge)).appliedSeq < row.seq, 'nothing published while no api runs');
    assert.equal(await cacheOf(edge, '/k/sql.json'), 'HIT');
  }
  const env = baseEnv(db, redis.url, redis.prefix);
  const apiC = await startApi(env);
  for (const edge of [edge1, edge2]) await appliedAtLeast(edge, row.seq, 10_000);
  for (const edge of [edge1, edge2]) assert.equal(await cacheOf(edge, '/k/sql.json'), 'MISS', `${edge.id}: purged`);
  // Complete may come from heartbeats a moment before the acks are stored: wait for both.
  await eventually(
    async () => {
      const p = await getPurge(apiC.url, row.id);
      return p.completedAt !== null && p.edges.every((e) => e.objectsRemoved !== null);
    },
    10_000,
    'the SQL purge completes and both acks are stored',
  );
  const sqlPurge = await getPurge(apiC.url, row.id);
  assert.equal(sqlPurge.edgesApplied, 2);
  assert.deepEqual(sqlPurge.edges.map((e) => [e.edgeId, e.objectsRemoved]), [['edge-1', 1], ['edge-2', 1]], 'both edges acked it');

  // The real thing: SIGKILL the api the moment purgeCache has answered.
  const purge = await purgeCache(apiC.url, { kind: 'URL', value: '/k/killed.json' });
  sigkill(apiC.proc);
  await apiC.proc.exited();
  const apiD = await startApi(env);
  apiA = apiD;
  for (const edge of [edge1, edge2]) await appliedAtLeast(edge, purge.seq, 10_000);
  for (const edge of [edge1, edge2]) {
    assert.equal(await cacheOf(edge, '/k/killed.json'), 'MISS', `${edge.id}: purged`);
    assert.equal(await cacheOf(edge, '/k/kept.json'), 'HIT', `${edge.id}: unpurged`);
  }
  await eventually(async () => (await getPurge(apiD.url, purge.id)).completedAt !== null, 10_000, 'the purge completes');
  const [{ max }] = await sql<{ max: string }>(db, 'SELECT max("seq") AS "max" FROM "change_log"');
  for (const edge of [edge1, edge2]) assert.equal((await readyz(edge)).appliedSeq, Number(max), `${edge.id} is at the outbox's last seq`);
});

test('10,000 purges in a burst: all applied in order at both edges while the hit path keeps answering 200', async (t) => {
  const api = apiA;
  const lastPath = `/burst/${BURST - 1}.json`;
  await warm([edge1, edge2], ['/hot.json', lastPath, '/burst/kick.json']);
  const { totalCount: countBefore } = (await gql<{ purges: { totalCount: number } }>(api.url, `query($c: ID!) { purges(customerId: $c) { totalCount } }`, { c: CUSTOMER })).purges;

  // A client reading a cached, unpurged object from both edges throughout.
  let hammering = true;
  const answers = { total: 0, hits: 0, bad: [] as string[] };
  const hammer = (async () => {
    while (hammering) {
      for (const edge of [edge1, edge2]) {
        const res = await get(edge, '/hot.json').catch((err: unknown) => ({ status: 0, headers: {}, body: String(err) }) as HttpResult);
        answers.total += 1;
        if (res.status !== 200) answers.bad.push(`${edge.id}: ${res.status} ${res.body.slice(0, 200)}`);
        else if (res.headers['x-cache'] === 'HIT') answers.hits += 1;
      }
    }
  })();

  let rows: Array<{ id: string; seq: number; value: string }>;
  let kick: Purge;
  try {
    rows = await insertPurgesInSql(db, CUSTOMER, Array.from({ length: BURST }, (_, i) => `/burst/${i}.json`));
    assert.equal(rows.length, BURST);
    assert.equal(rows.at(-1)!.value, lastPath, 'seqs follow the order written');
    kick = await purgeCache(api.url, { kind: 'URL', value: '/burst/kick.json' });
    assert.ok(kick.seq > rows.at(-1)!.seq);
    const written = Date.now();
    for (const edge of [edge1, edge2]) await appliedAtLeast(edge, kick.seq, 90_000);
    t.diagnostic(`burst applied at both edges ${Date.now() - written} ms after it was written`);
  } finally {
    hammering = false;
    await hammer;
  }
  assert.deepEqual(answers.bad, [], 'every answer during the burst was a 200');
  assert.ok(answers.total > 0, 'requests were answered during the burst');
  t.diagnostic(`during the burst: ${answers.total} answers, ${answers.hits} HITs`);
  const acked = Date.now();

  for (const edge of [edge1, edge2]) {
    assert.equal(await cacheOf(edge, lastPath), 'MISS', `${edge.id}: last purge of the burst in effect`);
    assert.equal(await cacheOf(edge, '/burst/kick.json'), 'MISS', `${edge.id}: the kick purge in effect`);
  }

  // Every purge acknowledged by both edges, each edge's acks in seq order.
  const first = rows[0]!.seq;
  await eventually(
    async () => {
      const [{ acks }] = await sql<{ acks: string }>(db, 'SELECT count(*) AS "acks" FROM "purge_edge" e JOIN "purge" p ON p."id" = e."purge_id" WHERE p."seq" >= $1', [first]);
      return Number(acks) === 2 * (BURST + 1);
    },
    60_000,
    'both edges acked every purge of the burst',
  );
  const disorder = await sql<{ edge_id: string; seq: string }>(
    db,
    `SELECT "edge_id", "seq" FROM (
       SELECT e."edge_id", p."seq", e."applied_at", lag(e."applied_at") OVER (PARTITION BY e."edge_id" ORDER BY p."seq") AS "prev"
         FROM "purge_edge" e JOIN "purge" p ON p."id" = e."purge_id" WHERE p."seq" >= $1
     ) t WHERE "applied_at" < "prev" LIMIT 5`,
    [first],
  );
  assert.deepEqual(disorder, [], 'a purge applied before one with a lower seq');
  t.diagnostic(`acks stored ${Date.now() - acked} ms after the edges applied the burst`);

  await eventually(
    async () => {
      const [{ open }] = await sql<{ open: string }>(db, 'SELECT count(*) AS "open" FROM "purge" WHERE "seq" >= $1 AND "completed_at" IS NULL', [first]);
      return Number(open) === 0;
    },
    60_000,
    'every purge of the burst marked complete',
  );
  t.diagnostic(`all marked complete ${Date.now() - acked} ms after the edges applied the burst`);
  const page = (
    await gql<{ purges: { totalCount: number; nodes: Purge[] } }>(api.url, `query($c: ID!) { purges(customerId: $c, first: 500) { totalCount nodes { ${PURGE_FIELDS} } } }`, { c: CUSTOMER })
  ).purges;
  assert.equal(page.totalCount, countBefore + BURST + 1);
  assert.equal(page.nodes.length, 500);
  for (const node of page.nodes) {
    assert.ok(node.completedAt !== null, `purge ${node.value} complete`);
    assert.equal(node.edgesApplied, 2);
  }
});
