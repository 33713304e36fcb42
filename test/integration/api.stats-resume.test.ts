/**
 * Resuming live statistics, and how an api replica lets go of its subscribers. Two real apis
 * on one database and one stats channel (the test plays the edges by publishing reports):
 * a client that resubscribes with `after` (the `at` of the last event it saw), on the other
 * replica, gets every interval after it exactly once, then live ones; an `after` older than
 * the window starts at the oldest interval kept, one ahead of the clock replays nothing. An api
 * that shuts down closes its graphql-ws sockets with 1001 Going Away, which a graphql-ws client
 * retries, instead of completing the streams, which would be over for the client; a new
 * connection while it drains is refused.
 *
 * The test's edge has reported a minute of traffic before either api starts (both read it from
 * the channel at start, as a replica started late does), is silent while they start, then
 * reports every second exactly once, and keeps the count of what it reported: what every
 * interval must show is known whatever ran before a case. Silent while an api starts because
 * the edge shares the apis' event loop: a start that holds the loop for a few seconds (on a
 * loaded machine) would make it report those seconds late, and a late report rightly counts in
 * a later second (stats-aggregator.service.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { loadApiConfig } from '../../src/api/config';
import { startApi, type ApiHandle } from '../../src/api/server';
import { MemoryStatsChannel } from '../../src/bus/memory-stats';
import { ORIGIN_LATENCY_BUCKETS_MS, type CustomerStatsDelta, type EdgeStatsReport } from '../../src/core/stats.port';
import { createLogger } from '../../src/obs/logger.factory';
import { SECRET_KEY, startTestApi, TOKEN, type TestApi, wsClient } from './api.harness';

const GRACE_MS = 300;
/** One minute: the shortest retention, so an `after` older than the window is quick to test. */
const STATS_ENV = { CDN_STATS_GRACE_MS: String(GRACE_MS), CDN_STATS_RETENTION_MINUTES: '1' };
/** Seconds of traffic the edge has reported when the apis start: the whole retention. */
const HISTORY_SECONDS = 60;
/** How often the edge looks for seconds to report: well inside the grace, so none is late. */
const EDGE_TICK_MS = 100;
const CUSTOMER = 'rs-a';

const CACHE_STATS = `subscription($customerId: ID!, $intervalSeconds: Int, $after: DateTimeISO) {
  cacheStats(customerId: $customerId, intervalSeconds: $intervalSeconds, after: $after) { at intervalSeconds requests }
}`;
const FLEET_STATS = 'subscription($after: DateTimeISO) { fleetStats(after: $after) { at requests } }';

type Stats = { at: string; intervalSeconds?: number; requests: number };

/** What the test's edge reported, by second: 1 request in even seconds, 2 in odd ones. */
const reported = new Map<number, number>();

/** The requests the edge reported in the interval of `intervalSeconds` ending at `at`. */
function expectedRequests(at: string, intervalSeconds: number): number {
  const end = Date.parse(at) / 1000;
  let sum = 0;
  for (let s = end - intervalSeconds; s < end; s += 1) sum += reported.get(s) ?? 0;
  return sum;
}

function report(second: number, requests: number): EdgeStatsReport {
  const delta: CustomerStatsDelta = {
    customerId: CUSTOMER,
    requests,
    results: { HIT: requests },
    serverErrors: 0,
    bytesSent: requests,
    originResponses: 0,
    originErrors: 0,
    originLatencyBuckets: new Array<number>(ORIGIN_LATENCY_BUCKETS_MS.length + 1).fill(0),
  };
  return { edgeId: 'resume-edge', at: new Date((second + 1) * 1000).toISOString(), intervalMs: 1000, customers: [delta] };
}

/** Collects a subscription's events; `closed` is the close event or error that ended it, `completed` whether the server completed it. */
function follow(client: Client, query: string, variables: Record<string, unknown>, field: string) {
  const state = { events: [] as Stats[], errors: [] as unknown[], completed: false, failure: undefined as unknown, subscribedAt: Date.now() };
  const stop = client.subscribe<Record<string, Stats>>(
    { query, variables },
    {
      next: (r) => (r.errors ? state.errors.push(...r.errors) : state.events.push(r.data![field]!)),
      error: (err) => (state.failure = err),
      complete: () => (state.completed = true),
    },
  );
  return { state, stop };
}

