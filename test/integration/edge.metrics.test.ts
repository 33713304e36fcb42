/**
 * The edge's metrics and request log, after real traffic through real sockets: hits (hit
 * lane and pipeline), misses, a bypass, an origin 5xx, a refused, a timed-out and a reset
 * origin, collapsed requests, an unknown host, evictions, purges (apply time, lag, lurker
 * backlog) and a burst of changes (bus lag). Every series is read from /metrics on the admin
 * port, as Prometheus would; the log is pino's JSON written to a stream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { MemoryBus } from '../../src/bus/memory-bus';
import type { Change } from '../../src/core/bus.events';
import type { CustomerConfig } from '../../src/core/customer.types';
import { loadEdgeConfig } from '../../src/edge/config';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createBusCustomerFeed } from '../../src/edge/sync/bus-sync';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { createLogger } from '../../src/obs/logger.factory';
import { closedPort, customer, edgeConfig, eventually, http, SECRET, silentLogger, startScriptedOrigin, tempDir, type HttpResult } from './edge.harness';

function change(seq: number, event: Change['event']): Change {
  return { seq, prevSeq: seq - 1, at: new Date().toISOString(), event };
}

/** The value of one sample (`name{labels} value`), or undefined when the series is absent. */
function sample(metrics: string, series: string): number | undefined {
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const scrape = async (edge: EdgeHandle): Promise<string> => {
  const res = await http(edge.adminUrl, '/metrics');
  assert.equal(res.status, 200);
  return res.body;
};

test('after real traffic, /metrics shows every series of the catalog with the right labels and values', async () => {
  const tmp = await tempDir();
  const big = 'x'.repeat(1000);
  const origin = await startScriptedOrigin((req, res) => {
    switch (req.url) {
      case '/hit.txt':
        return res.writeHead(200, { 'cache-control': 'max-age=60' }).end(big);
      case '/form':
        return res.writeHead(200).end('posted');
      case '/err':
        return res.writeHead(500).end('boom');
      case '/hang':
        return; // never answers: the edge's headers timeout
      case '/reset':
        return req.socket.destroy();
      case '/slow':
        return void setTimeout(() => res.writeHead(200, { 'cache-control': 'max-age=60' }).end('slow body'), 300);
      default:
        return res.writeHead(200, { 'cache-control': 'max-age=60' }).end(big);
    }
  });
  const a = customer('customer-a', origin.url, ['cdn.a.test'], { version: 1 });
  const b = customer('customer-b', `http://127.0.0.1:${await closedPort()}`, ['cdn.b.test'], { version: 1 });
  const d: CustomerConfig = { ...customer('customer-d', origin.url, ['cdn.d.test'], { version: 1 }), cacheQuotaBytes: 1500 };
  const bus = new MemoryBus();
  const snapshot = (seq: number) => ({ v: 1 as const, seq, takenAt: new Date().toISOString(), customers: [a, b, d] });
  await bus.publish([change(1, { kind: 'customer.upserted', v: 1, customer: a })], snapshot(1));
  const customers = createBusCustomerFeed(bus, { dataDir: tmp.dir, logger: silentLogger, blockMs: 200, retryMinMs: 20, retryMaxMs: 100 });
  // The lurker is off, so the ban below stays in the backlog.
  const edge = await startEdge(edgeConfig(tmp.dir, { CDN_ORIGIN_TIMEOUT_MS: '400' }), { customers, logger: silentLogger, purge: { enabled: false } });
  try {
    await customers.ready;
    const A = { host: 'cdn.a.test' };
    const answers: HttpResult[] = [];
    const get = async (path: string, options: Parameters<typeof http>[2] = A): Promise<HttpResult> => {
      const res = await http(edge.url, path, options);
      if (options?.host === 'cdn.a.test') answers.push(res);
      return res;
    };
    assert.equal((await get('/hit.txt')).headers['x-cache'], 'MISS');
    assert.equal((await get('/hit.txt')).headers['x-cache'], 'HIT');
    assert.equal((await get('/hit.txt')).headers['x-cache'], 'HIT');
    assert.equal((await get('/form', { ...A, method: 'POST', body: 'a=1' })).headers['x-cache'], 'BYPASS');
    assert.equal((await get('/err')).status, 500);
    assert.equal((await get('/hang')).status, 504);
    assert.equal((await get('/reset')).status, 502);
    const slow = await Promise.all(Array.from({ length: 5 }, () => get('/slow')));
    assert.ok(slow.every((r) => r.status === 200 && r.body === 'slow body'));
    assert.equal(origin.requests.filter((r) => r.url === '/slow').length, 1, 'the five requests were collapsed into one origin fetch');
    assert.equal((await http(edge.url, '/x', { host: 'cdn.b.test' })).status, 502);
    assert.equal((await http(edge.url, '/secret-path?token=1', { host: 'evil-host.example' })).status, 404);
    // Two objects over customer-d's 1500-byte quota: one is evicted.
    await http(edge.url, '/d1', { host: 'cdn.d.test' });
    await http(edge.url, '/d2', { host: 'cdn.d.test' });

    const requests = (customerId: string, cache: string, status: string): number | undefined =>
      sample(metrics, `cdn_edge_requests_total{customer="${customerId}",cache="${cache}",status="${status}"}`);
    let metrics = '';
    await eventually(
      async () => {
        metrics = await scrape(edge);
        return (
          sample(metrics, 'cdn_edge_evictions_total{customer="customer-d"}') === 1 &&
          sample(metrics, 'cdn_edge_cache_objects{customer="customer-a"}') === 2 &&
          sample(metrics, 'cdn_edge_cache_objects{customer="customer-d"}') === 1
        );
      },
      5000,
      'objects stored and evicted',
    );
    assert.equal(requests('customer-a', 'MISS', '2xx'), 6, '/hit.txt once, /slow five times');
    assert.equal(requests('customer-a', 'HIT', '2xx'), 2);
    assert.equal(requests('customer-a', 'BYPASS', '2xx'), 1);
    assert.equal(requests('customer-a', 'MISS', '5xx'), 1, 'the origin 5xx');
    assert.equal(requests('customer-a', 'ERROR', '5xx'), 2, 'timeout and reset');
    assert.equal(requests('customer-b', 'ERROR', '5xx'), 1);
    assert.equal(requests('_unknown', 'NONE', '4xx'), 1);
    const bodyBytes = answers.reduce((sum, r) => sum + Buffer.byteLength(r.body), 0);
    assert.equal(sample(metrics, 'cdn_edge_response_bytes_total{customer="customer-a"}'), bodyBytes);

    assert.equal(sample(metrics, 'cdn_edge_origin_errors_total{customer="customer-a",kind="5xx"}'), 1);
    assert.equal(sample(metrics, 'cdn_edge_origin_errors_total{customer="customer-a",kind="timeout"}'), 1);
    assert.equal(sample(metrics, 'cdn_edge_origin_errors_total{customer="customer-a",kind="reset"}'), 1);
    assert.equal(sample(metrics, 'cdn_edge_origin_errors_total{customer="customer-b",kind="refused"}'), 1);
    assert.equal(sample(metrics, 'cdn_edge_origin_errors_total{customer="customer-a",kind="refused"}'), undefined);
    // Responses only: /hit.txt, /form, /err and the one /slow fetch.
    assert.equal(sample(metrics, 'cdn_edge_origin_request_duration_seconds_count{customer="customer-a"}'), 4);
    assert.ok(sample(metrics, 'cdn_edge_origin_request_duration_seconds_sum{customer="customer-a"}')! >= 0.3, 'the slow fetch took 300 ms');
    assert.equal(sample(metrics, 'cdn_edge_collapsed_requests_total{customer="customer-a"}'), 4);
    assert.equal(sample(metrics, 'cdn_edge_cache_bytes{customer="customer-a"}'), big.length + 'slow body'.length);
    assert.equal(sample(metrics, 'cdn_edge_cache_bytes{customer="customer-d"}'), big.length);
    assert.equal(sample(metrics, 'cdn_edge_evictions_total{customer="customer-a"}'), undefined);
    assert.equal(sample(metrics, 'cdn_edge_applied_seq'), 1);
    assert.equal(sample(metrics, 'cdn_edge_customers'), 3);
    assert.equal(sample(metrics, 'cdn_edge_bus_lag_seq'), 0);
    assert.equal(sample(metrics, 'cdn_edge_lurker_backlog'), 0);
    assert.equal(sample(metrics, 'cdn_edge_purge_apply_seconds_count'), 0);
    // Labels are customer ids: never a client's host or path.
    assert.doesNotMatch(metrics, /evil-host|secret-path|hit\.txt|cdn\.a\.test/);

    // A prefix purge asked for 2 s ago: its lag, its apply time, and a ban in the lurker's backlog.
    const purge = (seq: number, kind: 'PREFIX' | 'URL', value: string, requestedAt: Date) => ({
      kind: 'purge.requested' as const,
      v: 1 as const,
      purge: { id: randomUUID(), customerId: 'customer-a', kind, value, soft: false, requestedAt: requestedAt.toISOString() },
    });
    await bus.publish([change(2, purge(2, 'PREFIX', '/hit', new Date(Date.now() - 2000)))], { ...snapshot(2), purgeSeqs: { 'customer-a': 2 } });
    await eventually(() => edge.appliedSeq() === 2, 5000, 'the purge applied');
    metrics = await scrape(edge);
    assert.equal(sample(metrics, 'cdn_edge_purge_lag_seconds_count'), 1);
    const lag = sample(metrics, 'cdn_edge_purge_lag_seconds_sum')!;
    assert.ok(lag >= 2 && lag < 30, `purge lag ${lag} s`);
    assert.equal(sample(metrics, 'cdn_edge_purge_lag_seconds_bucket{le="1"}'), 0);
    assert.equal(sample(metrics, 'cdn_edge_purge_lag_seconds_bucket{le="5"}'), 1);
    assert.equal(sample(metrics, 'cdn_edge_purge_apply_seconds_count'), 1);
    assert.equal(sample(metrics, 'cdn_edge_lurker_backlog'), 1);
    assert.equal((await get('/hit.txt')).headers['x-cache'], 'MISS', 'the ban is in effect');

    // A burst larger than one bus read: while it is applied the edge knows it is behind.
    const burst = Array.from({ length: 3000 }, (_, i) => change(3 + i, purge(3 + i, 'URL', `/burst/${i}`, new Date())));
    await bus.publish(burst, { ...snapshot(3002), purgeSeqs: { 'customer-a': 3002 } });
    let maxLag = 0;
    await eventually(
      async () => {
        const m = await scrape(edge);
        maxLag = Math.max(maxLag, sample(m, 'cdn_edge_bus_lag_seq')!);
        return sample(m, 'cdn_edge_applied_seq') === 3002;
      },
      30_000,
      'the burst applied',
    );
    assert.ok(maxLag > 0, 'the bus lag was seen above 0 while the burst was applied');
    metrics = await scrape(edge);
    assert.equal(sample(metrics, 'cdn_edge_bus_lag_seq'), 0);
    assert.equal(sample(metrics, 'cdn_edge_purge_lag_seconds_count'), 3001);
    assert.ok(sample(metrics, 'cdn_edge_purge_apply_seconds_count')! >= 1 + 3000 / 500, 'one observation per bus read');
    // Valid exposition: every family declared once.
    const types = metrics.split('\n').filter((l) => l.startsWith('# TYPE '));
    assert.equal(new Set(types).size, types.length, 'a family declared twice');

    // A deleted customer's series leave the scrape (label values stay bounded by the live customers).
    assert.match(metrics, /customer="customer-b"/);
    await bus.publish([change(3003, { kind: 'customer.deleted', v: 1, customerId: 'customer-b' })], { ...snapshot(3003), customers: [a, d] });
    await eventually(() => edge.appliedSeq() === 3003, 5000, 'the deletion applied');
    metrics = await scrape(edge);
    assert.doesNotMatch(metrics, /customer="customer-b"/);
    assert.match(metrics, /customer="customer-a"/);
  } finally {
    await edge.close();
    await bus.close();
    await origin.close();
    await tmp.remove();
  }
});

/** A pino destination that keeps every line. */
function logCapture(): { stream: Writable; lines(): Array<Record<string, unknown>>; text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const text = (): string => chunks.join('');
  return {
    stream,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

test('one JSON log line per request with the agreed fields, never a header, query or origin credential', async () => {
  const tmp = await tempDir();
  const origin = await startScriptedOrigin((req, res) => {
    if (req.url!.startsWith('/fail')) return res.writeHead(503).end('down');
    res.writeHead(200, { 'cache-control': 'max-age=60' }).end('hello');
  });
  const a = customer('customer-a', origin.url, ['cdn.a.test'], { basicAuth: { username: 'origin-user', password: 'hunter2-origin-password' } });
  const log = logCapture();
  const logger = createLogger({ name: 'edge', level: 'info', destination: log.stream });
  const edge = await startEdge(edgeConfig(tmp.dir), { customers: createStaticCustomerFeed([a]), logger });
  try {
    const headers = { authorization: 'Bearer client-token-xyz', cookie: 'session=cookie-secret' };
    // With Authorization the answer is not stored (RFC 9111 §3.5); the next one is, the third is a hit.
    await http(edge.url, '/page?token=query-secret', { host: 'cdn.a.test', headers });
    await http(edge.url, '/page?token=query-secret', { host: 'cdn.a.test' });
    await http(edge.url, '/page?token=query-secret', { host: 'cdn.a.test' });
    await http(edge.url, '/fail', { host: 'cdn.a.test', method: 'DELETE', headers });
    await eventually(() => log.lines().filter((l) => l.msg === 'request').length === 4, 2000, 'four request lines');
    assert.equal(origin.requests[0]!.headers.authorization, `Basic ${Buffer.from('origin-user:hunter2-origin-password').toString('base64')}`, 'the origin got the credentials');

    const lines = log.lines().filter((l) => l.msg === 'request');
    const [miss, miss2, hit, del] = lines;
    assert.deepEqual(
      { customer: miss!.customer, method: miss!.method, cache: miss!.cache, status: miss!.status, bytes: miss!.bytes, role: miss!.role },
      { customer: 'customer-a', method: 'GET', cache: 'MISS', status: 200, bytes: 5, role: 'edge' },
    );
    assert.equal(typeof miss!.originMs, 'number');
    assert.equal(typeof miss!.ms, 'number');
    assert.ok((miss!.ms as number) >= (miss!.originMs as number));
    assert.equal(miss2!.cache, 'MISS');
    assert.deepEqual({ cache: hit!.cache, status: hit!.status, bytes: hit!.bytes, originMs: hit!.originMs }, { cache: 'HIT', status: 200, bytes: 5, originMs: undefined });
    assert.equal(typeof hit!.path, 'string');
    assert.deepEqual({ method: del!.method, cache: del!.cache, status: del!.status }, { method: 'DELETE', cache: 'BYPASS', status: 503 });
    const all = log.text();
    for (const secret of ['client-token-xyz', 'cookie-secret', 'query-secret', 'hunter2-origin-password', 'origin-user', Buffer.from('origin-user:hunter2-origin-password').toString('base64')]) {
      assert.ok(!all.includes(secret), `the log holds ${secret}`);
    }
  } finally {
    await edge.close();
    await origin.close();
    await tmp.remove();
  }
});

test('CDN_EDGE_LOG_SAMPLE logs a share of the requests (metrics still count all), and a bad value is a config error naming it', async () => {
  const tmp = await tempDir();
  const origin = await startScriptedOrigin((_req, res) => res.writeHead(200, { 'cache-control': 'max-age=60' }).end('hello'));
  const a = customer('customer-a', origin.url, ['cdn.a.test']);
  try {
    for (const [share, check] of [
      ['0', (n: number) => n === 0],
      ['0.5', (n: number) => n > 50 && n < 150],
      ['1', (n: number) => n === 200],
    ] as const) {
      const log = logCapture();
      const edge = await startEdge(edgeConfig(tmp.dir, { CDN_EDGE_LOG_SAMPLE: share }), {
        customers: createStaticCustomerFeed([a]),
        logger: createLogger({ name: 'edge', level: 'info', destination: log.stream }),
      });
      try {
        for (let i = 0; i < 200; i += 1) await http(edge.url, `/s${i % 4}`, { host: 'cdn.a.test' });
        const metrics = await scrape(edge);
        const total = ['MISS', 'HIT'].reduce((sum, c) => sum + (sample(metrics, `cdn_edge_requests_total{customer="customer-a",cache="${c}",status="2xx"}`) ?? 0), 0);
        assert.equal(total, 200, 'every request counted');
        await new Promise((r) => setTimeout(r, 50));
        const logged = log.lines().filter((l) => l.msg === 'request').length;
        assert.ok(check(logged), `CDN_EDGE_LOG_SAMPLE=${share} logged ${logged} of 200`);
      } finally {
        await edge.close();
      }
    }
  } finally {
    await origin.close();
    await tmp.remove();
  }
  for (const bad of ['2', '-0.1', 'half', '0x1']) {
    assert.throws(
      () => loadEdgeConfig({ CDN_SECRET_KEY: SECRET, CDN_EDGE_LOG_SAMPLE: bad }),
      (err: Error) => err.message.includes('CDN_EDGE_LOG_SAMPLE') && err.message.includes('from 0 to 1'),
      `CDN_EDGE_LOG_SAMPLE=${bad}`,
    );
  }
  assert.throws(() => loadEdgeConfig({ CDN_SECRET_KEY: SECRET, CDN_EDGE_STATS_INTERVAL_MS: '5' }), /CDN_EDGE_STATS_INTERVAL_MS/);
});
