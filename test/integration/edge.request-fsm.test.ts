/**
 * The request state machine (src/edge/pipeline/request.fsm.ts), driven directly: a node:http
 * server on 127.0.0.1 port 0 hands each request to runPipeline over a context of stand-ins
 * (a scripted origin, the memory tier, customers in a Map; test/support/flight.fakes.ts), so
 * the test sees which step asked what, in which order, and what happens when a step throws:
 * before anything was sent the client gets the catalog's 500, after the headers the
 * connection is cut, a stored object held by the transaction is released, and runPipeline
 * itself never rejects. The steps' own rules are tested through the edge in the other
 * test/integration/edge.*.test.ts files.
 */
import { LocalClientRates } from '../../src/edge/access/client-rates';
import { rulesOf } from '../../src/edge/pipeline/customer-rules';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { CustomerConfig } from '../../src/core/customer.types';
import { cacheKey } from '../../src/edge/cache/cache-key';
import type { ObjectMeta, StoredObject } from '../../src/edge/cache/cache-store.port';
import { createPolicy } from '../../src/edge/cache/freshness.rules';
import type { OriginTargets } from '../../src/edge/origin/origin-target';
import { Flights } from '../../src/edge/pipeline/fetch.flight';
import { runPipeline } from '../../src/edge/pipeline/request.fsm';
import { EdgeTransaction, type PipelineContext } from '../../src/edge/pipeline/transaction';
import { createLogger } from '../../src/obs/logger.factory';
import { customer, flightContext, type FakeFlightContext } from '../support/flight.fakes';

const OK = customer('c1');
const BROKEN = customer('broken', { domains: ['broken.test'] });
const CUSTOMERS = new Map<string, CustomerConfig>([
  ['c1.test', OK],
  ['broken.test', BROKEN],
]);

let server: Server;
let port: number;
let ctx: PipelineContext & FakeFlightContext;
/** What the steps asked of the context, in order, and when the response was sent. */
let events: string[] = [];
/** runPipeline's own promise for each request. */
let runs: Array<Promise<void>> = [];
let logs: Array<Record<string, unknown>> = [];
/** The store's answer for a key, when a test replaces the memory tier's. */
const planted = new Map<string, () => StoredObject>();