async function until<T>(what: string, read: () => T, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function seconds(events: Stats[]): number[] {
  return events.map((e) => Date.parse(e.at) / 1000);
}

/** Each `at` exactly `step` seconds after the one before. */
function assertConsecutive(events: Stats[], step: number, what: string): void {
  const s = seconds(events);
  for (let i = 1; i < s.length; i += 1) assert.equal(s[i]! - s[i - 1]!, step, `${what}: ${events[i - 1]!.at} then ${events[i]!.at}`);
}

/** A WebSocket handshake on a raw socket that then stays silent; resolves with the response head. */
function rawUpgrade(port: number): Promise<{ socket: Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        'GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n`,
      );
    });
    let data = '';
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      if (data.includes('\r\n\r\n')) resolve({ socket, head: data.slice(0, data.indexOf('\r\n\r\n')) });
    });
    socket.on('error', reject);
  });
}

let a: TestApi;
let b: ApiHandle;
let traffic: NodeJS.Timeout;
const clients: Client[] = [];

before(async () => {
  // The test's edge reports per calendar second. A timer fires late (setInterval drifts by
  // milliseconds a tick) and must not skip a second: each tick reports every second not yet
  // reported, up to the current one.
  const stats = new MemoryStatsChannel();
  let next = Math.floor(Date.now() / 1000) - HISTORY_SECONDS;
  const publish = (): void => {
    for (const now = Math.floor(Date.now() / 1000); next <= now; next += 1) {
      reported.set(next, 1 + (next % 2));
      stats.publish(report(next, reported.get(next)!)).catch((err: unknown) => console.error(err));
    }
  };
  // The past minute, before either api starts: both read it from the channel as they start.
  publish();
  a = await startTestApi(STATS_ENV, { stats });
  const created = await a.gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', {
    input: { id: CUSTOMER, name: 'Resume A', originUrl: 'https://origin.rs-a.example', domains: ['cdn.rs-a.example'] },
  });
  assert.equal(created.errors, undefined, created.text);
  // The second replica: same database, bus, fleet and stats channel.
  const config = loadApiConfig({ CDN_API_PORT: '0', CDN_ADMIN_TOKEN: TOKEN, CDN_SECRET_KEY: SECRET_KEY, DATABASE_URL: a.databaseUrl, ...STATS_ENV });
  b = await startApi(config, { dataSource: a.dataSource, bus: a.bus, fleet: a.fleet, stats: a.stats, revocations: a.revocations, logger: createLogger({ name: 'api-b', level: 'silent' }) });
  // Then every second from now on (the seconds the apis took to start had no traffic).
  next = Math.max(next, Math.floor(Date.now() / 1000));
  publish();
  traffic = setInterval(publish, EDGE_TICK_MS);
});

after(async () => {
  clearInterval(traffic);
  for (const c of clients) await c.dispose();
  await b.close();
  await a.close();
});

function client(url: string): Client {
  const c = wsClient(url);
  clients.push(c);
  return c;
}

