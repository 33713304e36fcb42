/**
 * Redis Sentinel failover with real processes (issue 17, "No single point of failure"): a
 * master, a replica and three sentinels from Debian's redis-server and redis-sentinel (all
 * on loopback, started here), a real `cdn api` and two `cdn edge` processes configured with
 * REDIS_SENTINELS, and real PostgreSQL.
 *
 * The master is killed (SIGKILL) in the middle of a burst of purges and right after a
 * customer change, and in the worst way: the replica it had stopped replicating to just
 * before (stopped, its link cut), so the replica the sentinels promote lacks the last writes,
 * the customer change among them, as if Redis had lost data. Then: the sentinels promote the
 * replica, the relay republishes from the outbox, every purge and the change reach both
 * edges, every purge completes, and the api answered every call meanwhile with data or a
 * clearly worded, retryable error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { startDemoOrigin, type DemoOrigin } from '../../src/demo/demo-origin';
import { eventually, graphqlRequest, httpGet, spawnCdn, stackEnv, type CdnProcess } from '../support/processes';
import { sql } from '../support/purge.fixtures';
import { startSentinelRedis, type SentinelRedis } from '../support/redis-ha';
import { createTestDatabase, uniqueName, type TestDatabase } from '../support/services';

const TOKEN = 'e2e-sentinel-token-0123456789abcdef';
const SECRET = 'e2e-sentinel-secret-0123456789abcdef-0123456789';
const CUSTOMER = 'sentinel-co';
const HOST = 'cdn.sentinel-co.test';
const BURST = 300;
/** The master dies once this many purges of the burst have been answered. */
const KILL_AFTER = 100;
const WORKERS = 4;
const PREFIX = `${uniqueName('edgeplane_sentinel_e2e')}:`;

const PURGE = 'mutation($input: PurgeInput!) { purgeCache(input: $input) { id seq } }';
const UPDATE = 'mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { id originUrl } }';
const PURGES = 'query($c: ID!, $after: String) { purges(customerId: $c, first: 100, after: $after) { nodes { id seq completedAt edgesApplied } pageInfo { endCursor hasNextPage } } }';
/** What a client polls throughout: PostgreSQL-backed fields and the live edges (Redis). */
const WATCH = 'query($c: ID!) { customer(id: $c) { originUrl } purges(customerId: $c, first: 1) { totalCount } edges { edgeId } }';

interface Edge {
  id: string;
  proc: CdnProcess;
  url: string;
  adminUrl: string;
}

let db: TestDatabase;
let ha: SentinelRedis;
let originA: DemoOrigin;
let originB: DemoOrigin;
let api: { proc: CdnProcess; url: string };
const edges: Edge[] = [];
const processes: CdnProcess[] = [];
const tempDirs: string[] = [];
const clients: Redis[] = [];
/** Loops a failed test may leave running: stopped first thing in `after`. */
const loops: Array<() => Promise<unknown>> = [];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function redisOn(port: number): Redis {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => {});
  clients.push(redis);
  return redis;
}

async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await graphqlRequest<T>(api.url, TOKEN, query, variables);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data!;
}

let readyzLast: unknown;

async function readyz(edge: Edge): Promise<{ status: number; appliedSeq: number }> {
  const res = await fetch(`${edge.adminUrl}/readyz`);
  const body = (await res.json()) as { appliedSeq?: number };
  readyzLast = body;
  return { status: res.status, appliedSeq: Number(body.appliedSeq) };
}

async function maxChangeSeq(): Promise<number> {
  const [row] = await sql<{ max: string }>(db, 'SELECT max("seq") AS "max" FROM "change_log"');
  return Number(row!.max);
}

before(async () => {
  db = await createTestDatabase();
  ha = await startSentinelRedis();
  [originA, originB] = await Promise.all([startDemoOrigin({ customerId: 'origin-a' }), startDemoOrigin({ customerId: 'origin-b' })]);
  const env = {
    ...stackEnv({ databaseUrl: db.url, redisUrl: '', redisPrefix: PREFIX, adminToken: TOKEN, secretKey: SECRET }),
    // Sentinel in place of REDIS_URL (empty counts as unset; the test runner's own REDIS_URL must not leak in).
    REDIS_URL: '',
    REDIS_SENTINELS: ha.sentinelList,
    REDIS_SENTINEL_MASTER: ha.masterName,
    CDN_EDGE_WORKERS: '1',
    CDN_EDGE_HEARTBEAT_MS: '500',
    CDN_API_RATE_LIMIT_PER_MINUTE: '1000000',
    CDN_API_PURGE_RATE_LIMIT_PER_MINUTE: '1000000',
  };
  const apiDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-sentinel-api-'));
  tempDirs.push(apiDir);
  const apiProc = spawnCdn(['api'], { ...env, CDN_DATA_DIR: apiDir });
  processes.push(apiProc);
  api = { proc: apiProc, url: String((await apiProc.waitForLog('api listening')).url).replace(/\/graphql$/, '') };
  for (const id of ['edge-1', 'edge-2']) {
    const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-sentinel-edge-'));
    tempDirs.push(dir);
    const proc = spawnCdn(['edge'], { ...env, CDN_DATA_DIR: dir, CDN_EDGE_ID: id });
    processes.push(proc);
    const listening = await proc.waitForLog('edge listening');
    edges.push({ id, proc, url: String(listening.url), adminUrl: String(listening.admin) });
  }
  await gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', {
    input: { id: CUSTOMER, name: 'Sentinel Co', originUrl: originA.url, domains: [HOST] },
  });
  for (const edge of edges) await eventually(async () => (await httpGet(`${edge.url}/hello.json`, HOST)).status === 200, 10_000, `${edge.id} serves the customer`);
});

