/**
 * quota.reached end to end on the api side (issue 16): edge heartbeats carrying quota spells
 * (`quotasReached`) are played on a fleet that two api replicas on one PostgreSQL both read
 * every 100 ms; a real receiver on 127.0.0.1 gets one signed `quota.reached` per spell with its
 * data, however many polls and replicas saw it; a new spell (a new since) is a new event; a
 * spell of another customer does not reach this customer's webhook.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { loadApiConfig } from '../../src/api/config';
import { createDataSource, migrate } from '../../src/api/db/data-source';
import { startApi, type ApiHandle } from '../../src/api/server';
import { MemoryBus } from '../../src/bus/memory-bus';
import type { MemoryFleet } from '../../src/bus/memory-fleet';
import { MemoryRevocations } from '../../src/bus/memory-revocations';
import { MemoryStatsChannel } from '../../src/bus/memory-stats';
import { verifyWebhook } from '../../src/core/webhook.signature';
import { createLogger } from '../../src/obs/logger.factory';
import { playEdge, SECRET_KEY, startTestApi, TOKEN, type TestApi } from './api.harness';

const ENV = {
  CDN_ALLOW_PRIVATE_WEBHOOKS: 'true',
  CDN_WEBHOOK_POLL_MS: '50',
  CDN_WEBHOOK_TIMEOUT_MS: '2000',
  CDN_QUOTA_POLL_MS: '100',
};
const MIB = 1_048_576;

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  json: { id: string; type: string; customerId: string | null; occurredAt: string; data: Record<string, unknown> };
}

let server: Server;
const received: Received[] = [];
let t: TestApi;
let replica: { api: ApiHandle; close(): Promise<void> };
let secret: string;

/** A second api on the same database, reading the same fleet (an api replica). */
async function startReplica(databaseUrl: string, fleet: MemoryFleet): Promise<{ api: ApiHandle; close(): Promise<void> }> {
  const dataSource = createDataSource({ databaseUrl, dataDir: '/nonexistent' });
  await dataSource.initialize();
  await migrate(dataSource);
  const logger = createLogger({ name: 'api', level: 'warn', destination: new Writable({ write: (_c, _e, done) => done() }) });
  const [bus, stats, revocations] = [new MemoryBus(), new MemoryStatsChannel(), new MemoryRevocations()];
  const config = loadApiConfig({ CDN_API_PORT: '0', CDN_ADMIN_TOKEN: TOKEN, CDN_SECRET_KEY: SECRET_KEY, DATABASE_URL: databaseUrl, CDN_ALLOW_PRIVATE_ORIGINS: 'true', ...ENV });
  const api = await startApi(config, { dataSource, bus, fleet, stats, revocations, logger });
  return {
    api,
    async close() {
      await api.close();
      await Promise.all([revocations.close(), stats.close(), bus.close()]);
      await dataSource.destroy();
    },
  };
}

async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const quotaEvents = (): Received[] => received.filter((r) => r.json.type === 'quota.reached');

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ headers: req.headers, body, json: JSON.parse(body) as Received['json'] });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  t = await startTestApi(ENV);
  replica = await startReplica(t.databaseUrl, t.fleet);
  for (const id of ['quota-co', 'other-co']) {
    const res = await t.gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', { input: { id, name: id, originUrl: 'https://origin.example', domains: [`cdn.${id}.test`], cacheQuotaBytes: MIB } });
    assert.equal(res.errors, undefined, res.text);
  }
  const res = await t.gql<{ createWebhook: { secret: string } }>('mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { secret } }', { input: { customerId: 'quota-co', url, events: ['QUOTA_REACHED'] } });
  assert.equal(res.errors, undefined, res.text);
  secret = res.data!.createWebhook.secret;
});

after(async () => {
  await replica?.close();
  await t?.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('one quota.reached per spell, whatever the polls and the replicas; a new spell is a new event', async () => {
  const since = new Date(Date.now() - 60_000).toISOString();
  const spell = { customerId: 'quota-co', since, quotaBytes: MIB, evictedBytes: 3 * 400 * 1024 };
  await playEdge(t, 'edge-q#1', { quotasReached: [spell, { customerId: 'other-co', since, quotaBytes: MIB, evictedBytes: 1 }] });
  const got = await eventually('quota.reached', () => quotaEvents()[0]);
  assert.equal(got.json.customerId, 'quota-co');
  assert.equal(got.json.occurredAt, since);
  assert.deepEqual(got.json.data, { customerId: 'quota-co', edgeId: 'edge-q#1', quotaBytes: MIB, evictedBytes: 3 * 400 * 1024, since });
  const signed = { timestamp: got.headers['edgeplane-webhook-timestamp'] as string, signature: got.headers['edgeplane-signature'] as string };
  assert.equal(verifyWebhook(secret, signed, got.body), true, 'signed with the secret');

  // The spell goes on (more bytes, the same since) through many polls of both replicas: still one event.
  await playEdge(t, 'edge-q#1', { quotasReached: [{ ...spell, evictedBytes: 5 * 400 * 1024 }] });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(quotaEvents().length, 1, 'one event for the spell');
  assert.deepEqual(quotaEvents().map((r) => r.json.customerId), ['quota-co'], "other-co's spell is not this customer's webhook's");

  // A new spell (a new since) is a new event.
  const later = new Date().toISOString();
  await playEdge(t, 'edge-q#1', { quotasReached: [{ ...spell, since: later, evictedBytes: 400 * 1024 }] });
  const second = await eventually('the second quota.reached', () => quotaEvents()[1]);
  assert.deepEqual(second.json.data, { customerId: 'quota-co', edgeId: 'edge-q#1', quotaBytes: MIB, evictedBytes: 400 * 1024, since: later });
  assert.notEqual(second.json.id, got.json.id);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(quotaEvents().length, 2);
});