describe('after', () => {
  test('resubscribing on the other replica with the last `at` seen gives every interval after it once, then live ones', async () => {
    const onA = follow(client(a.api.url), CACHE_STATS, { customerId: CUSTOMER }, 'cacheStats');
    await until('three events on replica A', () => onA.state.events.length, (n) => n >= 3);
    const seen = onA.state.events[0]!;
    const onB = follow(client(b.url), CACHE_STATS, { customerId: CUSTOMER, after: seen.at }, 'cacheStats');
    // B catches up at once (from its window), then follows live: two more events than A had.
    const target = Date.parse(onA.state.events[onA.state.events.length - 1]!.at) + 2000;
    await until('B past A', () => onB.state.events, (events) => events.some((e) => Date.parse(e.at) >= target));
    onA.stop();
    onB.stop();
    assert.deepEqual([onA.state.errors, onB.state.errors], [[], []]);
    assert.equal(Date.parse(onB.state.events[0]!.at), Date.parse(seen.at) + 1000, 'the first interval after `after`');
    assertConsecutive(onB.state.events, 1, 'replica B');
    // The same intervals, with the same figures, on both replicas.
    const fromA = new Map(onA.state.events.map((e) => [e.at, e.requests]));
    const both = onB.state.events.filter((e) => fromA.has(e.at));
    assert.ok(both.length >= 2, `overlap: ${JSON.stringify(onB.state.events)}`);
    for (const e of both) assert.equal(e.requests, fromA.get(e.at), `requests at ${e.at}`);
    assert.ok(onB.state.events.every((e) => e.requests === expectedRequests(e.at, 1)), JSON.stringify(onB.state.events));
  });

  test('longer intervals replay aligned on the clock, at once', async () => {
    const from = Math.floor(Date.now() / 1000) - 9;
    const sub = follow(client(b.url), CACHE_STATS, { customerId: CUSTOMER, intervalSeconds: 2, after: new Date(from * 1000 + 400).toISOString() }, 'cacheStats');
    // Intervals ending after `from`, up to the newest sealed one: four at least, without waiting for live ones
    // (timed from the first, so the time the client takes to connect does not count).
    await until('the first replayed interval', () => sub.state.events.length, (n) => n >= 1);
    await until('the replayed intervals', () => sub.state.events.length, (n) => n >= 4, 800);
    await until('a live interval', () => sub.state.events.length, (n) => n >= 6, 6000);
    sub.stop();
    assert.deepEqual(sub.state.errors, []);
    const first = Date.parse(sub.state.events[0]!.at) / 1000;
    assert.equal(first, from % 2 === 0 ? from + 2 : from + 1, `first end after ${from}, even`);
    assertConsecutive(sub.state.events, 2, 'intervalSeconds 2');
    assert.ok(sub.state.events.every((e) => e.intervalSeconds === 2), JSON.stringify(sub.state.events));
    // What the edge reported in each, also before B started.
    assert.ok(sub.state.events.every((e) => e.requests === expectedRequests(e.at, 2)), JSON.stringify(sub.state.events));
  });

  test('an `after` older than the window starts at the oldest interval kept; one ahead of the clock replays nothing', async () => {
    const asked = Date.now();
    const old = follow(client(b.url), CACHE_STATS, { customerId: CUSTOMER, after: '2001-01-01T00:00:00Z' }, 'cacheStats');
    // One minute kept: about 60 intervals at once, far beyond the 16 a live subscriber may have queued
    // (timed from the first, so the time the client takes to connect does not count).
    await until('the first replayed interval', () => old.state.events.length, (n) => n >= 1);
    const replaying = Date.now();
    await until('the window replayed', () => old.state.events.length, (n) => n >= 58, 3000);
    const subscribedAt = Date.now();
    const future = follow(client(b.url), CACHE_STATS, { customerId: CUSTOMER, after: new Date(Date.now() + 3_600_000).toISOString() }, 'cacheStats');
    await until('a live event', () => future.state.events.length, (n) => n >= 1, 5000);
    old.stop();
    future.stop();
    assert.deepEqual([old.state.errors, future.state.errors], [[], []]);
    const oldest = Date.parse(old.state.events[0]!.at);
    // The window as it was when the replay began: after the subscription was asked for, before its first interval came.
    assert.ok(oldest > asked - 62_000 && oldest < replaying - 55_000, `oldest replayed ${old.state.events[0]!.at}`);
    assertConsecutive(old.state.events, 1, 'the whole window');
    // Every second of it as the edge reported it, also those reported before either api started.
    const miscounted = old.state.events.filter((e) => e.requests !== expectedRequests(e.at, 1));
    assert.deepEqual(miscounted, [], `of ${old.state.events.length} replayed`);
    // Ahead of the clock counts as now: only intervals ending after the subscription.
    assert.ok(Date.parse(future.state.events[0]!.at) > subscribedAt - 1000, `first ${future.state.events[0]!.at}`);
  });

  test('fleetStats resumes the same way', async () => {
    const onA = follow(client(a.api.url), FLEET_STATS, {}, 'fleetStats');
    await until('two events on replica A', () => onA.state.events.length, (n) => n >= 2);
    const onB = follow(client(b.url), FLEET_STATS, { after: onA.state.events[0]!.at }, 'fleetStats');
    await until('three events on replica B', () => onB.state.events.length, (n) => n >= 3);
    onA.stop();
    onB.stop();
    assert.deepEqual([onA.state.errors, onB.state.errors], [[], []]);
    assert.equal(Date.parse(onB.state.events[0]!.at), Date.parse(onA.state.events[0]!.at) + 1000);
    assertConsecutive(onB.state.events, 1, 'fleetStats on B');
  });
});

