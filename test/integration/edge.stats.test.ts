/**
 * The edge publishing its traffic over the stats channel: after real requests (hits, misses,
 * an origin 5xx, an unreachable origin, an unknown host) the deltas it publishes add up to
 * exactly that traffic; intervals without traffic publish nothing; close() publishes the
 * rest; a failing channel costs a warning and the interval, never the edge. Run against the
 * in-process channel and against Redis (what `cdn edge` and the api share).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { MemoryStatsChannel } from '../../src/bus/memory-stats';
import { createRedisStats } from '../../src/bus/redis-stats';
import { ORIGIN_LATENCY_BUCKETS_MS, STATS_CACHE_RESULTS, type CustomerStatsDelta, type EdgeStatsReport, type StatsChannel } from '../../src/core/stats.port';
import { startEdge } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { createLogger } from '../../src/obs/logger.factory';
import { createTestRedisPrefix } from '../support/services';
import { closedPort, customer, edgeConfig, eventually, http, silentLogger, startScriptedOrigin, tempDir, type HttpResult } from './edge.harness';

type Totals = Omit<CustomerStatsDelta, 'customerId'>;

function emptyTotals(): Totals {
  return { requests: 0, results: {}, serverErrors: 0, bytesSent: 0, originResponses: 0, originErrors: 0, originLatencyBuckets: new Array<number>(ORIGIN_LATENCY_BUCKETS_MS.length + 1).fill(0) };
}

/** Sums the reports per customer. */
function sum(reports: EdgeStatsReport[]): Map<string, Totals> {
  const out = new Map<string, Totals>();
  for (const report of reports) {
    for (const d of report.customers) {
      const t = out.get(d.customerId) ?? emptyTotals();
      t.requests += d.requests;
      for (const r of STATS_CACHE_RESULTS) if (d.results[r] !== undefined) t.results[r] = (t.results[r] ?? 0) + d.results[r]!;
      t.serverErrors += d.serverErrors;
      t.bytesSent += d.bytesSent;
      t.originResponses += d.originResponses;
      t.originErrors += d.originErrors;
      d.originLatencyBuckets.forEach((n, i) => (t.originLatencyBuckets[i]! += n));
      out.set(d.customerId, t);
    }
  }
  return out;
}

/** Reads every report after `cursor` until `done` says the sum is complete. */
async function collect(channel: StatsChannel, done: (totals: Map<string, Totals>) => boolean): Promise<{ reports: EdgeStatsReport[]; cursor: string }> {
  const reports: EdgeStatsReport[] = [];
  let cursor = '0';
  await eventually(
    async () => {
      const read = await channel.read(cursor, { blockMs: 100 });
      cursor = read.cursor;
      reports.push(...read.reports);
      return done(sum(reports));
    },
    10_000,
    'stats reports adding up to the traffic',
  );
  return { reports, cursor };
}

async function trafficAndCheck(channel: StatsChannel, edgeId: string): Promise<void> {
  const tmp = await tempDir();
  const origin = await startScriptedOrigin((req, res) => {
    if (req.url === '/err') return res.writeHead(500).end('boom');
    res.writeHead(200, { 'cache-control': 'max-age=60' }).end('hello world');
  });
  const a = customer('customer-a', origin.url, ['cdn.a.test']);
  const b = customer('customer-b', `http://127.0.0.1:${await closedPort()}`, ['cdn.b.test']);
  const edge = await startEdge(edgeConfig(tmp.dir, { CDN_EDGE_STATS_INTERVAL_MS: '100', CDN_EDGE_ID: edgeId }), {
    customers: createStaticCustomerFeed([a, b]),
    logger: silentLogger,
    stats: channel,
  });
  try {
    const answers: HttpResult[] = [];
    for (const path of ['/x', '/x', '/x', '/x', '/err']) answers.push(await http(edge.url, path, { host: 'cdn.a.test' }));
    assert.deepEqual(answers.map((r) => r.headers['x-cache']), ['MISS', 'HIT', 'HIT', 'HIT', 'MISS']);
    const failed = await http(edge.url, '/y', { host: 'cdn.b.test' });
    assert.equal(failed.status, 502);
    await http(edge.url, '/z', { host: 'unknown.example' });

    const { reports, cursor } = await collect(channel, (t) => t.get('customer-a')?.requests === 5 && t.get('customer-b')?.requests === 1);
    const totals = sum(reports);
    assert.deepEqual(totals.get('customer-a'), {
      requests: 5,
      results: { HIT: 3, MISS: 2 },
      serverErrors: 1,
      bytesSent: answers.reduce((n, r) => n + Buffer.byteLength(r.body), 0),
      originResponses: 2,
      originErrors: 1,
      originLatencyBuckets: totals.get('customer-a')!.originLatencyBuckets,
    });
    assert.equal(totals.get('customer-a')!.originLatencyBuckets.reduce((x, y) => x + y, 0), 2, 'one latency bucket per origin response');
    assert.deepEqual(totals.get('customer-b'), { ...emptyTotals(), requests: 1, serverErrors: 1, bytesSent: Buffer.byteLength(failed.body), originErrors: 1 });
    assert.deepEqual([...totals.keys()].sort(), ['customer-a', 'customer-b'], 'unknown hosts are no customer\'s traffic');
    for (const r of reports) {
      assert.equal(r.edgeId, edgeId);
      assert.ok(r.customers.length > 0, 'no report for an interval without traffic');
      assert.ok(r.intervalMs >= 1 && r.intervalMs < 5000, `intervalMs ${r.intervalMs}`);
      assert.ok(Math.abs(Date.parse(r.at) - Date.now()) < 30_000);
    }

    // Idle: several intervals pass, nothing is published.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual((await channel.read(cursor, { blockMs: 0 })).reports, []);
  } finally {
    await edge.close();
    await origin.close();
    await tmp.remove();
  }
}

