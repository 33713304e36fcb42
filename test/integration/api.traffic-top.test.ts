/**
 * Top URLs and status codes (trafficTop) on a real api and a real PostgreSQL, with the test
 * playing two edge processes exactly as edges count and ship them: each has a real edge stats
 * recorder (EdgeMetrics, CDN_EDGE_TOP_URLS = 64) that counts a skewed (Zipf-like) workload
 * during two minutes, and its drains go onto the api's stats channel as reports. The exact
 * counts are known, so: the top 10 are the exact top 10 in order, every path's bounds hold,
 * status codes are exact; a second api replica reading the same reports stores nothing twice;
 * the retention deletes old minutes; another customer's token is refused; bad arguments give
 * the catalog error. The summaries themselves: test/unit/top-k.test.ts and
 * test/unit/edge.top-paths.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Writable } from 'node:stream';
import { loadApiConfig } from '../../src/api/config';
import { Database } from '../../src/api/db/database';
import { TrafficTopService } from '../../src/api/services/traffic-top.service';
import { startApi, type ApiHandle } from '../../src/api/server';
import type { CustomerStatsDelta, EdgeStatsReport } from '../../src/core/stats.port';
import { mergeTop } from '../../src/core/top-k';
import { EdgeMetrics } from '../../src/edge/edge.metrics';
import { createLogger } from '../../src/obs/logger.factory';
import { countRows, refused, SECRET_KEY, startTestApi, TOKEN, tokenFor, type TestApi } from './api.harness';
import { zipfStream } from '../support/zipf';

const CUSTOMER = 'top-co';
const OTHER = 'other-co';
const QUERY = `query($customerId: ID!, $minutes: Int, $first: Int) {
  trafficTop(customerId: $customerId, minutes: $minutes, first: $first) {
    customerId from to requests summaries unlistedBound
    paths { path requests errorBound missingBound }
    statuses { status requests }
  }
}`;
const MINUTE_MS = 60_000;

type TopShape = {
  customerId: string;
  from: string;
  to: string;
  requests: number;
  summaries: number;
  unlistedBound: number;
  paths: Array<{ path: string; requests: number; errorBound: number; missingBound: number }>;
  statuses: Array<{ status: number; requests: number }>;
};

let t: TestApi;
let second: ApiHandle | undefined;
const tokens: Record<string, string> = {};
/** The exact counts of everything the two edges answered for CUSTOMER. */
const truthPaths = new Map<string, number>();
const truthStatuses = new Map<number, number>();
let truthRequests = 0;
/** Every report published, to publish again. */
const published: EdgeStatsReport[] = [];


/** The status a path is answered with: mostly 200, a few paths 404, every 97th request 503. */
function statusOf(path: string, i: number): number {
  if (i % 97 === 0) return 503;
  return /\/\d*7\.js$/.test(path) ? 404 : 200;
}

function report(edgeId: string, atMs: number, customers: CustomerStatsDelta[]): EdgeStatsReport {
  return { edgeId, at: new Date(atMs).toISOString(), intervalMs: 1000, customers };
}

async function publish(r: EdgeStatsReport): Promise<void> {
  published.push(r);
  await t.stats.publish(r);
}

/**
 * One edge process serving two minutes (m1, then m1 + 1 minute) of `streams[0]` and
 * `streams[1]`, its recorder drained as the reporter does: once in each minute, and once after
 * the second ended. OTHER gets a few requests too (kept apart from CUSTOMER).
 */
async function playEdgeMinutes(edgeId: string, m1: number, streams: [string[], string[]]): Promise<void> {
  const m = new EdgeMetrics({ appliedSeq: () => 0, customers: () => 2, topUrls: 64 });
  m.recorder.drain(m1 + 500);
  for (const [n, stream] of streams.entries()) {
    const meter = m.meter(CUSTOMER);
    for (const [i, path] of stream.entries()) {
      const status = statusOf(path, i);
      meter.answered(status >= 500 ? 'MISS' : 'HIT', status, 100, 'http', path);
      truthPaths.set(path, (truthPaths.get(path) ?? 0) + 1);
      truthStatuses.set(status, (truthStatuses.get(status) ?? 0) + 1);
      truthRequests += 1;
    }
    m.meter(OTHER).answered('HIT', 200, 10, 'http', `/other-${edgeId}`);
    // The first drain of the next minute ships the minute that ended.
    const at = m1 + (n + 1) * MINUTE_MS + 1000;
    await publish(report(edgeId, at, m.recorder.drain(at)));
  }
}