describe('an api shutting down', () => {
  test('closes its sockets with 1001 Going Away, which graphql-ws retries, rather than completing the streams; purgeStatus resumes with the state now', async () => {
    // A live edge that has not applied anything: the purge stays pending.
    const now = new Date().toISOString();
    await a.fleet.heartbeat({ edgeId: 'lagging-edge', host: 'lagging.test', pid: 1, version: 'test', appliedSeq: 0, ready: true, startedAt: now, heartbeatAt: now, cacheObjects: 0, cacheBytes: 0 }, 60_000);
    const purge = await a.gql<{ purgeCache: { id: string } }>(`mutation { purgeCache(input: { customerId: "${CUSTOMER}", kind: ALL }) { id } }`);
    assert.equal(purge.errors, undefined, purge.text);
    const purgeStatus = `subscription { purgeStatus(id: "${purge.data!.purgeCache.id}") { purge { edgesApplied edgesTotal completedAt } } }`;

    // A graphql-ws client that never retries, so the sink sees how the server let go.
    const ws = createClient({ url: `${b.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${TOKEN}` }, retryAttempts: 0 });
    clients.push(ws);
    const subs = [
      follow(ws, CACHE_STATS, { customerId: CUSTOMER }, 'cacheStats'),
      follow(ws, FLEET_STATS, {}, 'fleetStats'),
      follow(ws, purgeStatus, {}, 'purgeStatus'),
    ];
    await until('every stream running', () => subs.map((s) => s.state.events.length), (n) => n.every((x) => x > 0));
    // A WebSocket client that never answers the close handshake keeps the api draining.
    const silent = await rawUpgrade(b.port);
    assert.match(silent.head, /^HTTP\/1\.1 101 /);
    const closing = b.close();
    await until('the socket closed', () => subs.map((s) => s.state.failure), (f) => f.every((x) => x !== undefined), 5000);
    // Meanwhile a new connection is refused (a balancer tries another replica), never answered by the draining one.
    await assert.rejects(rawUpgrade(b.port), /ECONNREFUSED/);
    silent.socket.destroy();
    await closing;
    for (const sub of subs) {
      assert.equal(sub.state.completed, false, 'the stream was not completed');
      assert.equal((sub.state.failure as { code?: number }).code, 1001, `closed with ${JSON.stringify(sub.state.failure)}`);
      assert.deepEqual(sub.state.errors, []);
    }
    await assert.rejects(fetch(`${b.url}/healthz`), 'nothing is left listening');

    // Subscribing again, on the other replica: the purge's state now, then its completion.
    const again = follow(client(a.api.url), purgeStatus, {}, 'purgeStatus');
    await until('the state on subscribe', () => again.state.events.length, (n) => n >= 1);
    assert.deepEqual(again.state.events[0], { purge: { edgesApplied: 0, edgesTotal: 1, completedAt: null } });
    await a.fleet.leave('lagging-edge');
    await until('completed', () => again.state.completed, (c) => c);
    const last = again.state.events[again.state.events.length - 1] as unknown as { purge: { completedAt: string | null } };
    assert.notEqual(last.purge.completedAt, null);
  });
});
