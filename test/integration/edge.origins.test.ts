/**
 * Several origins per customer, through real sockets and real origin servers that die
 * (close their port), stall (never answer), answer 5xx and recover: failover to the next
 * priority and back after a trial request, the weighted spread within a priority (seeded),
 * a failed fill retried once on another origin and the retry budget that stops retries, a
 * POST never retried, active health checks taking an origin down and back up (and stopping
 * when the customer changes), every origin down (stale within the all-down window, marked
 * X-Cache: STALE, never what must be revalidated; a 503 with Retry-After otherwise; no
 * request to the dead origin during its cool-down), the Host override and TLS server name an
 * https origin receives, and the per-customer cap on origin requests with its queue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createCertificateAuthority } from '../../src/bin/demo-pki';
import type { CustomerConfig } from '../../src/core/customer.types';
import type { OriginConfig, OriginPolicy } from '../../src/core/origin.types';
import type { EdgeCustomerFeed } from '../../src/edge/customer-feed.port';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { CustomerIndex } from '../../src/edge/sync/customer-index';
import { feedOverIndex } from '../../src/edge/sync/static-feed';
import { createLogger } from '../../src/obs/logger.factory';
import { rng } from '../support/random';
import { customer, edgeConfig, eventually, http, ManualClock, pemFile, tempDir, type HttpResult } from './edge.harness';

type Mode = 'ok' | '5xx' | 'stall' | 'hold';

/** An origin the test drives: how it answers requests and health checks, dying and coming back on its port. */
class TestOrigin {
  readonly name: string;
  mode: Mode = 'ok';
  healthMode: 'ok' | 'fail' | 'stall' = 'ok';
  /** Cache-Control of its answers, by path. */
  cacheControl: (path: string) => string = () => 'no-store';
  readonly requests: { method: string; url: string; host: string | undefined; servername: string | undefined }[] = [];
  checks = 0;
  /** The paths health checks asked for. */
  readonly checkPaths: string[] = [];
  connections = 0;
  readonly held: ServerResponse[] = [];
  port = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(name: string, server?: Server) {
    this.name = name;
    this.#server = server ?? createServer();
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#handle(req, res));
    this.#server.on(server === undefined ? 'connection' : 'secureConnection', (socket: Socket) => {
      this.connections += 1;
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  served(): number {
    return this.requests.length;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  /** Closes its port and every connection: connections are refused until `listen()` again. */
  async die(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  /** Answers one held request. */
  releaseOne(): void {
    this.held.shift()?.writeHead(200, { 'cache-control': 'no-store' }).end(`from ${this.name}`);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    if (req.url!.endsWith('/health')) {
      this.checks += 1;
      this.checkPaths.push(req.url!);
      if (this.healthMode === 'stall') return;
      res.writeHead(this.healthMode === 'ok' ? 200 : 503).end('health');
      return;
    }
    this.requests.push({ method: req.method!, url: req.url!, host: req.headers.host, servername: (req.socket as TLSSocket).servername || undefined });
    if (this.mode === 'stall') return;
    if (this.mode === 'hold') return void this.held.push(res);
    if (this.mode === '5xx') return void res.writeHead(503, { 'content-type': 'text/plain' }).end(`${this.name} is failing`);
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': this.cacheControl(req.url!) }).end(`from ${this.name}`);
  }
}

async function origins(...names: string[]): Promise<TestOrigin[]> {
  return Promise.all(names.map((n) => new TestOrigin(n).listen()));
}

function origin(name: string, url: string, extra: Partial<OriginConfig> = {}): OriginConfig {
  return { name, url, basicAuth: null, priority: 1, weight: 1, hostHeader: null, tlsServerName: null, healthCheck: null, ...extra };
}

const NO_POLICY: OriginPolicy = { maxConnections: null, queueTimeoutMs: null, retryBudgetPercent: null, staleIfDownSeconds: null };

let versions = 0;
function multi(id: string, list: OriginConfig[], policy: Partial<OriginPolicy> = {}): CustomerConfig {
  versions += 1;
  return { ...customer(id, list[0]!.url, [`cdn.${id}.test`], { version: versions }), origins: list, originPolicy: { ...NO_POLICY, ...policy } };
}

/** A feed whose customers the test changes while the edge runs. */
function mutableFeed(customers: CustomerConfig[]): EdgeCustomerFeed & { index: CustomerIndex } {
  const index = new CustomerIndex();
  for (const c of customers) index.upsert(c);
  return { ...feedOverIndex(index), index };
}

interface Env {
  edge: EdgeHandle;
  feed: ReturnType<typeof mutableFeed>;
  logs: Array<Record<string, unknown>>;
  get(id: string, path: string, options?: Parameters<typeof http>[2]): Promise<HttpResult>;
  metric(line: string): Promise<number | undefined>;
  cleanup(): Promise<void>;
}

async function edgeWith(customers: CustomerConfig[], env: Record<string, string> = {}, extra: { clock?: ManualClock; random?: () => number } = {}): Promise<Env> {
  const tmp = await tempDir();
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({ name: 'edge', level: 'info', destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) } });
  const feed = mutableFeed(customers);
  const edge = await startEdge(edgeConfig(tmp.dir, { CDN_EDGE_ORIGIN_COOLDOWN_MS: '400', ...env }), {
    customers: feed,
    logger,
    ...(extra.clock === undefined ? {} : { clock: extra.clock }),
    ...(extra.random === undefined ? {} : { random: extra.random }),
  });
  return {
    edge,
    feed,
    logs,
    get: (id, path, options = {}) => http(edge.url, path, { host: `cdn.${id}.test`, ...options }),
    metric: async (line) => {
      const text = (await http(edge.adminUrl, '/metrics')).body;
      const found = text.split('\n').find((l) => l.startsWith(`${line} `));
      return found === undefined ? undefined : Number(found.slice(line.length + 1));
    },
    cleanup: async () => {
      await edge.close();
      await tmp.remove();
    },
  };
}

function stateOf(env: Env, id: string, name: string): string | undefined {
  return env.edge.originHealth(id)?.find((o) => o.origin === name)?.state;
}

test('failover: the second priority answers while the first is dead (each failure retried there); the first comes back after one trial request', async () => {
  const [a, b] = await origins('a', 'b');
  const env = await edgeWith([multi('fo', [origin('a', a!.url), origin('b', b!.url, { priority: 2 })])], { CDN_EDGE_ORIGIN_UNHEALTHY_THRESHOLD: '2', CDN_EDGE_ORIGIN_COOLDOWN_MS: '1500' });
  try {
    assert.equal((await env.get('fo', '/first')).body, 'from a', 'the first priority takes the requests while it is up');
    assert.equal(b.served(), 0);
    await a!.die();
    for (let i = 0; i < 6; i += 1) {
      const r = await env.get('fo', `/during-${i}`);
      assert.equal(r.status, 200, r.body);
      assert.equal(r.body, 'from b');
    }
    assert.equal(stateOf(env, 'fo', 'a'), 'down');
    assert.equal(stateOf(env, 'fo', 'b'), 'up');
    const report = env.edge.originHealth('fo')!.find((o) => o.origin === 'a')!;
    assert.match(report.reason!, /2 requests failed in a row, the last: refused/);
    assert.equal(await env.metric('cdn_edge_origin_up{customer="fo",origin="a"}'), 0);
    assert.equal(await env.metric('cdn_edge_origin_up{customer="fo",origin="b"}'), 1);
    // The two failures that took it down were retried on b; then a got no more requests.
    assert.equal(await env.metric('cdn_edge_origin_retries_total{customer="fo"}'), 2);
    const down = env.logs.find((l) => l.msg === 'origin down');
    assert.deepEqual([down?.customer, down?.origin], ['fo', 'a']);

    await a!.listen();
    const before = a!.served();
    // Within the cool-down nothing goes to a; after it, one trial request brings it back.
    assert.equal((await env.get('fo', '/still-b')).body, 'from b');
    assert.equal(a!.served(), before);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    assert.equal((await env.get('fo', '/trial')).body, 'from a');
    assert.equal(stateOf(env, 'fo', 'a'), 'up');
    assert.equal((await env.get('fo', '/after')).body, 'from a');
    const up = env.logs.find((l) => l.msg === 'origin up');
    assert.deepEqual([up?.customer, up?.origin, up?.reason], ['fo', 'a', 'a trial request succeeded']);
  } finally {
    await env.cleanup();
    await Promise.all([a!.die().catch(() => {}), b!.die()]);
  }
});

test('weighted spread within a priority: weights 1 and 3 share 1,000 misses about 1:3 (seeded random); a lower priority gets none', async () => {
  const [a, b, c] = await origins('a', 'b', 'c');
  const env = await edgeWith([multi('w', [origin('a', a!.url, { weight: 1 }), origin('b', b!.url, { weight: 3 }), origin('c', c!.url, { priority: 2, weight: 1000 })])], {}, { random: rng(20251207) });
  try {
    for (let batch = 0; batch < 50; batch += 1) {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => env.get('w', `/w/${batch}/${i}`)));
      assert.ok(answers.every((r) => r.status === 200));
    }
    assert.equal(a!.served() + b!.served(), 1000);
    const share = b!.served() / 1000;
    assert.ok(share >= 0.7 && share <= 0.8, `weight 3 of 4 got ${share * 100} % (a: ${a!.served()}, b: ${b!.served()})`);
    assert.equal(c!.served(), 0, 'a lower priority gets nothing while the first is healthy');
  } finally {
    await env.cleanup();
    await Promise.all([a!.die(), b!.die(), c!.die()]);
  }
});

