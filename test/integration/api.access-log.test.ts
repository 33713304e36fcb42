/**
 * The live access log tail end to end: a real api (its own database) and a real edge following
 * its bus, sharing an access log channel — in-process, as `cdn start` wires them, and Redis, as
 * `cdn api` and `cdn edge` do — with a graphql-ws client subscribed to `accessLog`. Only the
 * tailed customer's requests arrive, filtered (status class, path prefix, cache result); an
 * edge over its per-second limit says how many it skipped; nothing is published while nobody
 * tails; another customer's token is refused, a customer's own token tails its own customer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadApiConfig } from '../../src/api/config';
import { createDataSource, migrate } from '../../src/api/db/data-source';
import { startApi, type ApiHandle } from '../../src/api/server';
import { MemoryAccessLogChannel } from '../../src/bus/memory-access-log';
import { MemoryBus } from '../../src/bus/memory-bus';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import { MemoryRevocations } from '../../src/bus/memory-revocations';
import { MemoryStatsChannel } from '../../src/bus/memory-stats';
import { createRedisAccessLog } from '../../src/bus/redis-access-log';
import type { AccessLogChannel } from '../../src/core/access-log.port';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createBusCustomerFeed } from '../../src/edge/sync/bus-sync';
import { createLogger } from '../../src/obs/logger.factory';
import { createTestDatabase, createTestRedisPrefix } from '../support/services';
import { followSubscription, type Followed } from '../support/subscriptions';
import { firstSubscriptionCode, SECRET_KEY, TOKEN, wsClient } from './api.harness';
import { edgeConfig, http, silentLogger, tempDir } from './edge.harness';

const TAIL = `subscription($customerId: ID!, $filter: AccessLogFilterInput) {
  accessLog(customerId: $customerId, filter: $filter) {
    kind edgeId at skipped
    record { time edgeId customerId clientIp method host path status bytes cache originMs ms transport tls alpn userAgent referer aborted }
  }
}`;

type Entry = {
  kind: 'RECORD' | 'SKIPPED';
  edgeId: string;
  at: string;
  skipped: number;
  record: { time: string; edgeId: string; customerId: string; clientIp: string; method: string; host: string; path: string; status: number; bytes: number; cache: string; originMs: number | null; ms: number; transport: string; userAgent: string | null; aborted: boolean } | null;
};

interface Stack {
  url: string;
  edge: EdgeHandle;
  channel: AccessLogChannel;
  gql(query: string, variables?: Record<string, unknown>): Promise<{ data?: Record<string, unknown> | null; errors?: unknown[] }>;
  close(): Promise<void>;
}

async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An api and an edge on one bus and one access log channel (made by `channel`), two customers on one origin. */
async function startStack(makeChannel: () => { api: AccessLogChannel; edge: AccessLogChannel; close(): Promise<void> }, edgeEnv: Record<string, string> = {}): Promise<Stack> {
  const database = await createTestDatabase('edgeplane_api');
  const dataSource = createDataSource({ databaseUrl: database.url, dataDir: '/nonexistent' });
  await dataSource.initialize();
  await migrate(dataSource);
  const bus = new MemoryBus();
  const fleet = new MemoryFleet();
  const stats = new MemoryStatsChannel();
  const revocations = new MemoryRevocations();
  const channels = makeChannel();
  const config = loadApiConfig({ CDN_API_PORT: '0', CDN_ADMIN_TOKEN: TOKEN, CDN_SECRET_KEY: SECRET_KEY, DATABASE_URL: database.url, CDN_ALLOW_PRIVATE_ORIGINS: 'true' });
  const api: ApiHandle = await startApi(config, { dataSource, bus, fleet, stats, accessLogs: channels.api, revocations, logger: createLogger({ name: 'api', level: 'silent' }) });
  const gql: Stack['gql'] = async (query, variables = {}) => {
    const res = await fetch(`${api.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ query, variables }) });
    return (await res.json()) as { data?: Record<string, unknown> | null; errors?: unknown[] };
  };
  const origin: Server = createServer((req, res) => {
    res.writeHead(req.url?.startsWith('/missing') ? 404 : 200, { 'cache-control': 'max-age=600' }).end(`origin ${req.url}`);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  for (const id of ['tail-a', 'tail-b']) {
    const r = await gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', { input: { id, name: id, originUrl, domains: [`cdn.${id}.test`] } });
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  }
  const tmp = await tempDir();
  const customers = createBusCustomerFeed(bus, { dataDir: tmp.dir, logger: silentLogger, blockMs: 100, retryMinMs: 20, retryMaxMs: 100 });
  const edge = await startEdge(edgeConfig(tmp.dir, { CDN_SECRET_KEY: SECRET_KEY, CDN_EDGE_ID: 'tail-edge', ...edgeEnv }), { customers, fleet, accessLogs: channels.edge, logger: silentLogger });
  await customers.ready;
  await eventually('the edge knows both customers', () => (customers.byId('tail-b') === undefined ? undefined : true));
  return {
    url: api.url,
    edge,
    channel: channels.api,
    gql,
    async close() {
      await edge.close();
      await api.close();
      await new Promise<void>((resolve) => origin.close(() => resolve()));
      await channels.close();
      await Promise.all([fleet.close(), stats.close(), revocations.close(), bus.close()]);
      await dataSource.destroy();
      await database.drop();
      await tmp.remove();
    },
  };
}

/** Sends `path` to the customer's host every 100 ms until the tail holds an entry `until` accepts. */
async function requestUntil(stack: Stack, host: string, path: string, tail: Followed<Entry>, until: (e: Entry) => boolean): Promise<void> {
  await eventually(`an entry after requests to ${host}${path}`, async () => {
    await http(stack.edge.url, path, { host });
    return tail.events.some(until) ? true : undefined;
  });
}

function tailContract(name: string, makeChannel: () => { api: AccessLogChannel; edge: AccessLogChannel; close(): Promise<void> }): void {
  describe(`accessLog over ${name}`, () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack(makeChannel, { CDN_EDGE_LOG_TAIL_PER_SECOND: '5' });
    });
    after(async () => {
      await stack?.close();
    });

    test('nobody tails: the edge publishes nothing', async () => {
      for (let i = 0; i < 3; i += 1) await http(stack.edge.url, '/quiet', { host: 'cdn.tail-a.test' });
      await new Promise((r) => setTimeout(r, 1300));
      assert.deepEqual((await stack.channel.read('0', { blockMs: 0 })).batches, []);
      assert.deepEqual(await stack.channel.tailed(), []);
    });

    test('a tail gets its customer\'s requests that match the filter, with the fields of the export files, and nothing else', async () => {
      const tail = followSubscription<Entry>(stack.url, TOKEN, TAIL, { customerId: 'tail-a', filter: { statusClasses: [4], pathPrefix: '/missing' } }, 'accessLog');
      try {
        await requestUntil(stack, 'cdn.tail-a.test', '/missing/1', tail, (e) => e.kind === 'RECORD');
        // Traffic the filter or the customer keeps out, then one more that matches.
        await http(stack.edge.url, '/ok', { host: 'cdn.tail-a.test' });
        await http(stack.edge.url, '/missing/2', { host: 'cdn.tail-b.test' });
        await http(stack.edge.url, '/missing/3', { host: 'cdn.tail-a.test', headers: { 'user-agent': 'tail-test' } });
        await eventually('the last matching request', () => (tail.events.some((e) => e.record?.path === '/missing/3') ? true : undefined));
        await new Promise((r) => setTimeout(r, 1200));
        const records = tail.events.filter((e) => e.kind === 'RECORD').map((e) => e.record!);
        assert.ok(records.length >= 2);
        for (const r of records) {
          assert.equal(r.customerId, 'tail-a');
          assert.equal(r.status, 404);
          assert.ok(r.path.startsWith('/missing'), r.path);
        }
        const last = records.find((r) => r.path === '/missing/3')!;
        assert.deepEqual(
          { edgeId: last.edgeId, clientIp: last.clientIp, method: last.method, host: last.host, cache: last.cache, transport: last.transport, userAgent: last.userAgent, aborted: last.aborted },
          { edgeId: 'tail-edge', clientIp: '127.0.0.1', method: 'GET', host: 'cdn.tail-a.test', cache: 'MISS', transport: 'http', userAgent: 'tail-test', aborted: false },
        );
        assert.equal(typeof last.originMs, 'number');
        assert.ok(Number.isFinite(Date.parse(last.time)));
      } finally {
        await tail.close();
      }
    });

    test('under load an edge sends at most CDN_EDGE_LOG_TAIL_PER_SECOND records per second and says how many it skipped', async () => {
      const tail = followSubscription<Entry>(stack.url, TOKEN, TAIL, { customerId: 'tail-a', filter: { cacheResults: ['HIT'] } }, 'accessLog');
      try {
        await requestUntil(stack, 'cdn.tail-a.test', '/hot', tail, (e) => e.kind === 'RECORD');
        const sent = 60;
        await Promise.all(Array.from({ length: sent }, () => http(stack.edge.url, '/hot', { host: 'cdn.tail-a.test' })));
        const skipped = await eventually('a SKIPPED entry', () => tail.events.find((e) => e.kind === 'SKIPPED'));
        assert.equal(skipped.edgeId, 'tail-edge');
        assert.ok(skipped.skipped > 0 && skipped.skipped <= sent, `skipped ${skipped.skipped}`);
        assert.equal(skipped.record, null);
        // At most 5 records per publish interval of the edge; its intervals are not clock seconds, so one clock second may hold two.
        await new Promise((r) => setTimeout(r, 1200));
        const perSecond = new Map<string, number>();
        for (const e of tail.events) if (e.kind === 'RECORD') perSecond.set(e.record!.time.slice(0, 19), (perSecond.get(e.record!.time.slice(0, 19)) ?? 0) + 1);
        assert.ok(Math.max(...perSecond.values()) <= 10, `records per second: ${JSON.stringify([...perSecond])}`);
        const records = tail.events.filter((e) => e.kind === 'RECORD').length;
        const told = tail.events.filter((e) => e.kind === 'SKIPPED').reduce((n, e) => n + e.skipped, 0);
        assert.ok(records + told >= sent, `every request is a record or counted as skipped (${records} + ${told} of ${sent}+)`);
      } finally {
        await tail.close();
      }
    });
  });
}

tailContract('the in-process channel', () => {
  const channel = new MemoryAccessLogChannel();
  return { api: channel, edge: channel, close: () => channel.close() };
});

tailContract('Redis', () => {
  const redis = createTestRedisPrefix();
  const api = createRedisAccessLog({ url: redis.url, prefix: redis.prefix });
  const edge = createRedisAccessLog({ url: redis.url, prefix: redis.prefix });
  return {
    api,
    edge,
    async close() {
      await Promise.all([api.close(), edge.close()]);
      await redis.cleanup();
    },
  };
});

describe('accessLog access', () => {
  let stack: Stack;
  before(async () => {
    const channel = new MemoryAccessLogChannel();
    stack = await startStack(() => ({ api: channel, edge: channel, close: () => channel.close() }));
  });
  after(async () => {
    await stack?.close();
  });

  test('a customer\'s token tails its own customer only; another customer\'s id is NOT_FOUND, an unknown one too, a bad filter BAD_USER_INPUT', async () => {
    const created = await stack.gql('mutation($input: CreateTokenInput!) { createToken(input: $input) { secret } }', { input: { name: 'viewer b', role: 'CUSTOMER_VIEWER', customerId: 'tail-b', expiresIn: '1h' } });
    assert.equal(created.errors, undefined, JSON.stringify(created.errors));
    const secret = (created.data as { createToken: { secret: string } }).createToken.secret;
    const ws = wsClient(stack.url, secret);
    try {
      assert.equal(await firstSubscriptionCode(ws, TAIL, { customerId: 'tail-a' }), 'NOT_FOUND');
      const own = followSubscription<Entry>(stack.url, secret, TAIL, { customerId: 'tail-b' }, 'accessLog');
      try {
        await requestUntil(stack, 'cdn.tail-b.test', '/own', own, (e) => e.record?.path === '/own');
        assert.ok(own.events.every((e) => e.record === null || e.record.customerId === 'tail-b'));
      } finally {
        await own.close();
      }
    } finally {
      await ws.dispose();
    }
    const admin = wsClient(stack.url);
    try {
      assert.equal(await firstSubscriptionCode(admin, TAIL, { customerId: 'nobody' }), 'NOT_FOUND');
      assert.equal(await firstSubscriptionCode(admin, TAIL, { customerId: 'tail-a', filter: { statusClasses: [9], pathPrefix: 'no-slash' } }), 'BAD_USER_INPUT');
    } finally {
      await admin.dispose();
    }
  });
});
