/**
 * Live cache statistics on a real api: the test plays the edges by publishing stats reports
 * into the stats channel, subscribes over a real graphql-ws socket and checks the numbers a
 * dashboard would show (requests/s, hit ratio, bytes/s, p50/p95 interpolated inside a latency
 * bucket, per-edge breakdown, top customers), zeros when idle, history, validation, the api
 * metrics, and two api replicas on one Redis both seeing every report.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Client } from 'graphql-ws';
import { loadApiConfig } from '../../src/api/config';
import { startApi } from '../../src/api/server';
import { createRedisStats } from '../../src/bus/redis-stats';
import { ORIGIN_LATENCY_BUCKETS_MS, type CustomerStatsDelta, type EdgeStatsReport, type StatsChannel } from '../../src/core/stats.port';
import { createLogger } from '../../src/obs/logger.factory';
import { SECRET_KEY, startTestApi, TOKEN, type TestApi, wsClient } from './api.harness';
import { createTestRedisPrefix } from '../support/services';

/** Short, so sealed seconds (and events) follow their interval quickly. */
const GRACE_MS = '300';
const STATS_ENV = { CDN_STATS_GRACE_MS: GRACE_MS, CDN_STATS_RETENTION_MINUTES: '15' };

const EDGE_FIELDS = 'edgeId requests requestsPerSecond hitRatio bytesPerSecond originP50Ms originP95Ms errorRatio';
const CACHE_STATS = `subscription($customerId: ID!, $intervalSeconds: Int) {
  cacheStats(customerId: $customerId, intervalSeconds: $intervalSeconds) {
    customerId at intervalSeconds requests requestsPerSecond hitRatio bytesPerSecond originP50Ms originP95Ms errorRatio edges { ${EDGE_FIELDS} }
  }
}`;
const FLEET_STATS = `subscription($intervalSeconds: Int, $top: Int) {
  fleetStats(intervalSeconds: $intervalSeconds, top: $top) {
    at intervalSeconds requests requestsPerSecond hitRatio bytesPerSecond originP50Ms originP95Ms errorRatio activeCustomers
    edges { ${EDGE_FIELDS} }
    topCustomers { customerId customerName requests requestsPerSecond bytesPerSecond hitRatio }
  }
}`;
const HISTORY = `query($customerId: ID!, $minutes: Int) {
  cacheStatsHistory(customerId: $customerId, minutes: $minutes) { customerId at intervalSeconds requests hitRatio edges { edgeId requests } }
}`;

type EdgeStats = { edgeId: string; requests: number; requestsPerSecond: number; hitRatio: number | null; bytesPerSecond: number; originP50Ms: number | null; originP95Ms: number | null; errorRatio: number };
type CacheStats = Omit<EdgeStats, 'edgeId'> & { customerId: string; at: string; intervalSeconds: number; edges: EdgeStats[] };
type FleetStats = Omit<CacheStats, 'customerId'> & {
  activeCustomers: number;
  topCustomers: Array<{ customerId: string; customerName: string | null; requests: number; requestsPerSecond: number; bytesPerSecond: number; hitRatio: number | null }>;
};

function latency(counts: Record<number, number>): number[] {
  const buckets = new Array<number>(ORIGIN_LATENCY_BUCKETS_MS.length + 1).fill(0);
  for (const [i, n] of Object.entries(counts)) buckets[Number(i)] = n;
  return buckets;
}

function delta(customerId: string, fields: Partial<CustomerStatsDelta> = {}): CustomerStatsDelta {
  return { customerId, requests: 0, results: {}, serverErrors: 0, bytesSent: 0, originResponses: 0, originErrors: 0, originLatencyBuckets: latency({}), ...fields };
}

/** A report for second `second` (epoch seconds): its interval ends when the second does. */
function report(edgeId: string, second: number, customers: CustomerStatsDelta[]): EdgeStatsReport {
  return { edgeId, at: new Date((second + 1) * 1000).toISOString(), intervalMs: 1000, customers };
}

function currentSecond(): number {
  return Math.floor(Date.now() / 1000);
}


