/**
 * Several apis behind one address, with real processes: two `cdn api` (from dist) on one
 * database and one Redis prefix, Debian's nginx in front of them running the compose stack's
 * own deploy/lb/nginx.conf (only the addresses changed), a `cdn edge` with traffic the test
 * sends, and a graphql-ws client (the graphql-ws package with its default retry settings)
 * subscribed to cacheStats through the balancer, keeping `after` at the last second it got.
 *
 * The replica holding the client's socket is stopped (SIGTERM): the client reconnects through
 * the balancer to the other replica and goes on, with every second exactly once (consecutive
 * `at`) and the requests of those seconds adding up to exactly the requests sent. The stopped
 * replica is started again, the balancer takes it back, and the other one is stopped: the
 * client moves back. GraphQL queries sent through the balancer all along all answer (a query
 * still queued in a replica's accept queue as it stops gets a 502 from the balancer, at most once
 * per stop, and is retried).
 *
 * Debian's nginx (1.22) lacks the upstream `resolve` parameter (1.27.3+, which the compose
 * image has): the test drops it, as it replaces the compose host names with loopback ports.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startDemoOrigin, type DemoOrigin } from '../../src/demo/demo-origin';
import { eventually, graphqlRequest, httpGet, ROOT, spawnCdn, stackEnv, type CdnProcess } from '../support/processes';
import { freePort } from '../support/redis-server';
import { createTestDatabase, createTestRedisPrefix, type TestDatabase, type TestRedis } from '../support/services';

const NGINX = '/usr/sbin/nginx';
const TOKEN = 'e2e-replicas-token-0123456789abcdef';
const SECRET = 'e2e-replicas-secret-0123456789abcdef-0123456789';
const CUSTOMER = 'replica-co';
const HOST = 'cdn.replica-co.test';

const CACHE_STATS = `subscription($customerId: ID!, $after: DateTimeISO) {
  cacheStats(customerId: $customerId, after: $after) { at requests edges { edgeId requests } }
}`;
const SUBSCRIPTIONS_OPEN = /^cdn_api_subscriptions_open\{subscription="cacheStats"\} (\d+)$/m;

type CacheStats = { at: string; requests: number; edges: Array<{ edgeId: string; requests: number }> };
type Api = { name: string; port: number; proc: CdnProcess };

let db: TestDatabase;
let redis: TestRedis;
let origin: DemoOrigin;
let env: Record<string, string>;
const apis: Api[] = [];
let nginx: ChildProcess | undefined;
let nginxOutput = '';
let lbUrl: string;
let edge: { proc: CdnProcess; url: string };
let client: Client | undefined;
const tempDirs: string[] = [];

async function tempDir(what: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `edgeplane-replicas-${what}-`));
  tempDirs.push(dir);
  return dir;
}

async function startReplica(name: string, port: number): Promise<Api> {
  const proc = spawnCdn(['api'], { ...env, CDN_API_PORT: String(port), CDN_DATA_DIR: await tempDir(name) });
  await proc.waitForLog('api listening');
  return { name, port, proc };
}

/** deploy/lb/nginx.conf with the replicas and the listen address on loopback, inside a minimal main config. */
function nginxConfig(dir: string, listenPort: number, replicaPorts: number[]): { main: string; lb: string } {
  let lb = readFileSync(path.join(ROOT, 'deploy', 'lb', 'nginx.conf'), 'utf8');
  const servers = [...lb.matchAll(/^(\s*)server (api-\d+):4000 resolve (.*);$/gm)];
  assert.equal(servers.length, replicaPorts.length, 'deploy/lb/nginx.conf names two replicas, each with resolve');
  servers.forEach((m, i) => (lb = lb.replace(m[0], `${m[1]}server 127.0.0.1:${replicaPorts[i]} ${m[3]};`)));
  assert.match(lb, /^\s*listen 4000;$/m);
  lb = lb.replace(/^(\s*)listen 4000;$/m, `$1listen 127.0.0.1:${listenPort};`);
  const main = [
    'daemon off;',
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    'error_log stderr notice;',
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t}_temp;`),
    `  include ${dir}/api-lb.conf;`,
    '}',
  ].join('\n');
  return { main, lb };
}

async function graphqlThroughLb<T>(query: string, variables: Record<string, unknown> = {}) {
  return graphqlRequest<T>(lbUrl, TOKEN, query, variables);
}

async function subscriptionsOpen(api: Api): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${api.port}/metrics`)).text();
  return Number(SUBSCRIPTIONS_OPEN.exec(text)?.[1] ?? 0);
}

