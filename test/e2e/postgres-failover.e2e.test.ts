/**
 * PostgreSQL restarted under load (issue 17, "No single point of failure"): a private
 * PostgreSQL cluster (never the shared one on 5432) behind Debian's pgbouncer in transaction
 * mode, two `cdn api` processes whose DATABASE_URL is pgbouncer (then, second run, two that
 * connect to PostgreSQL directly), one `cdn edge`, the shared Redis under a prefix of this
 * test's own.
 *
 * Clients create customers and purges without pause while PostgreSQL is restarted (fast
 * shutdown, down for a few seconds) twice. Afterwards: the apis never went down; every
 * request was answered within a bound, with success or with the retryable database error;
 * every mutation answered with success is in the database and reached the edge (customer
 * served, purge acked) once, in the order it was answered; the bus stream holds every
 * change_log row once, in seq order, nothing missing; each api's /readyz went not ready
 * and came back.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { API_MIGRATIONS, DATABASE_CONNECT_TIMEOUT_MS } from '../../src/api/db/data-source';
import { DATABASE_DEADLINE_MS } from '../../src/api/db/database';
import type { Change } from '../../src/core/bus.events';
import { startDemoOrigin, type DemoOrigin } from '../../src/demo/demo-origin';
import { postgresHaAvailable, startPgBouncer, startPrivatePostgres, type PgBouncer, type PrivatePostgres } from '../support/postgres-ha';
import { eventually, graphqlRequest, httpGet, spawnCdn, stackEnv, type CdnProcess } from '../support/processes';
import { createTestRedisPrefix, type TestRedis } from '../support/services';

const TOKEN = 'e2e-pg-failover-token-0123456789';
const SECRET = 'e2e-pg-failover-secret-0123456789abcdef-0123';
const DATABASE = 'edgeplane';
const PURGED = 'purged-co';
const PURGED_HOST = 'cdn.purged-co.test';
const EDGE_ID = 'edge-1';
const WORKERS = 4;
const RESTARTS = 2;
/** Long enough for /readyz (which gives its checks 2 s) to see the database gone. */
const DOWN_MS = 3000;
/**
 * A mutation is a handful of units of work (audit entry, the change, reads, audit
 * outcome); a restart can stall at most two of them to their bounds (the pool's connect
 * timeout, the unit's deadline) before the database answers or is known to be gone.
 */
const ANSWER_BOUND_MS = 2 * (DATABASE_CONNECT_TIMEOUT_MS + DATABASE_DEADLINE_MS);
/** What a client may be told while the database is away: retry. */
const RETRYABLE = new Set(['CDN_ERR_DATABASE_UNAVAILABLE', 'CDN_ERR_DATABASE_OUTCOME_UNKNOWN', 'CDN_ERR_AUDIT_UNAVAILABLE']);

const CREATE = 'mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }';
const PURGE = 'mutation($input: PurgeInput!) { purgeCache(input: $input) { id seq } }';
const GET_PURGE = 'query($id: ID!) { purge(id: $id) { id seq edgesApplied edges { edgeId appliedAt } } }';

interface Api {
  proc: CdnProcess;
  url: string;
}

interface Outcome {
  worker: number;
  kind: 'customer' | 'purge';
  /** The customer id asked for, or the purge id answered. */
  id: string | null;
  ok: boolean;
  cdnCode: string | null;
  code: string | null;
  message: string | null;
  startedAt: number;
  ms: number;
}

let pg: PrivatePostgres;
let bouncer: PgBouncer;
let redis: TestRedis;
let origin: DemoOrigin;
let env: Record<string, string>;
/** Through pgbouncer. */
const apis: Api[] = [];
let edge: { proc: CdnProcess; url: string; adminUrl: string };
const processes: CdnProcess[] = [];
const tempDirs: string[] = [];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Straight to the private server, not through pgbouncer: what is really committed. */
async function sql<T>(query: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: pg.url(DATABASE) });
  await c.connect();
  try {
    return (await c.query(query, params)).rows as T[];
  } finally {
    await c.end();
  }
}