async function top(variables: Record<string, unknown>, token?: string): Promise<TopShape> {
  const r = await t.gql<{ trafficTop: TopShape }>(QUERY, { customerId: CUSTOMER, ...variables }, token);
  assert.equal(r.errors, undefined, r.text);
  return r.data!.trafficTop;
}

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  t = await startTestApi({ CDN_API_TOP_RETENTION_HOURS: '2' });
  for (const id of [CUSTOMER, OTHER]) {
    const r = await t.gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', { input: { id, name: id, originUrl: 'https://origin.example', domains: [`cdn.${id}.test`] } });
    assert.equal(r.errors, undefined, r.text);
  }
  tokens.viewer = await tokenFor(t, 'CUSTOMER_VIEWER', CUSTOMER);
  tokens.otherAdmin = await tokenFor(t, 'CUSTOMER_ADMIN', OTHER);
  const r = await t.gql<{ createToken: { secret: string } }>('mutation($input: CreateTokenInput!) { createToken(input: $input) { secret } }', { input: { name: 'ops', role: 'VIEWER', expiresIn: '1h' } });
  assert.equal(r.errors, undefined, r.text);
  tokens.platformViewer = r.data!.createToken.secret;
  // The two minutes before the current one, so both are in any window of 3 minutes or more.
  const m1 = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - 2 * MINUTE_MS;
  await playEdgeMinutes('edge-a#1', m1, [zipfStream(20_000, 3_000, 1.2, 1), zipfStream(20_000, 3_000, 1.2, 2)]);
  await playEdgeMinutes('edge-b', m1, [zipfStream(20_000, 3_000, 1.2, 3), zipfStream(15_000, 3_000, 1.2, 4)]);
  await eventually('the four summaries of each customer stored', async () => ((await countRows(t, 'traffic_top_summary')) === 8 ? true : undefined));
});

after(async () => {
  await second?.close();
  await t?.close();
});

test('trafficTop: the top 10 of a skewed workload on two edges over two minutes are the exact top 10, within their bounds; status codes exact', async () => {
  const res = await top({ minutes: 5 });
  assert.equal(res.customerId, CUSTOMER);
  assert.equal(new Date(res.to).getTime() % MINUTE_MS, 0);
  assert.equal(new Date(res.to).getTime() - new Date(res.from).getTime(), 5 * MINUTE_MS);
  assert.equal(res.requests, truthRequests);
  assert.equal(res.summaries, 4);
  const exact = [...truthPaths].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  assert.deepEqual(res.paths.map((p) => p.path), exact.slice(0, 10).map(([path]) => path), 'the exact top 10, in order');
  for (const p of res.paths) {
    const truth = truthPaths.get(p.path)!;
    assert.ok(p.requests - p.errorBound <= truth && truth <= p.requests + p.missingBound, `${p.path}: ${p.requests - p.errorBound} <= ${truth} <= ${p.requests + p.missingBound}`);
  }
  // Every summary was full (3,000 paths for 64 places): a path in none had at most the sum of their floors.
  assert.ok(res.unlistedBound > 0);
  assert.deepEqual(
    res.statuses,
    [...truthStatuses].sort((a, b) => b[1] - a[1]).map(([status, requests]) => ({ status, requests })),
  );
  // The default page is 10; a larger one keeps its bounds too, and the window holds the other customer apart.
  const wide = await top({ minutes: 5, first: 100 });
  assert.equal(wide.paths.length, 100);
  assert.deepEqual(wide.paths.slice(0, 10), res.paths);
  for (const p of wide.paths) {
    const truth = truthPaths.get(p.path)!;
    assert.ok(p.requests - p.errorBound <= truth && truth <= p.requests + p.missingBound, `${p.path}: bounds ${JSON.stringify(p)} vs ${truth}`);
  }
  // The same ranking and bounds as core/top-k.ts mergeTop over the summaries the edges shipped.
  const summaries = published.flatMap((r) => r.customers.filter((c) => c.customerId === CUSTOMER && c.top !== undefined).map((c) => ({ entries: c.top!.paths, floor: c.top!.floor })));
  assert.equal(summaries.length, 4);
  assert.deepEqual(
    wide.paths,
    mergeTop(summaries, 100).map((e) => ({ path: e.key, requests: e.count, errorBound: e.error, missingBound: e.missing })),
  );
  const defaults = await top({});
  assert.equal(new Date(defaults.to).getTime() - new Date(defaults.from).getTime(), 60 * MINUTE_MS);
  assert.equal(defaults.paths.length, 10);
  const other = await t.gql<{ trafficTop: TopShape }>(QUERY, { customerId: OTHER, minutes: 5 });
  assert.equal(other.errors, undefined, other.text);
  assert.equal(other.data!.trafficTop.requests, 4);
  assert.deepEqual(other.data!.trafficTop.paths.map((p) => [p.path, p.requests, p.errorBound, p.missingBound]), [
    ['/other-edge-a#1', 2, 0, 0],
    ['/other-edge-b', 2, 0, 0],
  ]);
  // The minute before the window: nothing.
  const empty = await top({ minutes: 1, first: 5 });
  assert.ok(empty.requests === 0 || empty.summaries === 2, JSON.stringify(empty));
});

