/**
 * Top URLs end to end with a real edge: an edge following the api's bus and publishing its
 * stats on the api's stats channel (as `cdn start` wires them, CDN_EDGE_TOP_URLS=4, a 100 ms
 * stats interval) answers requests from a real origin; once the edge's minute ends, trafficTop
 * shows its paths and status codes. The edge runs on an injected clock two minutes behind, moved
 * one minute on to end its minute without waiting for the wall clock (the api's window ends at
 * the start of the real current minute, so the edge's minute is inside it). The api's side
 * alone, with exact counts: test/integration/api.traffic-top.test.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createBusCustomerFeed } from '../../src/edge/sync/bus-sync';
import { maxChangeSeq, SECRET_KEY, startTestApi, type TestApi } from './api.harness';
import { edgeConfig, http, silentLogger, tempDir } from './edge.harness';

const CUSTOMER = 'edge-top-co';
const HOST = 'cdn.edge-top-co.test';
const QUERY = `query($customerId: ID!) {
  trafficTop(customerId: $customerId, minutes: 5, first: 3) {
    requests summaries unlistedBound
    paths { path requests errorBound missingBound }
    statuses { status requests }
  }
}`;

type Top = { requests: number; summaries: number; unlistedBound: number; paths: Array<{ path: string; requests: number; errorBound: number; missingBound: number }>; statuses: Array<{ status: number; requests: number }> };

let api: TestApi;
let edge: EdgeHandle | undefined;
let origin: Server;
/** The edge's clock: the wall clock plus this (set at start: 5 s into the minute two minutes back, so the requests stay in one edge minute). */
let offsetMs = 0;
const cleanups: Array<() => Promise<unknown>> = [];

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  api = await startTestApi();
  cleanups.push(() => api.close());
  origin = createServer((req, res) => {
    if (req.url?.startsWith('/missing')) res.writeHead(404).end('no');
    else res.writeHead(200, { 'cache-control': 'max-age=600' }).end('ok');
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', () => resolve()));
  cleanups.push(() => new Promise((resolve) => origin.close(resolve)));
  const url = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  const created = await api.gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', { input: { id: CUSTOMER, name: CUSTOMER, originUrl: url, domains: [HOST] } });
  assert.equal(created.errors, undefined, created.text);
  const tmp = await tempDir();
  cleanups.push(() => tmp.remove());
  const now = Date.now();
  offsetMs = Math.floor(now / 60_000) * 60_000 - 2 * 60_000 + 5_000 - now;
  const customers = createBusCustomerFeed(api.bus, { dataDir: tmp.dir, logger: silentLogger, blockMs: 100, retryMinMs: 20, retryMaxMs: 100 });
  edge = await startEdge(edgeConfig(tmp.dir, { CDN_SECRET_KEY: SECRET_KEY, CDN_EDGE_ID: 'top-edge', CDN_EDGE_TOP_URLS: '4', CDN_EDGE_STATS_INTERVAL_MS: '100' }), {
    customers,
    stats: api.stats,
    clock: { now: () => Date.now() + offsetMs },
    logger: silentLogger,
  });
  cleanups.push(() => edge!.close());
  await customers.ready;
  const seq = await maxChangeSeq(api);
  await eventually('the edge has the customer', async () => (edge!.appliedSeq() >= seq ? true : undefined));
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

test('requests through a real edge with CDN_EDGE_TOP_URLS show up in trafficTop once its minute ends', async () => {
  // Before the edge's clock reaches the second after its minute (two minutes behind the wall clock), more than its 4 places of paths.
  const edgeMinute = Math.floor((Date.now() + offsetMs) / 60_000);
  // The tail first: the busy paths then take the places of tail paths, inheriting their counts as errors.
  const plan: Array<[string, number, number]> = [
    ['/a', 1, 200],
    ['/b', 1, 200],
    ['/c', 1, 200],
    ['/hot.js', 12, 200],
    ['/warm.css', 6, 200],
    ['/missing.png', 3, 404],
  ];
  for (const [path, times, status] of plan) {
    for (let i = 0; i < times; i += 1) {
      const res = await http(edge!.url, path, { host: HOST });
      assert.equal(res.status, status, `${path}: ${res.status} ${JSON.stringify(res).slice(0, 400)}`);
    }
  }
  assert.equal(Math.floor((Date.now() + offsetMs) / 60_000), edgeMinute, 'still the same minute on the edge (the requests took under a minute)');
  // Nothing before the edge's minute ends.
  await new Promise((r) => setTimeout(r, 300));
  const none = await api.gql<{ trafficTop: Top }>(QUERY, { customerId: CUSTOMER });
  assert.equal(none.errors, undefined, none.text);
  assert.equal(none.data!.trafficTop.summaries, 0, none.text);
  // The edge's clock one minute on: its next stats report carries the minute that ended.
  offsetMs += 60_000;
  const top = await eventually('the edge minute in trafficTop', async () => {
    const r = await api.gql<{ trafficTop: Top }>(QUERY, { customerId: CUSTOMER });
    assert.equal(r.errors, undefined, r.text);
    return r.data!.trafficTop.summaries > 0 ? r.data!.trafficTop : undefined;
  });
  assert.equal(top.summaries, 1);
  assert.equal(top.requests, 24);
  assert.deepEqual(top.statuses, [
    { status: 200, requests: 21 },
    { status: 404, requests: 3 },
  ]);
  // Four places for six paths: the three hot ones come first with their counts within the bounds (a single summary: nothing missing).
  assert.deepEqual(top.paths.map((p) => p.path), ['/hot.js', '/warm.css', '/missing.png']);
  for (const [i, truth] of [12, 6, 3].entries()) {
    const p = top.paths[i]!;
    assert.ok(p.requests - p.errorBound <= truth && truth <= p.requests + p.missingBound, JSON.stringify(p));
    assert.equal(p.missingBound, 0);
  }
  assert.deepEqual(top.paths.map((p) => [p.requests, p.errorBound]), [[12, 0], [7, 1], [4, 1]]);
  assert.equal(top.unlistedBound, 1, 'the summary was full: a path left out had at most its floor');
});