async function gql<T>(apiUrl: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await graphqlRequest<T>(apiUrl, TOKEN, query, variables);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data!;
}

async function spawnRole(role: 'api' | 'edge', env: Record<string, string>): Promise<{ proc: CdnProcess; listening: Record<string, unknown> }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `edgeplane-pgha-${role}-`));
  tempDirs.push(dataDir);
  const proc = spawnCdn([role], { ...env, CDN_DATA_DIR: dataDir });
  processes.push(proc);
  return { proc, listening: await proc.waitForLog(`${role} listening`, 60_000) };
}

async function readyz(url: string): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: 0, body: String(err) };
  }
}

before(async () => {
  // Not skipped when missing: CI installs them, and a skipped fault test proves nothing.
  assert.ok(postgresHaAvailable(), 'this test needs /usr/sbin/pgbouncer (Debian package pgbouncer) and PostgreSQL\'s initdb and pg_ctl (/usr/lib/postgresql/<version>/bin)');
  pg = await startPrivatePostgres();
  // Retry the server every second once it failed (pgbouncer's default waits 15 s), as docs/OPERATIONS.md advises.
  // Round robin: one client's consecutive transactions run on different server sessions.
  bouncer = await startPgBouncer(pg, { serverLoginRetry: 1, queryWaitTimeout: 30, serverRoundRobin: true });
  await pg.createDatabase(DATABASE);
  redis = createTestRedisPrefix();
  origin = await startDemoOrigin({ customerId: 'pg-failover' });
  env = stackEnv(
    { databaseUrl: bouncer.url(DATABASE), redisUrl: redis.url, redisPrefix: redis.prefix, adminToken: TOKEN, secretKey: SECRET },
    { CDN_EDGE_WORKERS: '1', CDN_EDGE_ID: EDGE_ID, CDN_API_RATE_LIMIT_PER_MINUTE: '1000000', CDN_API_PURGE_RATE_LIMIT_PER_MINUTE: '1000000' },
  );
  // Two apis at once on an empty database, through the pooler: migrations run once.
  const started = await Promise.all([spawnRole('api', env), spawnRole('api', env)]);
  for (const { proc, listening } of started) apis.push({ proc, url: String(listening.url).replace(/\/graphql$/, '') });
  const e = await spawnRole('edge', env);
  edge = { proc: e.proc, url: String(e.listening.url), adminUrl: String(e.listening.admin) };
});

after(async () => {
  const codes = await Promise.all(processes.map(async (proc) => ({ proc, code: await proc.stop() })));
  await bouncer?.stop();
  await pg?.destroy();
  await origin?.close();
  await redis?.cleanup();
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  const unclean = codes.filter(({ code }) => code !== 0);
  assert.deepEqual(
    unclean.map(({ code }) => code),
    [],
    `every process exits 0 on SIGTERM. Output:\n${unclean.map(({ proc }) => proc.output().slice(-3000)).join('\n---\n')}`,
  );
});

test('two apis starting at once through pgbouncer (transaction mode) apply the migrations once and are ready', async () => {
  const rows = await sql<{ name: string; n: string }>('SELECT "name", count(*) AS "n" FROM "migrations" GROUP BY "name" ORDER BY "name"');
  assert.equal(rows.length, API_MIGRATIONS.length, 'every migration recorded');
  assert.ok(rows.every((r) => Number(r.n) === 1), `each migration applied once: ${JSON.stringify(rows)}`);
  for (const api of apis) {
    await eventually(async () => (await readyz(api.url)).status === 200, 10_000, `${api.url} ready`);
  }
  // Nothing holds a session lock left behind on a server connection the pooler hands out to others.
  // A lock held by a server connection that is idle (in no transaction) is a session lock left behind;
  // a relay pass running right now holds a transaction-scoped one for a moment, which is fine.
  const locks = await sql<{ n: string }>(
    `SELECT count(*) AS "n" FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND a.state = 'idle'`,
  );
  assert.equal(Number(locks[0]!.n), 0);
});