/** A running subscription whose events are collected as they come. */
function subscribe<T>(client: Client, query: string, variables: Record<string, unknown>, field: string) {
  const events: T[] = [];
  const errors: unknown[] = [];
  const iterator = client.iterate<Record<string, T>>({ query, variables });
  const done = (async () => {
    try {
      for await (const result of iterator) {
        if (result.errors) errors.push(...result.errors);
        else events.push(result.data![field]!);
      }
    } catch (err) {
      errors.push(err);
    }
  })();
  return {
    events,
    errors,
    /** The first event (from `from` on) that `match` accepts. */
    async waitFor(match: (event: T) => boolean, timeoutMs = 8000, from = 0): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.slice(from).find(match);
        if (found !== undefined) return found;
        assert.deepEqual(errors, [], 'the subscription failed');
        if (Date.now() > deadline) throw new Error(`no matching event in ${timeoutMs} ms; got ${JSON.stringify(events)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop(): Promise<void> {
      await iterator.return?.();
      await done;
    },
  };
}

function endsAt(second: number): (event: { at: string }) => boolean {
  return (event) => Date.parse(event.at) === (second + 1) * 1000;
}

async function metricsText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

function close(actual: number | null, expected: number, what: string): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${what}: expected ${expected}, got ${actual}`);
}

let t: TestApi;
let ws: Client;

before(async () => {
  t = await startTestApi(STATS_ENV);
  for (const [id, name] of [['st-a', 'Stats A'], ['st-b', 'Stats B'], ['st-c', 'Stats C']]) {
    const res = await t.gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', {
      input: { id, name, originUrl: `https://origin.${id}.example`, domains: [`cdn.${id}.example`] },
    });
    assert.equal(res.errors, undefined, res.text);
  }
  ws = wsClient(t.api.url);
});

after(async () => {
  await ws.dispose();
  await t.close();
});

describe('cacheStats', () => {
  test('sums every edge: requests/s, hit ratio, bytes/s, error ratio, p50/p95 inside a bucket, and a per-edge breakdown', async () => {
    const sub = subscribe<CacheStats>(ws, CACHE_STATS, { customerId: 'st-a' }, 'cacheStats');
    try {
      await sub.waitFor(() => true); // subscribed: the first (empty) interval arrived
      const second = currentSecond();
      // edge-1: 10 origin responses in (50, 100] ms; edge-2: 10 in (100, 250] ms.
      await t.stats.publish(
        report('edge-1', second, [
          delta('st-a', { requests: 30, results: { HIT: 20, MISS: 10 }, serverErrors: 3, bytesSent: 30_000, originResponses: 10, originLatencyBuckets: latency({ 6: 10 }) }),
          delta('st-b', { requests: 99, results: { HIT: 99 }, bytesSent: 1 }),
        ]),
      );
      await t.stats.publish(
        report('edge-2', second, [
          delta('st-a', { requests: 10, results: { HIT: 2, STALE: 1, REVALIDATED: 1, MISS: 4, BYPASS: 2 }, bytesSent: 10_000, originResponses: 10, originLatencyBuckets: latency({ 7: 10 }) }),
        ]),
      );
      const event = await sub.waitFor(endsAt(second));
      assert.equal(event.customerId, 'st-a');
      assert.equal(event.intervalSeconds, 1);
      assert.equal(event.requests, 40);
      assert.equal(event.requestsPerSecond, 40);
      close(event.hitRatio, 24 / 38, 'hitRatio');
      assert.equal(event.bytesPerSecond, 40_000);
      close(event.errorRatio, 3 / 40, 'errorRatio');
      // Merged: 20 responses; p50 is rank 10, the top of (50, 100]; p95 is rank 19, 9/10 into (100, 250].
      close(event.originP50Ms, 100, 'p50');
      close(event.originP95Ms, 235, 'p95');
      assert.deepEqual(
        event.edges.map((e) => [e.edgeId, e.requests, e.bytesPerSecond]),
        [
          ['edge-1', 30, 30_000],
          ['edge-2', 10, 10_000],
        ],
      );
      const [e1, e2] = event.edges;
      close(e1!.hitRatio, 20 / 30, 'edge-1 hitRatio');
      close(e1!.errorRatio, 0.1, 'edge-1 errorRatio');
      close(e1!.originP50Ms, 75, 'edge-1 p50');
      close(e1!.originP95Ms, 97.5, 'edge-1 p95');
      close(e2!.hitRatio, 4 / 8, 'edge-2 hitRatio');
      assert.equal(e2!.errorRatio, 0);
      close(e2!.originP50Ms, 175, 'edge-2 p50');
      close(e2!.originP95Ms, 242.5, 'edge-2 p95');
    } finally {
      await sub.stop();
    }
  });

  test('one event per interval with zeros when there is no traffic, aligned on the clock', async () => {
    const sub = subscribe<CacheStats>(ws, CACHE_STATS, { customerId: 'st-c', intervalSeconds: 2 }, 'cacheStats');
    try {
      await sub.waitFor(() => sub.events.length >= 2, 10_000);
      const [first, second] = sub.events;
      for (const event of [first!, second!]) {
        assert.deepEqual(
          { ...event, at: undefined },
          { customerId: 'st-c', at: undefined, intervalSeconds: 2, requests: 0, requestsPerSecond: 0, hitRatio: null, bytesPerSecond: 0, originP50Ms: null, originP95Ms: null, errorRatio: 0, edges: [] },
        );
        assert.equal((Date.parse(event.at) / 1000) % 2, 0, `interval ends at an even second: ${event.at}`);
      }
      assert.equal(Date.parse(second!.at) - Date.parse(first!.at), 2000);
    } finally {
      await sub.stop();
    }
  });

  test('a report arriving after its second was shown counts in the next interval, never lost', async () => {
    const sub = subscribe<CacheStats>(ws, CACHE_STATS, { customerId: 'st-c' }, 'cacheStats');
    try {
      const shown = await sub.waitFor(() => true);
      const late = Date.parse(shown.at) / 1000 - 1;
      await t.stats.publish(report('edge-late', late, [delta('st-c', { requests: 7, results: { MISS: 7 } })]));
      const event = await sub.waitFor((e) => e.requests > 0);
      assert.equal(event.requests, 7);
      assert.ok(Date.parse(event.at) > Date.parse(shown.at));
      assert.equal(sub.events.reduce((sum, e) => sum + e.requests, 0), 7);
    } finally {
      await sub.stop();
    }
  });
});