before(async () => {
  assert.ok(existsSync(NGINX), `${NGINX} is missing: install Debian's nginx (apt-get install nginx-light), the load balancer this test runs`);
  db = await createTestDatabase();
  redis = createTestRedisPrefix();
  origin = await startDemoOrigin({ customerId: CUSTOMER });
  env = stackEnv({ databaseUrl: db.url, redisUrl: redis.url, redisPrefix: redis.prefix, adminToken: TOKEN, secretKey: SECRET }, { CDN_EDGE_WORKERS: '1' });
  // One after the other: the first applies the migrations.
  const [p1, p2, lbPort] = [await freePort(), await freePort(), await freePort()];
  apis.push(await startReplica('api-1', p1));
  apis.push(await startReplica('api-2', p2));

  const dir = await tempDir('nginx');
  // nginx's workers run as an unprivileged user when the test runs as root.
  await chmod(dir, 0o755);
  const config = nginxConfig(dir, lbPort, [p1, p2]);
  await writeFile(path.join(dir, 'api-lb.conf'), config.lb);
  await writeFile(path.join(dir, 'nginx.conf'), config.main);
  nginx = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', 'stderr'], { stdio: ['ignore', 'pipe', 'pipe'] });
  nginx.stdout!.on('data', (d: Buffer) => (nginxOutput += d.toString()));
  nginx.stderr!.on('data', (d: Buffer) => (nginxOutput += d.toString()));
  lbUrl = `http://127.0.0.1:${lbPort}`;
  await eventually(async () => (await fetch(`${lbUrl}/readyz`).catch(() => null))?.status === 200, 10_000, `nginx answers /readyz through the balancer. nginx:\n${nginxOutput}`);

  const edgeProc = spawnCdn(['edge'], { ...env, CDN_DATA_DIR: await tempDir('edge'), CDN_EDGE_ID: 'replica-edge' });
  edge = { proc: edgeProc, url: String((await edgeProc.waitForLog('edge listening')).url) };
  const created = await graphqlThroughLb('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', {
    input: { id: CUSTOMER, name: 'Replica Co', originUrl: origin.url, domains: [HOST] },
  });
  assert.equal(created.errors, undefined, JSON.stringify(created.errors));
  await eventually(async () => (await httpGet(`${edge.url}/warm-up`, HOST)).status === 200, 10_000, 'the edge serves the customer');
});

after(async () => {
  await client?.dispose();
  const codes: string[] = [];
  for (const proc of [edge?.proc, ...apis.map((a) => a.proc)]) {
    if (proc) codes.push(String(await proc.stop()));
  }
  if (nginx && nginx.exitCode === null) {
    nginx.kill('SIGQUIT');
    await new Promise((resolve) => nginx!.once('exit', resolve));
  }
  await origin?.close();
  await redis?.cleanup();
  await db?.drop();
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
  assert.ok(codes.every((c) => c === '0' || c === 'null'), `processes exit 0 on SIGTERM: ${codes.join(', ')}`);
});