test('through pgbouncer, PostgreSQL restarted twice under load: the apis stay up and answer in bounded time, nothing answered with success is lost, nothing is relayed twice or out of order', async (t) => {
  await gql(apis[0]!.url, CREATE, { input: { id: PURGED, name: 'Purged Co', originUrl: origin.url, domains: [PURGED_HOST] } });
  await eventually(async () => (await httpGet(`${edge.url}/hello.json`, PURGED_HOST)).status === 200, 10_000, 'the edge serves the purged customer');
  await restartUnderLoad(t, apis, 'pooled');
});

test('straight to PostgreSQL (no pooler), the same: idle pooled connections that the restart closes are dropped, not fatal', async (t) => {
  for (const api of apis) assert.equal(await api.proc.stop(), 0, 'the pooled apis stop cleanly');
  const started = await Promise.all([spawnRole('api', { ...env, DATABASE_URL: pg.url(DATABASE) }), spawnRole('api', { ...env, DATABASE_URL: pg.url(DATABASE) })]);
  const direct = started.map(({ proc, listening }) => ({ proc, url: String(listening.url).replace(/\/graphql$/, '') }));
  for (const api of direct) await eventually(async () => (await readyz(api.url)).status === 200, 10_000, `${api.url} ready`);
  await restartUnderLoad(t, direct, 'direct');
});

/**
 * Mutations from WORKERS clients while PostgreSQL restarts RESTARTS times, then every check.
 * The checks of the bus stream and the edge cover every change so far (earlier runs too).
 */