describe('fleetStats', () => {
  test('sums every customer and edge; topCustomers by requests with names, at most `top`; activeCustomers', async () => {
    const sub = subscribe<FleetStats>(ws, FLEET_STATS, { intervalSeconds: 2, top: 2 }, 'fleetStats');
    try {
      await sub.waitFor(() => true);
      const second = currentSecond();
      await t.stats.publish(
        report('edge-1', second, [
          delta('st-a', { requests: 5, results: { HIT: 5 }, bytesSent: 500 }),
          delta('st-b', { requests: 20, results: { MISS: 20 }, bytesSent: 2000, serverErrors: 2 }),
          delta('st-gone', { requests: 1, results: { HIT: 1 }, bytesSent: 10 }),
        ]),
      );
      await t.stats.publish(report('edge-2', second, [delta('st-a', { requests: 10, results: { HIT: 10 }, bytesSent: 1000 })]));
      const end = (second + 1) % 2 === 0 ? second : second + 1;
      const event = await sub.waitFor(endsAt(end));
      assert.equal(event.intervalSeconds, 2);
      assert.equal(event.requests, 36);
      assert.equal(event.requestsPerSecond, 18);
      assert.equal(event.bytesPerSecond, 3510 / 2);
      close(event.hitRatio, 16 / 36, 'hitRatio');
      close(event.errorRatio, 2 / 36, 'errorRatio');
      assert.equal(event.activeCustomers, 3);
      assert.deepEqual(event.edges.map((e) => [e.edgeId, e.requests]), [['edge-1', 26], ['edge-2', 10]]);
      assert.deepEqual(event.topCustomers, [
        { customerId: 'st-b', customerName: 'Stats B', requests: 20, requestsPerSecond: 10, bytesPerSecond: 1000, hitRatio: 0 },
        { customerId: 'st-a', customerName: 'Stats A', requests: 15, requestsPerSecond: 7.5, bytesPerSecond: 750, hitRatio: 1 },
      ]);
    } finally {
      await sub.stop();
    }
  });
});

