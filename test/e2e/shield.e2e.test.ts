/**
 * The origin shield end to end (src/edge/shield, issue 15), with real processes (`cdn api`,
 * `cdn edge` from dist), real PostgreSQL and Redis, and a real origin that records every
 * request: one shield (CDN_EDGE_ROLE=shield) and two edges, one process each
 * (CDN_EDGE_WORKERS=1), all on loopback and free ports.
 *
 * - Concurrent misses for several objects through both edges reach the origin once per
 *   object, asked by the shield (two CDN-Loop entries: the edge's hop, then the shield's own
 *   fetch), and every client gets that one answer.
 * - A purge through GraphQL is acked by the shield as by the edges; afterwards both edges
 *   serve the origin's new content, asked for once more.
 * - The shield stopped (SIGTERM): misses keep getting 200 from both edges, from the origin
 *   directly (one CDN-Loop entry), while it drains and after it has gone.
 *
 * The origin numbers its answers per path, so two fetches of one object give two bodies and a
 * client can tell which fetch it got. Every wait is `eventually` with a bound.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually, graphqlRequest, httpGet, logLines, spawnCdn, stackEnv, type CdnProcess, type HttpResult } from '../support/processes';
import { PURGE_FIELDS, type Purge } from '../support/purge.fixtures';
import { createTestDatabase, createTestRedisPrefix, type TestDatabase, type TestRedis } from '../support/services';

const TOKEN = 'e2e-shield-token-0123456789abcdef';
const SECRET = 'e2e-shield-secret-0123456789abcdef-0123456789';
const CUSTOMER = 'shield-co';
const HOST = 'cdn.shield-co.test';
const HEARTBEAT_MS = 200;
/** Slow enough that the concurrent misses overlap at the edges and at the shield. */
const ORIGIN_DELAY_MS = 150;
const OBJECTS = 4;
const REQUESTS_PER_EDGE = 10;

const SHIELD_ID = 'shield-1';
const EDGE_IDS = ['edge-1', 'edge-2'];

interface Proc {
  id: string;
  proc: CdnProcess;
  url: string;
  adminUrl: string;
}

interface OriginRequest {
  path: string;
  /** CDN-Loop entries: one when an edge asked itself, two when the shield asked for an edge. */
  loops: number;
}

let db: TestDatabase;
let redis: TestRedis;
let env: Record<string, string>;
let apiUrl: string;
let shield: Proc;
let edges: Proc[];
const processes: CdnProcess[] = [];
const tempDirs: string[] = [];

const recorded: OriginRequest[] = [];
/** The content version the origin serves per path (1 unless a test changes it). */
const versions = new Map<string, number>();
let origin: Server;
let originUrl: string;

async function startOrigin(): Promise<void> {
  origin = createServer((req, res) => {
    const p = req.url!;
    const loop = req.headers['cdn-loop'];
    recorded.push({ path: p, loops: loop === undefined ? 0 : String(loop).split(',').length });
    const n = recorded.filter((r) => r.path === p).length;
    const body = `${p} v${versions.get(p) ?? 1} #${n}`;
    setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=3600' }).end(body), ORIGIN_DELAY_MS);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
}

/** What the origin was asked for `p`. */
function asked(p: string): OriginRequest[] {
  return recorded.filter((r) => r.path === p);
}

async function startEdgeProcess(id: string, extra: Record<string, string> = {}): Promise<Proc> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-shield-e2e-'));
  tempDirs.push(dataDir);
  const proc = spawnCdn(['edge'], { ...env, CDN_DATA_DIR: dataDir, CDN_EDGE_ID: id, ...extra });
  processes.push(proc);
  const listening = await proc.waitForLog('edge listening');
  return { id, proc, url: String(listening.url), adminUrl: String(listening.admin) };
}

async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await graphqlRequest<T>(apiUrl, TOKEN, query, variables);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data!;
}