async function restartUnderLoad(t: TestContext, apis: Api[], run: string): Promise<void> {
  // /readyz of each api, every 100 ms, for the whole run.
  const readiness = apis.map(() => [] as Array<{ at: number; status: number }>);
  let watching = true;
  const watch = Promise.all(
    apis.map(async (api, i) => {
      while (watching) {
        const { status } = await readyz(api.url);
        readiness[i]!.push({ at: Date.now(), status });
        await sleep(100);
      }
    }),
  );

  // Clients: each sends one mutation after the other, alternating customers and purges, round robin over the apis.
  const outcomes: Outcome[] = [];
  let loading = true;
  let next = 0;
  const load = Promise.all(
    Array.from({ length: WORKERS }, async (_, worker) => {
      while (loading) {
        const n = next++;
        const api = apis[n % apis.length]!;
        const kind = n % 2 === 0 ? 'customer' : 'purge';
        const customerId = `${run}-${n}`;
        const body =
          kind === 'customer'
            ? { query: CREATE, variables: { input: { id: customerId, name: `Customer ${n}`, originUrl: origin.url, domains: [`${customerId}.failover.test`] } } }
            : { query: PURGE, variables: { input: { customerId: PURGED, kind: 'URL', value: `https://${PURGED_HOST}/p/${n}` } } };
        const startedAt = Date.now();
        let outcome: Omit<Outcome, 'worker' | 'kind' | 'startedAt' | 'ms'>;
        try {
          const res = await fetch(`${api.url}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(ANSWER_BOUND_MS + 10_000),
          });
          const json = (await res.json()) as { data?: Record<string, { id: string } | null> | null; errors?: Array<{ message: string; extensions?: { code?: string; cdnCode?: string } }> };
          const error = json.errors?.[0];
          outcome = error
            ? { id: kind === 'customer' ? customerId : null, ok: false, cdnCode: error.extensions?.cdnCode ?? null, code: error.extensions?.code ?? null, message: error.message }
            : { id: kind === 'customer' ? customerId : json.data!.purgeCache!.id, ok: true, cdnCode: null, code: null, message: null };
        } catch (err) {
          outcome = { id: null, ok: false, cdnCode: null, code: null, message: `no answer: ${String(err)}` };
        }
        outcomes.push({ worker, kind, startedAt, ms: Date.now() - startedAt, ...outcome });
        // As a client told to retry would: not at once.
        if (!outcome.ok) await sleep(100);
      }
    }),
  );

  const successesSince = (t: number): number => outcomes.filter((o) => o.ok && o.startedAt >= t).length;
  const restarts: Array<{ downAt: number; upAt: number }> = [];
  try {
    await eventually(async () => successesSince(0) >= 20, 30_000, 'mutations succeed before the restarts');
    for (let round = 0; round < RESTARTS; round += 1) {
      const downAt = Date.now();
      await pg.stop('fast');
      await sleep(DOWN_MS);
      await pg.start();
      const upAt = Date.now();
      restarts.push({ downAt, upAt });
      await eventually(async () => successesSince(upAt) >= 20, ANSWER_BOUND_MS + 30_000, `mutations succeed again after restart ${round + 1}`);
    }
  } finally {
    loading = false;
    await load;
  }
  for (const [i, api] of apis.entries()) {
    await eventually(async () => (await readyz(api.url)).status === 200, 30_000, `api ${i} ready again`);
  }
  watching = false;
  await watch;

  const report = (os: Outcome[]): string => JSON.stringify(os.slice(0, 10), null, 1);
  const failed = outcomes.filter((o) => !o.ok);
  const ok = outcomes.filter((o) => o.ok);
  const during = (o: Outcome): boolean => restarts.some((r) => o.startedAt + o.ms >= r.downAt && o.startedAt <= r.upAt + ANSWER_BOUND_MS);
  t.diagnostic(`${outcomes.length} mutations, ${ok.length} succeeded, ${failed.length} failed: ${JSON.stringify(countBy(failed.map((o) => o.cdnCode ?? o.message ?? '?')))}; slowest answer ${Math.max(...outcomes.map((o) => o.ms))} ms`);
  for (const [round, r] of restarts.entries()) {
    const firstSuccess = Math.min(...ok.filter((o) => o.startedAt >= r.upAt).map((o) => o.startedAt + o.ms));
    const readyAgain = readiness.map((samples) => samples.find((s) => s.at > r.upAt && s.status === 200)?.at ?? NaN);
    t.diagnostic(`restart ${round + 1}: down ${r.upAt - r.downAt} ms (stop, ${DOWN_MS} ms, start); first success ${firstSuccess - r.upAt} ms after start; apis ready again after ${readyAgain.map((at) => at - r.upAt).join(' and ')} ms`);
  }

  // The apis never went down.
  for (const api of apis) assert.equal(api.proc.child.exitCode, null, `api still runs. Output:\n${api.proc.output().slice(-3000)}`);
  assert.equal(edge.proc.child.exitCode, null, 'edge still runs');

  // Every request answered, within the bound; every failure the retryable database error, and only around a restart.
  const slow = outcomes.filter((o) => o.ms > ANSWER_BOUND_MS);
  assert.deepEqual(slow, [], `answered within ${ANSWER_BOUND_MS} ms: ${report(slow)}`);
  const unexpected = failed.filter((o) => o.cdnCode === null || !RETRYABLE.has(o.cdnCode) || o.code !== 'SERVICE_UNAVAILABLE');
  const apiErrors = (): string =>
    apis
      .flatMap((api) => api.proc.output().split('\n'))
      .filter((line) => line.includes('unexpected error'))
      .slice(0, 5)
      .join('\n');
  assert.deepEqual(unexpected, [], `failures are the retryable database errors: ${report(unexpected)}\n${apiErrors()}`);
  const stray = failed.filter((o) => !during(o));
  assert.deepEqual(stray, [], `failures only while PostgreSQL restarts: ${report(stray)}`);
  for (const o of failed) assert.match(o.message!, /retry|send it again/i, 'the message says to retry');

  // /readyz went not ready while PostgreSQL was down, and ready again.
  for (const [i, samples] of readiness.entries()) {
    for (const [round, r] of restarts.entries()) {
      const inside = samples.filter((s) => s.at >= r.downAt && s.at <= r.upAt);
      assert.ok(inside.some((s) => s.status === 503), `api ${i} not ready during restart ${round + 1}: ${JSON.stringify(inside.map((s) => s.status))}`);
    }
    assert.equal(samples.at(-1)!.status, 200, `api ${i} ready at the end`);
  }

  // Every success is committed, once; a failure before commit left nothing; the outcome-unknown ones at most once.
  const rows = await sql<{ seq: string; kind: string; customer_id: string; purge_id: string | null }>(
    `SELECT "seq", "kind", "customer_id", "payload"->'purge'->>'id' AS "purge_id" FROM "change_log" ORDER BY "seq"`,
  );
  const seqOf = new Map<string, number[]>();
  for (const r of rows) {
    const key = r.kind === 'purge.requested' ? `purge:${r.purge_id}` : `customer:${r.customer_id}`;
    seqOf.set(key, [...(seqOf.get(key) ?? []), Number(r.seq)]);
  }
  const key = (o: Outcome): string => `${o.kind}:${o.id}`;
  for (const o of ok) assert.equal(seqOf.get(key(o))?.length, 1, `${key(o)} answered with success is committed once`);
  for (const o of failed.filter((f) => f.kind === 'customer')) {
    const committed = seqOf.get(key(o))?.length ?? 0;
    if (o.cdnCode === 'CDN_ERR_DATABASE_OUTCOME_UNKNOWN') assert.ok(committed <= 1, `${key(o)} at most once`);
    else assert.equal(committed, 0, `${key(o)} refused with ${o.cdnCode} left nothing`);
  }

  // In the order answered: each client's successful mutations have increasing seqs.
  for (let worker = 0; worker < WORKERS; worker += 1) {
    const seqs = ok.filter((o) => o.worker === worker).map((o) => seqOf.get(key(o))![0]!);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `client ${worker}'s changes are in the order they were answered`);
  }

  // The relay caught up: the bus stream holds every change_log row once, in seq order, each linked to the one before.
  const lastSeq = Number(rows.at(-1)!.seq);
  const bus = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await bus.connect();
  let stream: Change[] = [];
  try {
    await eventually(async () => Number(await bus.get(`${redis.prefix}published-seq`)) >= lastSeq, 30_000, 'the relay publishes the last change');
    const entries = await bus.xrange(`${redis.prefix}changes`, '-', '+');
    stream = entries.map(([id, fields]) => {
      const change = JSON.parse(fields[1]!) as Change;
      assert.equal(id, `${change.seq}-0`);
      return change;
    });
  } finally {
    bus.disconnect();
  }
  assert.deepEqual(
    stream.map((c) => c.seq),
    rows.map((r) => Number(r.seq)),
    'the stream holds every committed change once, in seq order, none missing',
  );
  for (const [i, change] of stream.entries()) assert.equal(change.prevSeq, i === 0 ? 0 : stream[i - 1]!.seq, `change ${change.seq} links to the one before`);

  // The edge applied everything: it serves every customer created, and acked every purge.
  await eventually(
    async () => {
      const res = await fetch(`${edge.adminUrl}/readyz`);
      return Number(((await res.json()) as { appliedSeq?: number }).appliedSeq) >= lastSeq;
    },
    30_000,
    `the edge applies seq ${lastSeq}`,
  );
  for (const o of ok.filter((x) => x.kind === 'customer')) {
    const res = await httpGet(`${edge.url}/hello.json`, `${o.id}.failover.test`);
    assert.equal(res.status, 200, `the edge serves ${o.id}: ${res.body}`);
  }
  const purges = ok.filter((o) => o.kind === 'purge');
  await eventually(
    async () => {
      for (const o of purges) {
        const { purge } = await gql<{ purge: { edgesApplied: number; edges: Array<{ edgeId: string; appliedAt: string | null }> } | null }>(apis[0]!.url, GET_PURGE, { id: o.id });
        if (!purge?.edges.some((e) => e.edgeId === EDGE_ID && e.appliedAt !== null)) return false;
      }
      return true;
    },
    30_000,
    `the edge acked all ${purges.length} purges`,
  );
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
