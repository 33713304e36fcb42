/**
 * `cdn edge` as a cluster on Redis: each worker publishes its own stats reports under its own
 * edge id, and together they add up to the traffic; the primary's /metrics sums the workers'
 * per-customer counters and takes the shared disk index's stored figures once (not per worker).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRedisBus } from '../../src/bus/redis-bus';
import { createRedisStats } from '../../src/bus/redis-stats';
import type { EdgeStatsReport } from '../../src/core/stats.port';
import { startDemoOrigin } from '../../src/demo/demo-origin';
import { createLogger } from '../../src/obs/logger.factory';
import { createTestRedisPrefix } from '../support/services';
import { eventually, httpGet, spawnCdn } from '../support/processes';

const SECRET = 'cluster-stats-secret-key-0123456789abcdef';
const silent = createLogger({ name: 'test', level: 'silent' });

function sample(metrics: string, series: string): number | undefined {
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('each worker publishes its own stats as <edge id>#<n>; the primary sums per-customer counters and counts stored objects once', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-cluster-stats-'));
  const redis = createTestRedisPrefix();
  const origin = await startDemoOrigin({ customerId: 'stats-customer' });
  const bus = createRedisBus({ url: redis.url, prefix: redis.prefix, logger: silent });
  const stats = createRedisStats({ url: redis.url, prefix: redis.prefix, logger: silent });
  const c = {
    id: 'stats-customer',
    name: 'Stats',
    originUrl: origin.url,
    domains: ['cdn.stats.test'],
    cacheTtl: 3600,
    basicAuth: null,
    version: 1,
    updatedAt: new Date().toISOString(),
  };
  const at = new Date().toISOString();
  await bus.publish([{ seq: 1, prevSeq: 0, at, event: { kind: 'customer.upserted', v: 1, customer: c } }], { v: 1, seq: 1, takenAt: at, customers: [c] });
  const edge = spawnCdn(['edge'], {
    REDIS_URL: redis.url,
    CDN_REDIS_PREFIX: redis.prefix,
    CDN_SECRET_KEY: SECRET,
    CDN_ALLOW_PRIVATE_ORIGINS: 'true',
    CDN_DATA_DIR: dir,
    CDN_EDGE_PORT: '0',
    CDN_EDGE_ADMIN_PORT: '0',
    CDN_EDGE_WORKERS: '2',
    CDN_EDGE_ID: 'stats-edge',
    CDN_EDGE_STATS_INTERVAL_MS: '200',
  });
  try {
    const listening = await edge.waitForLog('edge listening', 30_000);
    const url = String(listening.url);
    const admin = String(listening.admin);
    await eventually(async () => (await fetch(`${admin}/readyz`)).status === 200, 15_000, 'every worker ready');

    // Fresh connections: the cluster hands them to the workers in turn.
    const results: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      const res = await httpGet(`${url}/obj-${i % 2}.json`, 'cdn.stats.test', { freshConnection: true });
      assert.equal(res.status, 200, res.body);
      results.push(String(res.headers['x-cache']));
    }
    const misses = results.filter((x) => x === 'MISS').length;
    const hits = results.filter((x) => x === 'HIT').length;
    assert.equal(misses + hits, 10);

    const reports: EdgeStatsReport[] = [];
    let cursor = '0';
    const total = (): number => reports.flatMap((r) => r.customers).reduce((n, d) => n + d.requests, 0);
    await eventually(
      async () => {
        const read = await stats.read(cursor, { blockMs: 200 });
        cursor = read.cursor;
        reports.push(...read.reports);
        return total() >= 10;
      },
      15_000,
      'stats reports for the ten requests',
    );
    assert.equal(total(), 10);
    const edgeIds = new Set(reports.map((r) => r.edgeId));
    for (const id of edgeIds) assert.match(id, /^stats-edge#\d+$/);
    assert.equal(edgeIds.size, 2, `both workers published: ${[...edgeIds].join(', ')}`);
    const deltas = reports.flatMap((r) => r.customers);
    assert.ok(deltas.every((d) => d.customerId === 'stats-customer'));
    assert.equal(deltas.reduce((n, d) => n + (d.results.HIT ?? 0), 0), hits);
    assert.equal(deltas.reduce((n, d) => n + (d.results.MISS ?? 0), 0), misses);

    const metrics = await (await fetch(`${admin}/metrics`)).text();
    assert.equal(sample(metrics, 'cdn_edge_requests_total{customer="stats-customer",cache="MISS",status="2xx"}'), misses);
    assert.equal(sample(metrics, 'cdn_edge_requests_total{customer="stats-customer",cache="HIT",status="2xx"}'), hits);
    assert.equal(sample(metrics, 'cdn_edge_origin_request_duration_seconds_count{customer="stats-customer"}'), misses);
    // Two objects in the one disk cache the workers share: 2, not 2 per worker.
    assert.equal(sample(metrics, 'cdn_edge_cache_objects{customer="stats-customer"}'), 2);
    assert.equal(sample(metrics, 'cdn_edge_applied_seq'), 1);
    const types = metrics.split('\n').filter((l) => l.startsWith('# TYPE '));
    assert.equal(new Set(types).size, types.length, 'every family declared once');
  } finally {
    assert.equal(await edge.stop(), 0);
    await stats.close();
    await bus.close();
    await origin.close();
    await redis.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});