test('a subscriber through the balancer moves to the other replica when its own stops, and misses no second and no request', async (t) => {
  // The client as an application would write it: graphql-ws' default retry settings, and
  // `after` kept at the last second received (graphql-ws resends this payload on reconnect).
  let connections = 0;
  client = createClient({
    url: `${lbUrl.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${TOKEN}` },
    on: { connected: () => (connections += 1) },
  });
  const events: CacheStats[] = [];
  const failures: unknown[] = [];
  let completed = false;
  const payload = { query: CACHE_STATS, variables: { customerId: CUSTOMER, after: null as string | null } };
  client.subscribe<{ cacheStats: CacheStats }>(payload, {
    next: (r) => {
      if (r.errors) failures.push(r.errors);
      else {
        events.push(r.data!.cacheStats);
        payload.variables.after = r.data!.cacheStats.at;
      }
    },
    error: (err) => failures.push(err),
    complete: () => (completed = true),
  });
  const waitForEventAfter = (ms: number, what: string): Promise<number> =>
    eventually(async () => {
      assert.deepEqual(failures, [], 'the subscription failed');
      return events.some((e) => Date.parse(e.at) > ms);
    }, 20_000, what);
  // Quiet first: an event for a second after the warm-up requests of `before`.
  await waitForEventAfter(Date.now() + 1000, 'an event after the warm-up');

  // Traffic from the end of that event's interval on: every request counts after it.
  const firstAt = Date.parse(events[events.length - 1]!.at);
  let sent = 0;
  let sending = true;
  const traffic = (async () => {
    for (let i = 0; sending; i += 1) {
      const res = await httpGet(`${edge.url}/object-${i % 20}.json`, HOST);
      assert.equal(res.status, 200, res.body);
      sent += 1;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  // GraphQL over HTTP through the balancer, all along. A stopping replica refuses new
  // connections (nginx tries the other, POST included) and answers those it had accepted
  // (test/integration/api.drain.test.ts). Left: a POST still queued in the kernel's accept queue
  // the instant the listening socket closes is reset, and nginx does not pass a POST on once it
  // reached a replica (a mutation must never run twice): the balancer answers 502, and a client
  // retries its query, as this one does, once.
  const answers: string[] = [];
  const retried: string[] = [];
  let querying = true;
  const query = async (): Promise<{ status: number; body: string }> => {
    const res = await fetch(`${lbUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ query: 'query($id: ID!) { customer(id: $id) { id } }', variables: { id: CUSTOMER } }),
    }).catch((err: Error) => ({ status: 0, text: async () => err.message }));
    return { status: res.status, body: await res.text() };
  };
  const queries = (async () => {
    while (querying) {
      let res = await query();
      if (res.status === 502) {
        retried.push(new Date().toISOString());
        res = await query();
      }
      answers.push(res.status === 200 && res.body.includes(`"id":"${CUSTOMER}"`) ? 'ok' : `${res.status} ${res.body}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();

  try {
    for (const round of [1, 2]) {
      await waitForEventAfter(Date.now() + 1000, `round ${round}: live events`);
      // The replica holding the socket (per its own metrics, not through the balancer).
      const open = await Promise.all(apis.map(subscriptionsOpen));
      assert.equal(open.reduce((a, b) => a + b, 0), 1, `one subscription on the replicas: ${open.join(', ')}`);
      const holder = apis[open.indexOf(1)]!;
      const other = apis.find((a) => a !== holder)!;
      const before = connections;
      const stoppedAt = Date.now();
      assert.equal(await holder.proc.stop(), 0, `${holder.name} exits 0 on SIGTERM. Output:\n${holder.proc.output().slice(-3000)}`);
      t.diagnostic(`round ${round}: ${holder.name} stopped in ${Date.now() - stoppedAt} ms`);
      await eventually(async () => connections > before, 15_000, `round ${round}: the client reconnects`);
      await eventually(async () => (await subscriptionsOpen(other)) === 1, 5_000, `round ${round}: the subscription is on ${other.name} now`);
      await waitForEventAfter(Date.now() + 1000, `round ${round}: events after the switch`);
      t.diagnostic(`round ${round}: live again on ${other.name} ${Date.now() - stoppedAt} ms after the stop`);
      if (round === 1) {
        // The stopped replica comes back on its port; the balancer takes it back (after fail_timeout).
        const back = await startReplica(holder.name, holder.port);
        apis[apis.indexOf(holder)] = back;
        await new Promise((r) => setTimeout(r, 6000));
      }
    }
  } finally {
    sending = false;
    querying = false;
    await traffic;
    await queries;
  }
  // The last request's second, sealed and sent: two events after it.
  await waitForEventAfter(Date.now() + 2000, 'the events after the traffic');
  assert.deepEqual(failures, []);
  assert.equal(completed, false, 'the subscription never ended');
  assert.equal(connections, 3, 'connected, then reconnected once per stopped replica');

  const times = events.map((e) => Date.parse(e.at) / 1000);
  const steps = times.slice(1).map((s, i) => s - times[i]!);
  assert.ok(steps.every((d) => d === 1), `every second once, in order: ${events.map((e) => e.at).join(' ')}`);
  const counted = events.filter((e) => Date.parse(e.at) > firstAt).reduce((sum, e) => sum + e.requests, 0);
  assert.equal(counted, sent, `the requests of every second add up to those sent (${sent})`);
  assert.ok(sent > 100, `traffic throughout (${sent} requests)`);

  t.diagnostic(`${sent} requests to the edge, ${answers.length} GraphQL queries through the balancer, ${events.length} events, ${retried.length} queries retried after a 502`);
  const failed = answers.filter((a) => a !== 'ok');
  assert.deepEqual(failed, [], `every GraphQL query through the balancer answered (${answers.length} sent; ${retried.length} retried after a 502)`);
  // At most the query in flight at each of the two stops.
  assert.ok(retried.length <= 2, `a 502 only as a replica stops: ${retried.join(' ')}`);
  assert.ok(answers.length > 50, `queries throughout (${answers.length})`);
});