test('a 5xx and a timeout are retried once on another origin; a POST is never retried', async () => {
  const [a, b] = await origins('a', 'b');
  a!.mode = '5xx';
  const env = await edgeWith([multi('rt', [origin('a', a!.url), origin('b', b!.url, { priority: 2 })])], {
    CDN_EDGE_ORIGIN_UNHEALTHY_THRESHOLD: '100',
    CDN_ORIGIN_TIMEOUT_MS: '500',
  });
  try {
    const got = await env.get('rt', '/page');
    assert.equal(got.status, 200);
    assert.equal(got.body, 'from b');
    assert.deepEqual([a!.served(), b!.served()], [1, 1], 'one request each: the 5xx was retried once');

    const post = await env.get('rt', '/form', { method: 'POST', body: 'x=1' });
    assert.equal(post.status, 503, 'the POST gets the origin answer, not a retry');
    assert.equal(post.body, 'a is failing');
    assert.deepEqual([a!.served(), b!.served()], [2, 1], 'b never saw the POST');

    a!.mode = 'stall';
    const slow = await env.get('rt', '/slow');
    assert.equal(slow.body, 'from b', 'a timeout is retried too');
    assert.equal(b!.served(), 2);
    const stalledPost = await env.get('rt', '/slow-form', { method: 'POST', body: 'x=2' });
    assert.equal(stalledPost.status, 504);
    assert.equal(JSON.parse(stalledPost.body).code, 'CDN_ERR_ORIGIN_TIMEOUT');
    assert.equal(b!.served(), 2, 'a POST that timed out is not sent again');
    assert.equal(await env.metric('cdn_edge_origin_retries_total{customer="rt"}'), 2);
  } finally {
    await env.cleanup();
    await Promise.all([a!.die(), b!.die()]);
  }
});