async function liveEdgeIds(): Promise<string[]> {
  return (await gql<{ edges: Array<{ edgeId: string }> }>('{ edges { edgeId } }')).edges.map((e) => e.edgeId).sort();
}

/** The sum of a counter's series on a process's admin /metrics whose labels include `label`. */
async function counter(p: Proc, name: string, label: string): Promise<number> {
  const text = await (await fetch(`${p.adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.slice(0, line.indexOf('}')).includes(label)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

const answered = (p: Proc): Promise<number> => counter(p, 'cdn_edge_shield_requests_total', 'outcome="answered"');
const fallbacks = (p: Proc): Promise<number> => counter(p, 'cdn_edge_shield_requests_total', 'outcome="fallback"');
const served = (p: Proc): Promise<number> => counter(p, 'cdn_edge_shield_hops_total', 'outcome="served"');

function get(p: Proc, urlPath: string): Promise<HttpResult> {
  return httpGet(`${p.url}${urlPath}`, HOST);
}

/** Resolves with `promise`, or rejects after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

before(async () => {
  [db] = await Promise.all([createTestDatabase(), startOrigin()]);
  redis = createTestRedisPrefix();
  env = stackEnv(
    { databaseUrl: db.url, redisUrl: redis.url, redisPrefix: redis.prefix, adminToken: TOKEN, secretKey: SECRET },
    { CDN_EDGE_WORKERS: '1', CDN_EDGE_HEARTBEAT_MS: String(HEARTBEAT_MS) },
  );
  const apiDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-shield-e2e-api-'));
  tempDirs.push(apiDir);
  const api = spawnCdn(['api'], { ...env, CDN_DATA_DIR: apiDir });
  processes.push(api);
  apiUrl = String((await api.waitForLog('api listening')).url).replace(/\/graphql$/, '');
  [shield, ...edges] = await Promise.all([startEdgeProcess(SHIELD_ID, { CDN_EDGE_ROLE: 'shield' }), ...EDGE_IDS.map((id) => startEdgeProcess(id))]);
  await gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', { input: { id: CUSTOMER, name: 'Shield Co', originUrl, domains: [HOST] } });

  // The fleet lists the three processes (the heartbeats the edges read the shields from).
  await eventually(async () => (await liveEdgeIds()).join() === [...EDGE_IDS, SHIELD_ID].sort().join(), 10_000, 'the shield and both edges live');
  // Each edge routes to the shield: a miss of its own (a probe path of its own) was answered
  // by the shield. The counter moves only when the shield answered a fill, and the origin saw
  // the probe from the shield (two CDN-Loop entries): nothing else can make this pass.
  for (const edge of edges) {
    let n = 0;
    await eventually(
      async () => {
        const res = await get(edge, `/probe/${edge.id}/${n++}`);
        return res.status === 200 && (await answered(edge)) >= 1;
      },
      10_000,
      `${edge.id} sends its misses to the shield`,
    );
    const probe = asked(`/probe/${edge.id}/${n - 1}`);
    assert.deepEqual(probe.map((r) => r.loops), [2], `${edge.id}'s last probe reached the origin through the shield`);
    assert.equal(await fallbacks(edge), 0, `${edge.id} never fell back while the shield was up`);
  }
});

after(async () => {
  const codes = await Promise.all(processes.map(async (proc) => ({ proc, code: await proc.stop() })));
  await new Promise<void>((resolve) => {
    origin?.closeAllConnections();
    origin?.close(() => resolve());
  });
  await db?.drop();
  await redis?.cleanup();
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  for (const { proc, code } of codes) assert.equal(code, 0, `a process did not exit cleanly:\n${proc.output().slice(-3000)}`);
});