after(async () => {
  await Promise.all(loops.map((stop) => stop()));
  // The replica may still be stopped if the test failed half way.
  if (ha?.replica.running()) ha.replica.child.kill('SIGCONT');
  await Promise.all(processes.map((p) => p.stop().catch(() => null)));
  for (const c of clients) c.disconnect();
  await ha?.stop();
  await Promise.all([originA?.close(), originB?.close()]);
  await db?.drop();
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

interface Answer {
  at: number;
  ms: number;
  /** 'data', or what the client got instead. */
  kind: string;
}

/** Polls the api every 100 ms until stopped, recording every answer. */
function watchApi(): { stop(): Promise<Answer[]> } {
  const answers: Answer[] = [];
  let stopped = false;
  const started = Date.now();
  const loop = (async () => {
    while (!stopped) {
      const t = Date.now();
      let kind: string;
      try {
        const res = await graphqlRequest(api.url, TOKEN, WATCH, { c: CUSTOMER });
        kind = res.errors === undefined ? 'data' : res.errors.map((e) => `${String(e.extensions?.code)}: ${e.message}`).join(' + ');
      } catch (err) {
        kind = `no answer: ${(err as Error).message}`;
      }
      answers.push({ at: t - started, ms: Date.now() - t, kind });
      await sleep(100);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return answers;
    },
  };
}

test('the Redis master is killed during a purge burst and a customer change: the sentinels promote the replica, no purge or change is lost, both edges apply all of them, and the api answers throughout', async (t) => {
  const edge1 = edges[0]!;
  const edge2 = edges[1]!;
  // Cached before the burst: each must be a MISS on both edges afterwards.
  const watched = Array.from({ length: BURST / 25 }, (_, i) => `/burst/${i * 25}.json`);
  for (const edge of edges) {
    for (const p of [...watched, '/kept.json']) {
      await eventually(async () => (await httpGet(`${edge.url}${p}`, HOST)).headers['x-cache'] === 'HIT', 5_000, `${edge.id} caches ${p}`);
    }
  }

  const master = redisOn(ha.master.port);
  const replica = redisOn(ha.replica.port);
  const watch = watchApi();
  loops.push(() => watch.stop());
  const purgeErrors: string[] = [];
  let answered = 0;
  let next = 0;
  let reachedKill!: () => void;
  const killPoint = new Promise<void>((resolve) => (reachedKill = resolve));
  let bursting = true;
  const workers = Array.from({ length: WORKERS }, async () => {
    while (next < BURST && bursting) {
      const i = next++;
      // A client retries what the api refused; an answer without data counts as refused.
      for (let attempt = 0; ; attempt += 1) {
        const res = await graphqlRequest(api.url, TOKEN, PURGE, { input: { customerId: CUSTOMER, kind: 'URL', value: `/burst/${i}.json` } }).catch(
          (err: Error): Awaited<ReturnType<typeof graphqlRequest>> => ({ errors: [{ message: `no answer: ${err.message}`, extensions: {} }] }),
        );
        if (res.errors === undefined) break;
        purgeErrors.push(res.errors.map((e) => `${String(e.extensions?.code)}: ${e.message}`).join(' + '));
        assert.ok(attempt < 20, `purge ${i} refused 20 times: ${purgeErrors.slice(-3).join(' | ')}`);
        await sleep(200);
      }
      answered += 1;
      if (answered === KILL_AFTER) reachedKill();
      await sleep(15);
    }
  });

  // Awaited below; a failure before that must not count as unhandled.
  for (const w of workers) w.catch(() => {});
  loops.push(async () => {
    bursting = false;
    await Promise.allSettled(workers);
  });

  // The fault, in the middle of the burst.
  await killPoint;
  process.kill(ha.replica.child.pid!, 'SIGSTOP');
  let changeSeq: number;
  try {
    // The master stops feeding the (stopped) replica: what it takes from now on dies with it.
    await master.call('CLIENT', 'KILL', 'TYPE', 'replica');
    await gql(UPDATE, { id: CUSTOMER, input: { originUrl: originB.url } });
    changeSeq = await maxChangeSeq();
    await eventually(async () => Number(await master.get(`${PREFIX}published-seq`)) >= changeSeq, 5_000, 'the relay publishes the customer change on the master');
  } finally {
    await ha.master.kill();
    process.kill(ha.replica.child.pid!, 'SIGCONT');
  }
  // What the replica holds now is what the sentinels will promote.
  const replicaSeq = Number(await replica.get(`${PREFIX}published-seq`));
  assert.ok(replicaSeq < changeSeq, `the replica lacks the customer change (seq ${changeSeq}; it holds up to ${replicaSeq})`);
  t.diagnostic(`customer change at seq ${changeSeq}, published on the old master only; the replica promoted holds up to seq ${replicaSeq}`);
  const killedAt = Date.now();
  // Between the kill and the promotion no master answers: the live edges cannot be read.
  const meanwhile = await graphqlRequest(api.url, TOKEN, '{ edges { edgeId } }');
  const meanwhileKind = meanwhile.errors === undefined ? 'data' : meanwhile.errors.map((e) => `${String(e.extensions?.code)}: ${e.message}`).join(' + ');
  t.diagnostic(`\`edges\` right after the kill, ${Date.now() - killedAt} ms: ${meanwhileKind}`);
  assert.ok(meanwhileKind === 'data' || /^SERVICE_UNAVAILABLE: .*Retry in a few seconds/.test(meanwhileKind), `\`edges\` during the failover: ${meanwhileKind}`);
  await eventually(async () => (await ha.masterPort()) === ha.replica.port, 30_000, 'the sentinels promote the replica');
  const failoverMs = Date.now() - killedAt;

  await Promise.all(workers);
  const answers = await watch.stop();
  const lastSeq = await maxChangeSeq();

  // Both edges apply everything the outbox holds: every purge, and the change.
  for (const edge of edges) {
    await eventually(async () => (await readyz(edge)).appliedSeq >= lastSeq, 30_000, `${edge.id} applies up to seq ${lastSeq}`).catch((err: Error) => {
      throw new Error(`${err.message} (at ${JSON.stringify(readyzLast)}). Its log:\n${edge.proc.output().slice(-6000)}`);
    });
  }
  for (const edge of edges) {
    for (const p of watched) {
      const res = await httpGet(`${edge.url}${p}`, HOST);
      assert.equal(res.status, 200, `${edge.id} ${p}: ${res.body}`);
      assert.equal(res.headers['x-cache'], 'MISS', `${edge.id}: ${p} was purged`);
    }
    const fresh = await httpGet(`${edge.url}/after-failover.json`, HOST);
    assert.equal(fresh.status, 200, fresh.body);
    assert.equal((JSON.parse(fresh.body) as { customer: string }).customer, 'origin-b', `${edge.id} uses the new origin`);
  }

  // Every purge completes, applied by both edges (their acks or heartbeats reached the api).
  let incomplete: string[] = [];
  await eventually(
    async () => {
      const all: Array<{ id: string; seq: number; completedAt: string | null; edgesApplied: number }> = [];
      let cursor: string | null = null;
      do {
        const page: { purges: { nodes: typeof all; pageInfo: { endCursor: string | null; hasNextPage: boolean } } } = await gql(PURGES, { c: CUSTOMER, after: cursor });
        all.push(...page.purges.nodes);
        cursor = page.purges.pageInfo.hasNextPage ? page.purges.pageInfo.endCursor : null;
      } while (cursor !== null);
      assert.equal(all.length, BURST, 'every purge of the burst is recorded once');
      incomplete = all.filter((p) => p.completedAt === null || p.edgesApplied !== 2).map((p) => `seq ${p.seq}: ${p.completedAt === null ? 'open' : 'complete'}, ${p.edgesApplied} edges`);
      return incomplete.length === 0;
    },
    30_000,
    'every purge complete on both edges',
  ).catch((err: Error) => {
    throw new Error(`${err.message}; still: ${incomplete.slice(0, 10).join(', ')}`);
  });

  // What the api answered while the sentinels switched masters.
  const kinds = new Map<string, number>();
  for (const a of answers) kinds.set(a.kind, (kinds.get(a.kind) ?? 0) + 1);
  const slowest = Math.max(...answers.map((a) => a.ms));
  t.diagnostic(`failover: the sentinels named the new master ${failoverMs} ms after the kill`);
  t.diagnostic(`api answers while watched (${answers.length}, slowest ${slowest} ms): ${[...kinds].map(([k, n]) => `${n}× ${k}`).join('; ')}`);
  t.diagnostic(`purgeCache refusals (retried): ${purgeErrors.length === 0 ? 'none' : [...new Set(purgeErrors)].join(' | ')}`);
  for (const edge of [edge1, edge2]) {
    const said = edge.proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{') && /gap|snapshot|missed|Redis|unreachable/.test(l))
      .map((l) => /"msg":"([^"]*)"/.exec(l)?.[1]);
    t.diagnostic(`${edge.id} said: ${[...new Set(said)].join(' | ')}`);
  }
  assert.ok(answers.length >= 20, `the api was watched (${answers.length} answers)`);
  for (const a of answers) {
    assert.ok(a.kind === 'data' || /SERVICE_UNAVAILABLE: .*Retry/.test(a.kind), `at +${a.at} ms the api answered neither data nor a retryable error: ${a.kind}`);
  }
  for (const e of purgeErrors) assert.match(e, /SERVICE_UNAVAILABLE: .*Retry/, 'a refused purge was refused with a retryable error');
});