before(async () => {
  const base = flightContext({
    logger: createLogger({ name: 'edge', level: 'error', destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) } }),
  });
  const store = base.store;
  const get = store.get.bind(store);
  store.get = async (key) => {
    events.push(`lookup ${key.split('\n')[1]}`);
    const plant = planted.get(key);
    if (plant !== undefined) return plant();
    if (key.includes('/store-fails')) throw new Error('the disk index is unreadable');
    return get(key);
  };
  const targetOf = base.targets.of.bind(base.targets);
  const targets = {
    of: (c: CustomerConfig) => {
      if (c.id === BROKEN.id) throw new Error('the origin URL cannot be parsed');
      return targetOf(c);
    },
  } as unknown as OriginTargets;
  const pools = base.pools;
  const originRequest = pools.request.bind(pools);
  pools.request = (target, req) => {
    events.push(`origin ${req.method} ${req.path}`);
    return originRequest(target, req);
  };
  ctx = {
    ...base,
    targets,
    customers: {
      byHost: (host) => (events.push(`resolve ${host}`), CUSTOMERS.get(host)),
      byId: (id) => [...CUSTOMERS.values()].find((c) => c.id === id),
      all: () => [...CUSTOMERS.values()],
      isReady: () => true,
    },
    flights: new Flights(),
    logSample: 0,
    rules: (customer) => rulesOf(customer, undefined, (_id, message) => events.push(`rules problem ${message}`)),
    clientRates: new LocalClientRates(),
    signedUrlLeewaySeconds: 0,
  };
  server = createServer((req, res) => {
    res.once('finish', () => events.push(`sent ${res.statusCode}`));
    // As the client limits do when they refuse a body while the pipeline runs (client-limits.ts).
    if (req.url === '/refused-early') res.writeHead(413, { 'content-type': 'application/json' }).end('{"code":"refused by the client limits"}');
    runs.push(runPipeline(new EdgeTransaction(req, res), ctx));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function fresh(): void {
  events = [];
  runs = [];
  logs = [];
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(path: string, options: { host?: string; method?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: { host: options.host ?? 'c1.test' }, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    // An answer that never comes fails the test here, not at the runner's timeout.
    req.setTimeout(3000, () => req.destroy(new Error(`no answer to ${path} within 3 s`)));
    req.end(options.body);
  });
}

/** Every pipeline started so far has finished, and none rejected. */
async function pipelinesDone(): Promise<void> {
  const settled = await Promise.allSettled(runs);
  assert.deepEqual(settled.map((s) => s.status), settled.map(() => 'fulfilled'), 'runPipeline never rejects');
}

test('a miss runs resolve → lookup → miss → fetch → deliver and stops at done; the next request is a hit', async () => {
  fresh();
  const answer = send('/page');
  const call = await ctx.origin.call(0);
  assert.deepEqual(events, ['resolve c1.test', 'lookup /page?', 'origin GET /page'], 'resolve, then lookup, then the origin: nothing before its step');
  call.respond(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }).send('hello').finish();
  const miss = await answer;
  assert.equal(miss.status, 200);
  assert.equal(miss.headers['x-cache'], 'MISS');
  assert.equal(miss.body, 'hello');
  await pipelinesDone();
  assert.deepEqual(events, ['resolve c1.test', 'lookup /page?', 'origin GET /page', 'sent 200'], 'and nothing after deliver');
  await ctx.store.idle();

  fresh();
  const hit = await send('/page');
  assert.deepEqual([hit.status, hit.headers['x-cache'], hit.body], [200, 'HIT', 'hello']);
  await pipelinesDone();
  assert.deepEqual(events, ['resolve c1.test', 'lookup /page?', 'sent 200'], 'resolve → lookup → hit → deliver: no origin request');
});

test('a request the cache does not take passes: no lookup, the origin gets its method', async () => {
  fresh();
  const answer = send('/form', { method: 'POST', body: 'a=1' });
  const call = await ctx.origin.call(ctx.origin.calls.length);
  call.respond(201, { 'content-type': 'text/plain' }).send('created').finish();
  const passed = await answer;
  assert.deepEqual([passed.status, passed.headers['x-cache'], passed.body], [201, 'BYPASS', 'created']);
  await pipelinesDone();
  assert.deepEqual(events, ['resolve c1.test', 'origin POST /form', 'sent 201']);
});

test('an answer the edge makes up goes resolve → synth → done', async () => {
  fresh();
  const unknown = await send('/x', { host: 'nobody.test' });
  assert.equal(unknown.status, 404);
  assert.equal((JSON.parse(unknown.body) as { code: string }).code, 'CDN_ERR_EDGE_UNKNOWN_HOST');
  await pipelinesDone();
  assert.deepEqual(events, ['resolve nobody.test', 'sent 404']);
});

test('a step that throws before anything was sent: the client gets the catalog\'s 500 and the log names the step', async () => {
  fresh();
  const answer = await send('/store-fails');
  assert.equal(answer.status, 500);
  assert.match(String(answer.headers['content-type']), /^application\/json/);
  assert.equal(answer.headers['cache-control'], 'no-store');
  const body = JSON.parse(answer.body) as { code: string; message: string };
  assert.equal(body.code, 'CDN_ERR_EDGE_INTERNAL_ERROR');
  assert.doesNotMatch(answer.body, /disk index/, 'the cause stays in the log');
  await pipelinesDone();
  const line = logs.find((l) => l.msg === 'edge pipeline failed');
  assert.ok(line, 'logged');
  assert.equal(line.step, 'lookup');
  assert.equal(line.customer, OK.id);
  assert.match(JSON.stringify(line.err), /the disk index is unreadable/);
  // The edge goes on.
  fresh();
  assert.equal((await send('/page')).status, 200);
});

/** A stored object whose release is counted, and whose body stream breaks when read. */
function plantedObject(meta: ObjectMeta, counts: { released: number; opened: number }, body?: () => Readable): () => StoredObject {
  return () => ({
    meta,
    openBody: () => {
      counts.opened += 1;
      return body?.() ?? Readable.from([Buffer.from('stored')]);
    },
    release: async () => void (counts.released += 1),
  });
}

function metaFor(key: string, maxAge: number): ObjectMeta {
  const now = ctx.clock.now();
  const headers = { 'cache-control': `max-age=${maxAge}`, etag: '"s1"', date: new Date(now).toUTCString() };
  const policy = createPolicy({ status: 200, headers, requestHeaders: {}, heuristicTtl: 60, requestTime: now, responseTime: now }, ctx.clock);
  return { key, status: 200, headers: { 'cache-control': `max-age=${maxAge}`, etag: '"s1"' }, storedAt: now, fetchedAt: now, ttl: maxAge, size: 6, policy: policy.toObject() as unknown as Record<string, unknown> };
}

test('a step that throws while the transaction holds a stored object releases it (and never opens its body)', async () => {
  fresh();
  const key = cacheKey(BROKEN.id, '/kept', '');
  const counts = { released: 0, opened: 0 };
  planted.set(key, plantedObject(metaFor(key, 1), counts));
  // Stale now: the lookup keeps it for revalidation, and the fetch step throws.
  ctx.clock.advance(10_000);
  try {
    const answer = await send('/kept', { host: 'broken.test' });
    assert.equal(answer.status, 500);
    assert.equal((JSON.parse(answer.body) as { code: string }).code, 'CDN_ERR_EDGE_INTERNAL_ERROR');
    assert.equal(answer.headers['x-cache'], 'MISS', 'a customer\'s error still says how the cache took part');
    await pipelinesDone();
    assert.equal(logs.find((l) => l.msg === 'edge pipeline failed')?.step, 'fetch');
    assert.ok(counts.released >= 1, 'the stored object was released');
    assert.equal(counts.opened, 0);
  } finally {
    planted.delete(key);
  }
});

test('when the answer was already sent (the client limits refused the body) and a step throws, the held object is still released and nothing more is written', async () => {
  fresh();
  const key = cacheKey(BROKEN.id, '/refused-early', '');
  const counts = { released: 0, opened: 0 };
  planted.set(key, plantedObject(metaFor(key, 1), counts));
  ctx.clock.advance(10_000);
  try {
    const answer = await send('/refused-early', { host: 'broken.test' });
    assert.equal(answer.status, 413);
    assert.equal(answer.body, '{"code":"refused by the client limits"}');
    await pipelinesDone();
    assert.equal(logs.find((l) => l.msg === 'edge pipeline failed')?.step, 'fetch');
    assert.equal(counts.released, 1, 'released by the pipeline\'s error handling, once');
    assert.equal(counts.opened, 0);
  } finally {
    planted.delete(key);
  }
});

test('a step that throws after the headers were sent cuts the connection: no second answer, no 500 after a 200', async () => {
  fresh();
  const key = cacheKey(OK.id, '/breaks-mid-answer', '');
  const counts = { released: 0, opened: 0 };
  // A fresh hit whose body stream throws the moment deliver starts reading it (after writeHead).
  const broken = (): Readable => {
    const body = Readable.from([Buffer.from('never')]);
    const on = body.on.bind(body);
    body.on = ((event: string, listener: (...args: unknown[]) => void) => {
      if (event === 'data') throw new Error('the stored body cannot be read');
      return on(event, listener);
    }) as typeof body.on;
    return body;
  };
  planted.set(key, plantedObject(metaFor(key, 3600), counts, broken));
  try {
    await assert.rejects(send('/breaks-mid-answer'), (err: NodeJS.ErrnoException) => {
      assert.match(String(err.code ?? err.message), /ECONNRESET|socket hang up/);
      return true;
    });
    await pipelinesDone();
    assert.equal(counts.opened, 1);
    assert.equal(logs.find((l) => l.msg === 'edge pipeline failed')?.step, 'deliver');
    assert.ok(!events.some((e) => e.startsWith('sent')), 'no response was completed');
  } finally {
    planted.delete(key);
  }
  fresh();
  assert.equal((await send('/page')).headers['x-cache'], 'HIT', 'the edge goes on');
});