test('trafficTop: who may read it (the customer\'s viewer, platform roles), another customer\'s token is refused as NOT_FOUND, bad arguments as BAD_USER_INPUT', async () => {
  assert.equal((await top({ minutes: 5 }, tokens.viewer)).requests, truthRequests);
  assert.equal((await top({ minutes: 5 }, tokens.platformViewer)).requests, truthRequests);
  const theirs = await t.gql(QUERY, { customerId: CUSTOMER }, tokens.otherAdmin);
  assert.equal(theirs.errors?.[0]?.extensions.code, 'NOT_FOUND', theirs.text);
  assert.equal(theirs.data, null, theirs.text);
  const unknown = await t.gql(QUERY, { customerId: 'nobody' });
  assert.equal(unknown.errors?.[0]?.extensions.code, 'NOT_FOUND', unknown.text);
  assert.equal(unknown.errors?.[0]?.extensions.cdnCode, 'CDN_ERR_CUSTOMER_NOT_FOUND', unknown.text);
  const anonymous = await t.gql(QUERY, { customerId: CUSTOMER }, null);
  assert.ok(anonymous.errors !== undefined && anonymous.data == null, anonymous.text);
  refused(await t.gql(QUERY, { customerId: CUSTOMER, minutes: 0 }), 'minutes', /from 1 to 120/);
  refused(await t.gql(QUERY, { customerId: CUSTOMER, minutes: 121 }), 'minutes', /CDN_API_TOP_RETENTION_HOURS/);
  refused(await t.gql(QUERY, { customerId: CUSTOMER, first: 101 }), 'first', /from 1 to 100/);
  refused(await t.gql(QUERY, { customerId: CUSTOMER, first: 0 }), 'first', /from 1 to 100/);
});