test('per-interval deltas add up to the traffic, leave unknown hosts out, and skip idle intervals (in-process channel)', async () => {
  const channel = new MemoryStatsChannel();
  try {
    await trafficAndCheck(channel, 'edge-memory');
  } finally {
    await channel.close();
  }
});

test('the same through Redis: what the edge publishes, another process reads', async () => {
  const redis = createTestRedisPrefix();
  const edgeSide = createRedisStats({ url: redis.url, prefix: redis.prefix, logger: silentLogger });
  const apiSide = createRedisStats({ url: redis.url, prefix: redis.prefix, logger: silentLogger });
  try {
    await trafficAndCheck(
      {
        publish: (r) => edgeSide.publish(r),
        read: (c, o) => apiSide.read(c, o),
        since: (ms) => apiSide.since(ms),
        close: async () => {},
      },
      'edge-redis',
    );
  } finally {
    await edgeSide.close();
    await apiSide.close();
    await redis.cleanup();
  }
});

test('close() publishes the traffic of the unfinished interval', async () => {
  const tmp = await tempDir();
  const origin = await startScriptedOrigin((_req, res) => res.writeHead(200, { 'cache-control': 'max-age=60' }).end('hello'));
  const channel = new MemoryStatsChannel();
  const edge = await startEdge(edgeConfig(tmp.dir, { CDN_EDGE_STATS_INTERVAL_MS: '60000' }), {
    customers: createStaticCustomerFeed([customer('customer-a', origin.url, ['cdn.a.test'])]),
    logger: silentLogger,
    stats: channel,
    edgeId: 'edge-closing#2',
  });
  try {
    await http(edge.url, '/x', { host: 'cdn.a.test' });
    await http(edge.url, '/x', { host: 'cdn.a.test' });
    assert.deepEqual(await channel.since(0), [], 'nothing published before the interval ends');
  } finally {
    await edge.close();
  }
  try {
    const reports = await channel.since(0);
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.edgeId, 'edge-closing#2');
    assert.deepEqual(sum(reports).get('customer-a')?.results, { MISS: 1, HIT: 1 });
  } finally {
    await channel.close();
    await origin.close();
    await tmp.remove();
  }
});

test('a channel that refuses reports costs one warning and those intervals; the edge keeps serving', async () => {
  const tmp = await tempDir();
  const origin = await startScriptedOrigin((_req, res) => res.writeHead(200, { 'cache-control': 'max-age=60' }).end('hello'));
  const channel = new MemoryStatsChannel();
  await channel.close(); // every publish now rejects
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const logger = createLogger({ name: 'edge', level: 'warn', destination: stream });
  const edge = await startEdge(edgeConfig(tmp.dir, { CDN_EDGE_STATS_INTERVAL_MS: '100' }), {
    customers: createStaticCustomerFeed([customer('customer-a', origin.url, ['cdn.a.test'])]),
    logger,
    stats: channel,
  });
  try {
    for (let i = 0; i < 5; i += 1) {
      assert.equal((await http(edge.url, '/x', { host: 'cdn.a.test' })).status, 200);
      await new Promise((r) => setTimeout(r, 150));
    }
    const warnings = lines.map((l) => JSON.parse(l) as { msg: string; level: number }).filter((l) => l.msg.startsWith('cannot publish traffic stats'));
    assert.equal(warnings.length, 1, 'one warning for the failing spell');
    assert.equal(warnings[0]!.level, 40);
  } finally {
    await edge.close();
    await origin.close();
    await tmp.remove();
  }
});