test('the retry budget: with 10 % and no floor, 50 failing misses are retried 5 times', async () => {
  const [a, b] = await origins('a', 'b');
  a!.mode = '5xx';
  b!.mode = '5xx';
  const env = await edgeWith([multi('budget', [origin('a', a!.url), origin('b', b!.url, { priority: 2 })], { retryBudgetPercent: 10 })], {
    CDN_EDGE_ORIGIN_UNHEALTHY_THRESHOLD: '100',
    CDN_EDGE_ORIGIN_MIN_RETRIES: '0',
  });
  try {
    for (let i = 1; i <= 50; i += 1) {
      const r = await env.get('budget', `/b/${i}`);
      assert.equal(r.status, 503);
      assert.match(r.body, /is failing/);
    }
    assert.equal(a!.served(), 50);
    // Retry n is allowed once retries + 1 <= 10 % of the requests: at the 10th, 20th, ... 50th.
    assert.equal(b!.served(), 5);
    assert.equal(await env.metric('cdn_edge_origin_retries_total{customer="budget"}'), 5);
  } finally {
    await env.cleanup();
    await Promise.all([a!.die(), b!.die()]);
  }
});

test('active health checks take an origin down (stalled checks) and bring it back (two passes); they stop when the customer drops the check', async () => {
  const [a, b] = await origins('a', 'b');
  const check = { path: '/health', intervalSeconds: 1, timeoutMs: 300, expectedStatusMin: 200, expectedStatusMax: 299, healthyThreshold: 2, unhealthyThreshold: 2 };
  const c = multi('hc', [origin('a', a!.url, { healthCheck: check }), origin('b', b!.url, { priority: 2 })]);
  const env = await edgeWith([c]);
  try {
    await eventually(() => a!.checks >= 1, 2500, 'a first check within the first interval');
    assert.equal((await env.get('hc', '/one')).body, 'from a');
    a!.healthMode = 'stall';
    await eventually(() => stateOf(env, 'hc', 'a') === 'down', 5000, 'a down after two stalled checks');
    const report = env.edge.originHealth('hc')!.find((o) => o.origin === 'a')!;
    assert.match(report.reason!, /health check: no answer within 300 ms/);
    assert.equal(report.checked, true);
    // Requests themselves still work at a: only the checks took it down.
    assert.equal((await env.get('hc', '/two')).body, 'from b');
    assert.equal(a!.served(), 1, 'an actively checked origin gets no trial request while another is up');

    a!.healthMode = 'ok';
    await eventually(() => stateOf(env, 'hc', 'a') === 'up', 5000, 'a up after two passing checks');
    assert.match(env.edge.originHealth('hc')!.find((o) => o.origin === 'a')!.reason!, /2 health checks passed in a row/);
    assert.equal((await env.get('hc', '/three')).body, 'from a');
    assert.deepEqual(
      env.logs.filter((l) => l.msg === 'origin down' || l.msg === 'origin up').map((l) => `${String(l.msg)} ${String(l.origin)}`),
      ['origin down a', 'origin up a'],
    );

    // The customer drops the check: a is no longer asked for /health.
    env.feed.index.upsert({ ...c, origins: [origin('a', a!.url), origin('b', b!.url, { priority: 2 })], version: c.version + 1 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const checks = a!.checks;
    await new Promise((resolve) => setTimeout(resolve, 2200));
    assert.equal(a!.checks, checks, 'no check after the customer changed');
    assert.equal(env.edge.originHealth('hc')!.find((o) => o.origin === 'a')!.checked, false);
  } finally {
    await env.cleanup();
    await Promise.all([a!.die(), b!.die()]);
  }
});

test('checks stop when the customer is deleted and when the edge closes', async () => {
  const [a] = await origins('a');
  const check = { path: '/health', intervalSeconds: 1, timeoutMs: 300, expectedStatusMin: 200, expectedStatusMax: 299, healthyThreshold: 1, unhealthyThreshold: 1 };
  const env = await edgeWith([multi('gone', [origin('a', a!.url, { healthCheck: check })]), multi('kept', [origin('a', `${a!.url}/kept`, { healthCheck: check })])]);
  try {
    const asked = (path: string): number => a!.checkPaths.filter((p) => p === path).length;
    // The check's path goes under the origin URL's path, like every origin request.
    await eventually(() => asked('/health') >= 2 && asked('/kept/health') >= 2, 4000, 'both customers checked twice');
    env.feed.index.delete('gone');
    assert.equal(env.edge.originHealth('gone'), undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [gone, kept] = [asked('/health'), asked('/kept/health')];
    await new Promise((resolve) => setTimeout(resolve, 2100));
    assert.equal(asked('/health'), gone, 'no check for the deleted customer');
    assert.ok(asked('/kept/health') >= kept + 1, 'the other customer is still checked');
  } finally {
    await env.cleanup();
  }
  const after = a!.checks;
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(a!.checks, after, 'no check after the edge closed');
  await a!.die();
});

test('every origin down: stale within the all-down window (X-Cache: STALE), never must-revalidate; 503 with Retry-After otherwise; no request during the cool-down', async () => {
  const [a] = await origins('a');
  a!.cacheControl = (path) => (path === '/strict' ? 'max-age=1, must-revalidate' : 'max-age=1');
  const clock = new ManualClock();
  const env = await edgeWith([multi('down', [origin('a', a!.url)], { staleIfDownSeconds: 30 })], { CDN_EDGE_ORIGIN_UNHEALTHY_THRESHOLD: '1', CDN_EDGE_ORIGIN_COOLDOWN_MS: '60000' }, { clock });
  try {
    assert.equal((await env.get('down', '/page')).headers['x-cache'], 'MISS');
    assert.equal((await env.get('down', '/strict')).headers['x-cache'], 'MISS');
    clock.advance(10_000);
    await a!.die();

    // The request that finds the origin dead takes it down; as every origin is now down, its stale copy answers.
    const first = await env.get('down', '/page');
    assert.equal(first.status, 200);
    assert.equal(first.headers['x-cache'], 'STALE');
    assert.equal(first.body, 'from a');
    assert.equal(stateOf(env, 'down', 'a'), 'down');

    await a!.listen();
    a!.mode = '5xx';
    const connections = a!.connections;
    const again = await env.get('down', '/page');
    assert.equal(again.headers['x-cache'], 'STALE');
    const strict = await env.get('down', '/strict');
    assert.equal(strict.status, 503, 'must-revalidate is never served stale, origins down or not');
    assert.notEqual(strict.headers['x-cache'], 'STALE');
    assert.equal(JSON.parse(strict.body).code, 'CDN_ERR_ORIGIN_ALL_DOWN');
    const none = await env.get('down', '/never-stored');
    assert.equal(none.status, 503);
    assert.equal(JSON.parse(none.body).code, 'CDN_ERR_ORIGIN_ALL_DOWN');
    const retryAfter = Number(none.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${none.headers['retry-after']}`);
    assert.equal(a!.connections, connections, 'no request reached the origin during its cool-down');

    // Past the window (fresh 1 s + 30 s), the stale copy no longer answers.
    clock.advance(30_000);
    const late = await env.get('down', '/page');
    assert.equal(late.status, 503);
    assert.equal(late.headers['x-cache'], 'MISS');
    assert.ok(Number(late.headers['retry-after']) >= 1);
  } finally {
    await env.cleanup();
    await a!.die();
  }
});

test('all down, with the trial: after the cool-down one request may try; the origin that answers is up again', async () => {
  const [a, b] = await origins('a', 'b');
  const env = await edgeWith([multi('trial', [origin('a', a!.url), origin('b', b!.url, { priority: 2 })])], { CDN_EDGE_ORIGIN_UNHEALTHY_THRESHOLD: '1', CDN_EDGE_ORIGIN_COOLDOWN_MS: '400' });
  try {
    a!.mode = '5xx';
    b!.mode = '5xx';
    // a fails, the retry at b fails: both are down.
    assert.equal((await env.get('trial', '/x')).status, 503);
    assert.deepEqual([stateOf(env, 'trial', 'a'), stateOf(env, 'trial', 'b')], ['down', 'down']);
    const refused = await env.get('trial', '/y');
    assert.equal(JSON.parse(refused.body).code, 'CDN_ERR_ORIGIN_ALL_DOWN');
    assert.deepEqual([a!.served(), b!.served()], [1, 1]);
    b!.mode = 'ok';
    await new Promise((resolve) => setTimeout(resolve, 450));
    // a (first priority) takes the trial and fails; the retry is b's trial, which answers.
    const back = await env.get('trial', '/z');
    assert.equal(back.body, 'from b');
    assert.deepEqual([stateOf(env, 'trial', 'a'), stateOf(env, 'trial', 'b')], ['down', 'up']);
  } finally {
    await env.cleanup();
    await Promise.all([a!.die(), b!.die()]);
  }
});

test('an https origin gets the configured Host and TLS server name (SNI), its certificate checked against that name', async () => {
  const tmp = await tempDir();
  const ca = await createCertificateAuthority('Edgeplane Origin Test CA');
  const leaf = await ca.issue(['origin-tls.test', 'alt-tls.test']);
  const secure = await new TestOrigin('secure', createHttpsServer({ key: leaf.keyPem, cert: leaf.chainPem })).listen();
  const url = `https://127.0.0.1:${secure.port}`;
  const caFile = await pemFile(tmp.dir, 'origin-ca.pem', ca.certPem);
  const env = await edgeWith(
    [
      multi('sni', [origin('s', url, { hostHeader: 'www.backend.test', tlsServerName: 'origin-tls.test' })]),
      multi('hosted', [origin('s', url, { hostHeader: 'alt-tls.test:8443' })]),
      multi('wrong', [origin('s', url, { tlsServerName: 'other.test' })]),
    ],
    { CDN_EDGE_ORIGIN_CA_FILE: caFile },
  );
  try {
    const r = await env.get('sni', '/s');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(secure.requests.at(-1), { method: 'GET', url: '/s', host: 'www.backend.test', servername: 'origin-tls.test' });
    const h = await env.get('hosted', '/h');
    assert.equal(h.status, 200, h.body);
    assert.deepEqual(secure.requests.at(-1), { method: 'GET', url: '/h', host: 'alt-tls.test:8443', servername: 'alt-tls.test' }, 'without a TLS name, the Host override names the server');
    const w = await env.get('wrong', '/w');
    assert.equal(w.status, 502, 'a certificate that does not name the TLS server name is refused');
    assert.equal(secure.requests.at(-1)!.url, '/h');
  } finally {
    await env.cleanup();
    await secure.die();
    await tmp.remove();
  }
});

test('the per-customer cap: the request beyond maxConnections waits its turn in the queue, or gets 503 with Retry-After when the wait is too long', async () => {
  const [slow] = await origins('slow');
  slow!.mode = 'hold';
  const env = await edgeWith([
    multi('patient', [origin('s', slow!.url)], { maxConnections: 2, queueTimeoutMs: 5000 }),
    multi('hasty', [origin('s', slow!.url)], { maxConnections: 2, queueTimeoutMs: 200 }),
  ]);
  try {
    const three = [1, 2, 3].map((i) => env.get('patient', `/p/${i}`));
    await eventually(() => slow!.held.length === 2, 2000, 'two requests at the origin');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(slow!.held.length, 2, 'the third waits at the edge, not at the origin');
    slow!.releaseOne();
    await eventually(() => slow!.held.length === 2 && slow!.served() === 3, 2000, 'the third request sent once a slot is free');
    slow!.releaseOne();
    slow!.releaseOne();
    for (const r of await Promise.all(three)) assert.equal(r.status, 200);
    assert.equal(await env.metric('cdn_edge_origin_queue_wait_seconds_count{customer="patient"}'), 1);

    const hasty = [1, 2, 3].map((i) => env.get('hasty', `/h/${i}`));
    await eventually(() => slow!.held.length === 2, 2000, 'two hasty requests at the origin');
    const refused = await Promise.race(hasty.map((p) => p.then((r) => (r.status === 503 ? r : new Promise<HttpResult>(() => {})))));
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(JSON.parse(refused.body).code, 'CDN_ERR_ORIGIN_BUSY');
    assert.equal(slow!.served(), 5, 'the refused request never reached the origin');
    slow!.releaseOne();
    slow!.releaseOne();
    const answers = await Promise.all(hasty);
    assert.deepEqual(answers.map((r) => r.status).sort(), [200, 200, 503]);
    assert.equal(await env.metric('cdn_edge_origin_queue_rejections_total{customer="hasty"}'), 1);
  } finally {
    await env.cleanup();
    await slow!.die();
  }
});