test('concurrent misses for several objects through both edges reach the origin once per object, through the shield', async (t) => {
  const paths = Array.from({ length: OBJECTS }, (_, i) => `/obj/${i}.txt`);
  const [answeredBefore, servedBefore] = [await Promise.all(edges.map(answered)), await served(shield)];
  const started = Date.now();
  const requests = paths.flatMap((p) => edges.flatMap((edge) => Array.from({ length: REQUESTS_PER_EDGE }, () => get(edge, p).then((res) => ({ p, edge: edge.id, res })))));
  const results = await within(Promise.all(requests), 15_000, 'the concurrent misses are answered');
  t.diagnostic(`${results.length} concurrent misses answered in ${Date.now() - started} ms`);
  assert.equal(results.length, OBJECTS * REQUESTS_PER_EDGE * edges.length);

  for (const p of paths) assert.deepEqual(asked(p), [{ path: p, loops: 2 }], `${p}: one origin request, from the shield`);
  for (const { p, edge, res } of results) {
    assert.equal(res.status, 200, `${edge} ${p}: ${res.body}`);
    assert.equal(res.body, `${p} v1 #1`, `${edge} ${p}: the one origin answer`);
  }
  // Later requests are HITs at each edge, and ask nobody.
  for (const edge of edges) for (const p of paths) assert.equal((await get(edge, p)).headers['x-cache'], 'HIT', `${edge.id} ${p}`);
  for (const p of paths) assert.equal(asked(p).length, 1);

  // Every fill went to the shield (at least one per object per edge, no fallback), and the
  // shield served each hop the edges counted as answered.
  const answeredNow = await Promise.all(edges.map(answered));
  for (const [i, edge] of edges.entries()) {
    assert.ok(answeredNow[i]! - answeredBefore[i]! >= OBJECTS, `${edge.id} sent ${answeredNow[i]! - answeredBefore[i]!} fills to the shield`);
    assert.equal(await fallbacks(edge), 0, `${edge.id} never fell back`);
  }
  const sent = answeredNow.reduce((a, b) => a + b, 0) - answeredBefore.reduce((a, b) => a + b, 0);
  await eventually(async () => (await served(shield)) - servedBefore === sent, 5000, `the shield counts the ${sent} hops it served`);
});

test('a purge through GraphQL is acked by the shield and both edges; then both edges serve the new content, asked of the origin once more', async () => {
  const p = '/obj/0.txt';
  assert.equal(asked(p).length, 1, 'cached by the first test');
  versions.set(p, 2);
  const purge = (
    await gql<{ purgeCache: Purge }>(`mutation($input: PurgeInput!) { purgeCache(input: $input) { ${PURGE_FIELDS} } }`, {
      input: { customerId: CUSTOMER, kind: 'URL', value: p, waitForEdges: true, waitTimeoutMs: 10_000 },
    })
  ).purgeCache;
  assert.ok(purge.completedAt !== null, `the purge completes: ${JSON.stringify(purge)}`);
  assert.equal(purge.edgesTotal, 3);
  assert.deepEqual(purge.edges.map((e) => e.edgeId).sort(), [...EDGE_IDS, SHIELD_ID].sort(), 'the shield is one of the edges a purge waits for');
  // Completion may come from heartbeats a moment before the acks are stored: wait for the acks.
  await eventually(
    async () => {
      const now = (await gql<{ purge: Purge }>(`query($id: ID!) { purge(id: $id) { ${PURGE_FIELDS} } }`, { id: purge.id })).purge;
      return now.edges.length === 3 && now.edges.every((e) => e.appliedAt !== null && e.objectsRemoved !== null);
    },
    10_000,
    'every process acked the purge',
  );
  const acked = (await gql<{ purge: Purge }>(`query($id: ID!) { purge(id: $id) { ${PURGE_FIELDS} } }`, { id: purge.id })).purge;
  for (const e of acked.edges) assert.ok(e.objectsRemoved! >= 1, `${e.edgeId} held the object and removed it: ${JSON.stringify(e)}`);

  // Both edges at once, several clients each: the new content, one more origin request.
  const results = await within(Promise.all(edges.flatMap((edge) => Array.from({ length: 5 }, () => get(edge, p).then((res) => ({ edge: edge.id, res }))))), 15_000, 'the misses after the purge');
  for (const { edge, res } of results) {
    assert.equal(res.status, 200, `${edge}: ${res.body}`);
    assert.equal(res.body, `${p} v2 #2`, `${edge}: the new content, from the one new origin request`);
  }
  assert.deepEqual(asked(p), [{ path: p, loops: 2 }, { path: p, loops: 2 }], 'exactly one more origin request, through the shield');
  // Objects not purged stay cached everywhere.
  for (const edge of edges) assert.equal((await get(edge, '/obj/1.txt')).headers['x-cache'], 'HIT');
  assert.equal(asked('/obj/1.txt').length, 1);
});