test('a second api replica reading the same reports stores nothing twice; reports read again change nothing; past the retention, minutes are deleted', async () => {
  const before = await top({ minutes: 5, first: 20 });
  const entries = await countRows(t, 'traffic_top_entry');
  // Older than the 2 hours kept: the replica's sweep at start deletes it (its entries with it); a recent one stays.
  const old = new Date(Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - 3 * 3600_000).toISOString();
  const recent = new Date(Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - 90 * MINUTE_MS).toISOString();
  for (const minute of [old, recent]) {
    await t.dataSource.query(`INSERT INTO traffic_top_summary (customer_id, minute, edge_id, requests, floor) VALUES ($1, $2, 'edge-old', 5, 0)`, [CUSTOMER, minute]);
    await t.dataSource.query(`INSERT INTO traffic_top_entry (customer_id, minute, edge_id, kind, key, count, error) VALUES ($1, $2, 'edge-old', 'path', '/old', 5, 0)`, [CUSTOMER, minute]);
  }
  const config = loadApiConfig({ CDN_API_PORT: '0', CDN_ADMIN_TOKEN: TOKEN, CDN_SECRET_KEY: SECRET_KEY, DATABASE_URL: t.databaseUrl, CDN_API_TOP_RETENTION_HOURS: '2' });
  // The same stats channel: at start the replica reads every report the channel keeps, these included.
  second = await startApi(config, { dataSource: t.dataSource, bus: t.bus, fleet: t.fleet, stats: t.stats, revocations: t.revocations, logger: createLogger({ name: 'api-2', level: 'silent' }) });
  const rows = async (): Promise<Array<{ minute: Date; edge_id: string }>> => t.dataSource.query(`SELECT minute, edge_id FROM traffic_top_summary WHERE edge_id = 'edge-old' ORDER BY minute`);
  await eventually('the old minute deleted', async () => ((await rows()).length === 1 ? true : undefined));
  assert.equal((await rows())[0]!.minute.toISOString(), recent);
  assert.equal(await countRows(t, 'traffic_top_entry'), entries + 1, 'the old entry went with its summary');
  // And every report published again, read live by both replicas.
  for (const r of published) await t.stats.publish(r);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await countRows(t, 'traffic_top_summary'), 9);
  assert.equal(await countRows(t, 'traffic_top_entry'), entries + 1);
  const res = await fetch(`${second.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ query: QUERY, variables: { customerId: CUSTOMER, minutes: 5, first: 20 } }) });
  const body = (await res.json()) as { data: { trafficTop: TopShape } };
  assert.deepEqual(body.data.trafficTop, before, 'the same answer from either replica, nothing counted twice');
  const metrics = await (await fetch(`${second.url}/metrics`)).text();
  assert.match(metrics, /cdn_api_traffic_top_summaries_total\{outcome="stored"\} [1-9]/);
  assert.match(metrics, /cdn_api_traffic_top_summaries_total\{outcome="dropped"\} 0/);
  // The customer deleted: its minutes go with it.
  const del = await t.gql('mutation($id: ID!) { deleteCustomer(id: $id) }', { id: OTHER });
  assert.equal(del.errors, undefined, del.text);
  assert.deepEqual(await t.dataSource.query(`SELECT * FROM traffic_top_summary WHERE customer_id = $1`, [OTHER]), []);
});

test('while PostgreSQL refuses the writes, summaries wait in a bounded queue (the oldest dropped and counted), the failure is logged once, and they are stored once it accepts again', async () => {
  const lines: string[] = [];
  const logger = createLogger({ name: 'api', level: 'info', destination: new Writable({ write: (chunk: Buffer, _enc, done) => { lines.push(chunk.toString('utf8')); done(); } }) });
  const counted = { stored: 0, dropped: 0 };
  const tops = new TrafficTopService({ db: new Database(t.dataSource), logger, retentionHours: 2, retryMs: 100, queueMax: 3, onStored: (outcome, n) => (counted[outcome] += n) });
  const minute = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - 10 * MINUTE_MS;
  const summary = (edgeId: string): EdgeStatsReport => report(edgeId, minute + 61_000, [{ customerId: CUSTOMER, requests: 1, results: { HIT: 1 }, serverErrors: 0, bytesSent: 1, originResponses: 0, originErrors: 0, originLatencyBuckets: [], top: { minute: new Date(minute).toISOString(), requests: 1, paths: [{ key: '/queued', count: 1, error: 0 }], floor: 0, statuses: [{ status: 200, count: 1 }] } }]);
  const queued = async (): Promise<string[]> => (await t.dataSource.query(`SELECT edge_id FROM traffic_top_summary WHERE minute = $1 ORDER BY edge_id`, [new Date(minute)])).map((r: { edge_id: string }) => r.edge_id);
  // The table away (renamed): every write fails.
  await t.dataSource.query('ALTER TABLE traffic_top_entry RENAME TO traffic_top_entry_away');
  try {
    tops.record([summary('q-1')]);
    await new Promise((r) => setTimeout(r, 350));
    tops.record([summary('q-2'), summary('q-3'), summary('q-4'), summary('q-5')]);
    await new Promise((r) => setTimeout(r, 350));
  } finally {
    await t.dataSource.query('ALTER TABLE traffic_top_entry_away RENAME TO traffic_top_entry');
  }
  assert.deepEqual(counted, { stored: 0, dropped: 2 });
  assert.equal(lines.filter((l) => l.includes('cannot store top URL summaries')).length, 1, 'logged once, not per retry');
  assert.deepEqual(await queued(), []);
  // Accepted again: the retry stores the three kept, the newest.
  await eventually('the queue stored', async () => ((await queued()).length === 3 ? true : undefined));
  assert.deepEqual(await queued(), ['q-3', 'q-4', 'q-5']);
  assert.deepEqual(counted, { stored: 3, dropped: 2 });
  assert.equal(lines.filter((l) => l.includes('storing top URL summaries again')).length, 1);
  await tops.stop();
});