describe('cacheStatsHistory', () => {
  test('one entry per second, oldest first, zeros included; a freshly started api has the same history', async () => {
    const second = currentSecond();
    await t.stats.publish(report('edge-h', second, [delta('st-b', { requests: 12, results: { HIT: 3, MISS: 1 } })]));
    // History shows sealed seconds only: a second is sealed a grace after it ends.
    await new Promise((r) => setTimeout(r, (second + 1) * 1000 + Number(GRACE_MS) + 200 - Date.now()));
    const res = await t.gql<{ cacheStatsHistory: CacheStats[] }>(HISTORY, { customerId: 'st-b', minutes: 1 });
    assert.equal(res.errors, undefined, res.text);
    const history = res.data!.cacheStatsHistory;
    assert.equal(history.length, 60);
    const times = history.map((h) => Date.parse(h.at));
    assert.deepEqual(times, times.map((_, i) => times[0]! + i * 1000));
    assert.ok(history.every((h) => h.customerId === 'st-b' && h.intervalSeconds === 1));
    const entry = history.find(endsAt(second));
    assert.deepEqual(entry && { requests: entry.requests, hitRatio: entry.hitRatio, edges: entry.edges }, { requests: 12, hitRatio: 0.75, edges: [{ edgeId: 'edge-h', requests: 12 }] });

    // A second api on the same database and stats channel, started now: history from the channel.
    const config = loadApiConfig({ CDN_API_PORT: '0', CDN_ADMIN_TOKEN: TOKEN, CDN_SECRET_KEY: SECRET_KEY, DATABASE_URL: t.databaseUrl, ...STATS_ENV });
    const fresh = await startApi(config, { dataSource: t.dataSource, bus: t.bus, fleet: t.fleet, stats: t.stats, revocations: t.revocations, logger: createLogger({ name: 'api-2', level: 'silent' }) });
    try {
      let found: CacheStats | undefined;
      const deadline = Date.now() + 5000;
      while (found?.requests !== 12) {
        assert.ok(Date.now() < deadline, `the fresh api has no history for ${second}: ${JSON.stringify(found)}`);
        await new Promise((r) => setTimeout(r, 50));
        const body = await fetch(`${fresh.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify({ query: HISTORY, variables: { customerId: 'st-b', minutes: 1 } }),
        }).then((r) => r.json() as Promise<{ data: { cacheStatsHistory: CacheStats[] } }>);
        found = body.data.cacheStatsHistory.find(endsAt(second));
      }
    } finally {
      await fresh.close();
    }
  });
});

describe('validation', () => {
  test('an unknown customer is NOT_FOUND; intervalSeconds, top and minutes out of range are BAD_USER_INPUT', async () => {
    const history = await t.gql(HISTORY, { customerId: 'nobody' });
    assert.equal(history.errors?.[0]?.extensions.code, 'NOT_FOUND');
    assert.match(history.errors![0]!.message, /Customer "nobody" does not exist/);
    for (const [minutes, fragment] of [[0, /minutes: must be a whole number from 1 to 15, got 0/], [16, /got 16/]] as const) {
      const res = await t.gql(HISTORY, { customerId: 'st-a', minutes });
      assert.equal(res.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', res.text);
      assert.match(res.errors![0]!.message, fragment);
    }

    const cases: Array<[string, string, Record<string, unknown>, string, RegExp]> = [
      ['cacheStats', CACHE_STATS, { customerId: 'nobody' }, 'NOT_FOUND', /Customer "nobody" does not exist/],
      ['cacheStats', CACHE_STATS, { customerId: 'st-a', intervalSeconds: 0 }, 'BAD_USER_INPUT', /intervalSeconds: must be a whole number from 1 to 60, got 0/],
      ['cacheStats', CACHE_STATS, { customerId: 'st-a', intervalSeconds: 61 }, 'BAD_USER_INPUT', /intervalSeconds: .* got 61/],
      ['fleetStats', FLEET_STATS, { intervalSeconds: 0 }, 'BAD_USER_INPUT', /intervalSeconds: .* got 0/],
      ['fleetStats', FLEET_STATS, { top: 0 }, 'BAD_USER_INPUT', /top: must be a whole number from 1 to 100, got 0/],
      ['fleetStats', FLEET_STATS, { top: 101 }, 'BAD_USER_INPUT', /top: .* got 101/],
    ];
    for (const [field, query, variables, code, fragment] of cases) {
      const results = [];
      for await (const r of ws.iterate({ query, variables })) results.push(r);
      assert.equal(results.length, 1, `${field} ${JSON.stringify(variables)}`);
      const errors = results[0]!.errors as unknown as Array<{ message: string; extensions: { code: string } }>;
      assert.equal(errors?.[0]?.extensions.code, code, JSON.stringify(results));
      assert.match(errors[0]!.message, fragment);
    }
  });
});

describe('api metrics', () => {
  test('subscriptions open by root field, operation durations, reports read, relay lag, purge completion', async () => {
    const sub = subscribe<CacheStats>(ws, CACHE_STATS, { customerId: 'st-a' }, 'cacheStats');
    try {
      await sub.waitFor(() => true);
      assert.match(await metricsText(t.api.url), /^cdn_api_subscriptions_open\{subscription="cacheStats"\} 1$/m);
    } finally {
      await sub.stop();
    }
    // The server hears the client's complete message shortly after.
    const deadline = Date.now() + 3000;
    while (!/^cdn_api_subscriptions_open\{subscription="cacheStats"\} 0$/m.test(await metricsText(t.api.url))) {
      assert.ok(Date.now() < deadline, 'the cacheStats subscription was never counted as closed');
      await new Promise((r) => setTimeout(r, 50));
    }

    // With no live edge a purge is complete at once.
    const purge = await t.gql('mutation { purgeCache(input: { customerId: "st-a", kind: ALL }) { id completedAt } }');
    assert.equal(purge.errors, undefined, purge.text);
    await t.gql(HISTORY, { customerId: 'st-a', minutes: 1 });
    const text = await metricsText(t.api.url);
    assert.match(text, /^cdn_api_graphql_operation_duration_seconds_count\{operation="cacheStatsHistory"\} [1-9]/m);
    assert.match(text, /^cdn_api_purge_completion_seconds_count 1$/m);
    const reports = Number(/^cdn_api_stats_reports_total (\d+)$/m.exec(text)?.[1]);
    assert.ok(reports >= 6, `reports read: ${reports}`);
    assert.match(text, /^cdn_api_relay_lag_seq \d+$/m);
    // Sampled after each relay pass: 0 once the purge's change is on the bus.
    const lagDeadline = Date.now() + 3000;
    while (!/^cdn_api_relay_lag_seq 0$/m.test(await metricsText(t.api.url))) {
      assert.ok(Date.now() < lagDeadline, 'the relay lag never came back to 0');
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});

describe('two api replicas on one Redis', () => {
  const redis = createTestRedisPrefix();
  const channels: StatsChannel[] = [];
  const apis: TestApi[] = [];

  before(async () => {
    for (let i = 0; i < 2; i += 1) {
      const stats = createRedisStats({ url: redis.url, prefix: redis.prefix });
      channels.push(stats);
      apis.push(await startTestApi(STATS_ENV, { stats }));
    }
  });

  after(async () => {
    for (const api of apis) await api.close();
    await redis.cleanup();
  });

  test('a subscriber on either api sees the reports of every edge', async () => {
    const clients = apis.map((a) => wsClient(a.api.url));
    const subs = clients.map((c) => subscribe<FleetStats>(c, FLEET_STATS, {}, 'fleetStats'));
    const edges = [createRedisStats({ url: redis.url, prefix: redis.prefix }), createRedisStats({ url: redis.url, prefix: redis.prefix })];
    try {
      await Promise.all(subs.map((s) => s.waitFor(() => true)));
      const second = currentSecond();
      await edges[0]!.publish(report('redis-edge-1', second, [delta('anyone', { requests: 4, results: { HIT: 4 } })]));
      await edges[1]!.publish(report('redis-edge-2', second, [delta('anyone', { requests: 6, results: { MISS: 6 } })]));
      for (const sub of subs) {
        const event = await sub.waitFor(endsAt(second));
        assert.equal(event.requests, 10);
        assert.deepEqual(event.edges.map((e) => [e.edgeId, e.requests]), [['redis-edge-1', 4], ['redis-edge-2', 6]]);
        assert.deepEqual(event.topCustomers.map((c) => [c.customerId, c.customerName, c.requests]), [['anyone', null, 10]]);
      }
    } finally {
      await Promise.all(subs.map((s) => s.stop()));
      await Promise.all(clients.map((c) => c.dispose()));
      await Promise.all(edges.map((e) => e.close()));
    }
  });
});