test('the shield stopped (SIGTERM): both edges keep answering misses with 200, from the origin, while it drains and once it has gone', async (t) => {
  const fallbacksBefore = await Promise.all(edges.map(fallbacks));
  const NO_SHIELD = 'no origin shield is live: misses go to the origins';
  const forgotBefore = edges.map((edge) => logLines(edge.proc, NO_SHIELD).length);
  const stopping = shield.proc.stop();
  // Misses while the shield drains: a new object per round, through both edges at once.
  const during: Array<{ p: string; edge: string; res: HttpResult; ms: number }> = [];
  let round = 0;
  let stopped = false;
  void stopping.finally(() => (stopped = true));
  while (!stopped || round === 0) {
    const p = `/during/${round++}.txt`;
    during.push(
      ...(await within(
        Promise.all(
          edges.map(async (edge) => {
            const started = Date.now();
            const res = await get(edge, p);
            return { p, edge: edge.id, res, ms: Date.now() - started };
          }),
        ),
        10_000,
        `misses for ${p} while the shield stops`,
      )),
    );
  }
  assert.equal(await within(stopping, 20_000, 'the shield exits'), 0, `the shield exits 0 on SIGTERM:\n${shield.proc.output().slice(-3000)}`);
  for (const { p, edge, res } of during) {
    assert.equal(res.status, 200, `${edge} ${p} while the shield stopped: ${res.body}`);
    assert.match(res.body, new RegExp(`^${p.replace(/\./g, '\\.')} v1 #[12]$`), `${edge} ${p}`);
  }

  // The shield left the fleet: both edges stop sending to it within a few heartbeats.
  for (const [i, edge] of edges.entries()) {
    await eventually(async () => logLines(edge.proc, NO_SHIELD).length > forgotBefore[i]!, 5000, `${edge.id} forgets the shield`);
  }
  await eventually(async () => (await liveEdgeIds()).join() === EDGE_IDS.join(), 5000, 'the fleet lists the two edges only');

  // Misses for new objects after it has gone: 200 at once, asked of the origin by each edge itself.
  for (const [i, p] of ['/after/a.txt', '/after/b.txt', '/after/c.txt'].entries()) {
    const results = await within(Promise.all(edges.map((edge) => get(edge, p).then((res) => ({ edge: edge.id, res })))), 5000, `misses for ${p} with no shield`);
    for (const { edge, res } of results) {
      assert.equal(res.status, 200, `${edge} ${p}: ${res.body}`);
      assert.match(res.body, new RegExp(`^${p.replace(/\./g, '\\.')} v1 #[12]$`));
    }
    assert.deepEqual(asked(p).map((r) => r.loops), [1, 1], `${p}: each edge asked the origin itself (request ${i})`);
  }
  const fallbacksAfter = await Promise.all(edges.map(fallbacks));
  const slowest = Math.max(...during.map((d) => d.ms));
  t.diagnostic(
    `while the shield stopped: ${during.length} misses in ${round} rounds, slowest ${slowest} ms; ` +
      `${new Set(during.filter((d) => asked(d.p).some((r) => r.loops === 2)).map((d) => d.p)).size} of those objects asked of the origin through the shield; ` +
      `fallbacks per edge: ${edges.map((e, i) => `${e.id} +${fallbacksAfter[i]! - fallbacksBefore[i]!}`).join(', ')}`,
  );
});
