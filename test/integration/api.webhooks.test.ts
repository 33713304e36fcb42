/**
 * Webhooks end to end (issue 16): real apis on a real PostgreSQL, real HTTP receivers on
 * 127.0.0.1 (so these apis allow private webhook addresses, CDN_ALLOW_PRIVATE_WEBHOOKS, except
 * where the SSRF rules are the point), short back-off. The signature verifies with the secret
 * shown once; a failing receiver is retried until it answers 2xx, or the delivery FAILS after the
 * window; nothing is lost when an api stops with a delivery pending (another api on the same
 * database sends it); two apis on one database never send one delivery twice; purge.completed,
 * origin.down and customer.changed arrive from their real sources; roles; SSRF at save and at
 * connect.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { loadApiConfig } from '../../src/api/config';
import { createDataSource, migrate } from '../../src/api/db/data-source';
import { claimDueDeliveries, insertWebhook, insertWebhookEvents } from '../../src/api/db/webhook.store';
import { SecretBox } from '../../src/core/secret-box';
import { startApi, type ApiHandle } from '../../src/api/server';
import { MemoryBus } from '../../src/bus/memory-bus';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import { MemoryRevocations } from '../../src/bus/memory-revocations';
import { MemoryStatsChannel } from '../../src/bus/memory-stats';
import { verifyWebhook } from '../../src/core/webhook.signature';
import { createLogger } from '../../src/obs/logger.factory';
import { createCertificateAuthority } from '../../src/bin/demo-pki';
import { playEdge, SECRET_KEY, startTestApi, TOKEN, tokenFor, type TestApi } from './api.harness';

const FAST = {
  CDN_ALLOW_PRIVATE_WEBHOOKS: 'true',
  CDN_WEBHOOK_POLL_MS: '50',
  CDN_WEBHOOK_RETRY_BASE_MS: '50',
  CDN_WEBHOOK_RETRY_MAX_MS: '200',
  CDN_WEBHOOK_RETRY_SECONDS: '3',
  CDN_WEBHOOK_TIMEOUT_MS: '2000',
};

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  json: { id: string; type: string; customerId: string | null; occurredAt: string; data: Record<string, unknown> };
}

/** An HTTP receiver on 127.0.0.1: records every request, answers what `answer` says (200 "ok" by default). */
class Receiver {
  readonly received: Received[] = [];
  answer: (r: Received) => { status: number; body?: string; delayMs?: number } = () => ({ status: 200, body: 'ok' });
  #server: Server | undefined;

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const r: Received = { headers: req.headers, body, json: JSON.parse(body) as Received['json'] };
        this.received.push(r);
        const a = this.answer(r);
        setTimeout(() => res.writeHead(a.status, { 'content-type': 'text/plain' }).end(a.body ?? ''), a.delayMs ?? 0);
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hook`;
  }

  of(type: string): Received[] {
    return this.received.filter((r) => r.json.type === type);
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}

/** Polls until `check` returns a value other than undefined. */
async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A second api on the same database as `databaseUrl`, with its own bus, fleet and stats (an api replica). */
async function startReplica(databaseUrl: string, env: Record<string, string>): Promise<{ api: ApiHandle; close(): Promise<void> }> {
  const dataSource = createDataSource({ databaseUrl, dataDir: '/nonexistent' });
  await dataSource.initialize();
  await migrate(dataSource);
  const logger = createLogger({ name: 'api', level: 'warn', destination: new Writable({ write: (_c, _e, done) => done() }) });
  const [bus, fleet, stats, revocations] = [new MemoryBus(), new MemoryFleet(), new MemoryStatsChannel(), new MemoryRevocations()];
  const config = loadApiConfig({ CDN_API_PORT: '0', CDN_ADMIN_TOKEN: TOKEN, CDN_SECRET_KEY: SECRET_KEY, DATABASE_URL: databaseUrl, CDN_ALLOW_PRIVATE_ORIGINS: 'true', ...env });
  const api = await startApi(config, { dataSource, bus, fleet, stats, revocations, logger });
  let closing: Promise<void> | undefined;
  return {
    api,
    close() {
      closing ??= (async () => {
        await api.close();
        await Promise.all([revocations.close(), fleet.close(), stats.close(), bus.close()]);
        await dataSource.destroy();
      })();
      return closing;
    },
  };
}

const CREATE_CUSTOMER = 'mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }';
const CREATE = 'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { secret webhook { id customerId url events enabled } } }';
const DELIVERIES = `query($id: ID!, $status: WebhookDeliveryStatus, $first: Int, $after: String) {
  webhookDeliveries(webhookId: $id, status: $status, first: $first, after: $after) {
    nodes { id eventId eventType customerId status attempts lastStatus lastError lastResponse deliveredAt }
    pageInfo { endCursor hasNextPage }
  }
}`;
type DeliveryShape = { id: string; eventId: string; eventType: string; customerId: string | null; status: string; attempts: number; lastStatus: number | null; lastError: string | null; lastResponse: string | null; deliveredAt: string | null };

async function createCustomer(t: Pick<TestApi, 'gql'>, id: string): Promise<void> {
  const res = await t.gql(CREATE_CUSTOMER, { input: { id, name: id, originUrl: 'https://origin.example', domains: [`cdn.${id}.test`] } });
  assert.equal(res.errors, undefined, res.text);
}

async function createWebhook(t: Pick<TestApi, 'gql'>, input: Record<string, unknown>, token: string = TOKEN): Promise<{ id: string; secret: string }> {
  const res = await t.gql<{ createWebhook: { secret: string; webhook: { id: string } } }>(CREATE, { input }, token);
  assert.equal(res.errors, undefined, res.text);
  return { id: res.data!.createWebhook.webhook.id, secret: res.data!.createWebhook.secret };
}

async function deliveries(t: Pick<TestApi, 'gql'>, id: string, vars: Record<string, unknown> = {}, token: string = TOKEN): Promise<DeliveryShape[]> {
  const res = await t.gql<{ webhookDeliveries: { nodes: DeliveryShape[] } }>(DELIVERIES, { id, ...vars }, token);
  assert.equal(res.errors, undefined, res.text);
  return res.data!.webhookDeliveries.nodes;
}

function code(res: { errors?: Array<{ extensions: Record<string, unknown> }> | undefined; text: string }): string {
  assert.ok(res.errors?.length, res.text);
  return String(res.errors![0]!.extensions.cdnCode ?? res.errors![0]!.extensions.code);
}

describe('webhooks on one api', () => {
  let t: TestApi;
  const receiver = new Receiver();
  let url: string;

  before(async () => {
    t = await startTestApi(FAST);
    url = await receiver.start();
    await createCustomer(t, 'hook-co');
    await createCustomer(t, 'other-co');
  });
  after(async () => {
    await t?.close();
    await receiver.close();
  });

  test('testWebhook: a signed POST the secret verifies; the delivery shows DELIVERED with the status and the answer; redeliver sends the same event again', async () => {
    const hook = await createWebhook(t, { customerId: 'hook-co', url, events: ['PURGE_COMPLETED'], description: 'purges' });
    assert.match(hook.secret, /^\S{32,}$/);
    const sent = await t.gql<{ testWebhook: { id: string; status: string; eventType: string } }>('mutation($id: ID!) { testWebhook(webhookId: $id) { id status eventType } }', { id: hook.id });
    assert.equal(sent.errors, undefined, sent.text);
    assert.equal(sent.data!.testWebhook.eventType, 'webhook.test');
    const got = await eventually('the test event', () => receiver.of('webhook.test')[0]);
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers['edgeplane-webhook-id'], got.json.id);
    assert.equal(got.json.customerId, 'hook-co');
    assert.deepEqual(Object.keys(got.json).sort(), ['customerId', 'data', 'id', 'occurredAt', 'type']);
    const signed = { timestamp: got.headers['edgeplane-webhook-timestamp'] as string, signature: got.headers['edgeplane-signature'] as string };
    assert.match(signed.signature, /^v1=[0-9a-f]{64}$/);
    assert.ok(Math.abs(Number(signed.timestamp) - Date.now() / 1000) < 5);
    assert.equal(verifyWebhook(hook.secret, signed, got.body), true, 'the secret verifies the signature');
    assert.equal(verifyWebhook(`${hook.secret}x`, signed, got.body), false, 'another secret does not');
    assert.equal(verifyWebhook(hook.secret, signed, got.body.replace('hook-co', 'hook-cx')), false, 'a changed body does not');
    assert.equal(verifyWebhook(hook.secret, signed, got.body, Number(signed.timestamp) + 301), false, 'outside the replay window');

    const [delivered] = await eventually('DELIVERED', async () => {
      const list = await deliveries(t, hook.id);
      return list[0]?.status === 'DELIVERED' ? list : undefined;
    });
    assert.equal(delivered!.id, sent.data!.testWebhook.id);
    assert.deepEqual([delivered!.attempts, delivered!.lastStatus, delivered!.lastResponse, delivered!.lastError], [1, 200, 'ok', null]);
    assert.ok(delivered!.deliveredAt);

    const again = await t.gql<{ redeliverWebhook: { id: string; status: string } }>('mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id status } }', { id: delivered!.id });
    assert.equal(again.errors, undefined, again.text);
    assert.notEqual(again.data!.redeliverWebhook.id, delivered!.id);
    await eventually('the redelivery', () => (receiver.of('webhook.test').length === 2 ? true : undefined));
    assert.equal(receiver.of('webhook.test')[1]!.json.id, got.json.id, 'the same event id');
    // Paging and the status filter.
    const page1 = await t.gql<{ webhookDeliveries: { nodes: DeliveryShape[]; pageInfo: { endCursor: string; hasNextPage: boolean } } }>(DELIVERIES, { id: hook.id, first: 1 });
    assert.equal(page1.data!.webhookDeliveries.pageInfo.hasNextPage, true, page1.text);
    const page2 = await deliveries(t, hook.id, { first: 1, after: page1.data!.webhookDeliveries.pageInfo.endCursor });
    assert.deepEqual(page2.map((d) => d.id), [delivered!.id]);
    assert.deepEqual(await deliveries(t, hook.id, { status: 'FAILED' }), []);
  });

  test('a receiver failing then recovering gets the delivery retried; one that never recovers has it FAILED after the window', async () => {
    const flaky = new Receiver();
    let failures = 0;
    flaky.answer = () => (failures++ < 2 ? { status: 503, body: 'busy, come back' } : { status: 204 });
    const hook = await createWebhook(t, { customerId: 'hook-co', url: await flaky.start(), events: ['CUSTOMER_CHANGED'] });
    const down = new Receiver();
    down.answer = () => ({ status: 500, body: 'broken' });
    const dead = await createWebhook(t, { customerId: 'hook-co', url: await down.start(), events: ['CUSTOMER_CHANGED'] });
    try {
      const res = await t.gql('mutation { updateCustomer(id: "hook-co", input: { cacheTtl: 120 }) { id } }');
      assert.equal(res.errors, undefined, res.text);
      const [d] = await eventually('delivered after retries', async () => {
        const list = await deliveries(t, hook.id);
        return list[0]?.status === 'DELIVERED' ? list : undefined;
      });
      assert.deepEqual([d!.attempts, d!.lastStatus, d!.lastError], [3, 204, null]);
      assert.equal(flaky.received.length, 3);
      assert.equal(new Set(flaky.received.map((r) => r.json.id)).size, 1, 'each attempt carries the same event id');
      assert.deepEqual(flaky.received[0]!.json.data, { customerId: 'hook-co', change: 'updated', fields: ['cacheTtl'], version: 2 });

      const [failed] = await eventually(
        'FAILED after the retry window',
        async () => {
          const list = await deliveries(t, dead.id);
          return list[0]?.status === 'FAILED' ? list : undefined;
        },
        15_000,
      );
      assert.ok(failed!.attempts >= 3, `attempts ${failed!.attempts}`);
      assert.deepEqual([failed!.lastStatus, failed!.lastResponse], [500, 'broken']);
      assert.match(failed!.lastError!, /500/);
      const settled = down.received.length;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(down.received.length, settled, 'no attempt after FAILED');
      const metrics = await (await fetch(`${t.api.url}/metrics`)).text();
      assert.match(metrics, /cdn_api_webhook_deliveries_total\{outcome="failed"\} [1-9]/);
      assert.match(metrics, /cdn_api_webhook_deliveries_total\{outcome="retried"\} [1-9]/);
      assert.match(metrics, /cdn_api_webhook_queue_depth \d+/);
    } finally {
      await flaky.close();
      await down.close();
    }
  });

  test('purge.completed arrives when every live edge has applied the purge, once', async () => {
    const hook = await createWebhook(t, { customerId: 'hook-co', url, events: ['PURGE_COMPLETED'] });
    await playEdge(t, 'hook-edge');
    const res = await t.gql<{ purgeCache: { id: string; seq: number } }>('mutation { purgeCache(input: { customerId: "hook-co", kind: PREFIX, value: "/img/" }) { id seq } }');
    assert.equal(res.errors, undefined, res.text);
    const purge = res.data!.purgeCache;
    await t.fleet.ack([{ purgeId: purge.id, seq: purge.seq, edgeId: 'hook-edge', appliedAt: new Date().toISOString(), objectsRemoved: 2 }]);
    const got = await eventually('purge.completed', () => receiver.of('purge.completed').find((r) => r.json.data.purgeId === purge.id));
    assert.equal(got.json.customerId, 'hook-co');
    assert.deepEqual({ ...got.json.data, requestedAt: undefined, completedAt: undefined }, { purgeId: purge.id, kind: 'PREFIX', value: '/img/', soft: false, edges: 1, requestedAt: undefined, completedAt: undefined });
    // Asking again (purgeStatus) re-reads a complete purge: no second event.
    await t.gql('query($id: ID!) { purge(id: $id) { id completedAt } }', { id: purge.id });
    await new Promise((r) => setTimeout(r, 300));
    // One event (the first test's webhook subscribes to purges too: one delivery to each).
    const sent = receiver.of('purge.completed').filter((r) => r.json.data.purgeId === purge.id);
    assert.equal(new Set(sent.map((r) => r.json.id)).size, 1);
    assert.equal(sent.length, 2);
    await t.gql('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: hook.id });
  });

  test('purge.completed arrives without anyone reading the purge when its last edge applied it by heartbeat, never acking', async () => {
    const hook = await createWebhook(t, { customerId: 'hook-co', url, events: ['PURGE_COMPLETED'] });
    // The only live edge is the silent one (edges played by earlier tests would keep the purge open).
    for (const e of await t.fleet.liveEdges()) await t.fleet.leave(e.edgeId);
    await playEdge(t, 'silent-edge');
    const res = await t.gql<{ purgeCache: { id: string; seq: number } }>('mutation { purgeCache(input: { customerId: "hook-co", kind: PREFIX, value: "/silent/" }) { id seq } }');
    assert.equal(res.errors, undefined, res.text);
    const purge = res.data!.purgeCache;
    // The edge says, by heartbeat only, that it applied every change up to the purge's; nothing reads the purge.
    await playEdge(t, 'silent-edge', { appliedSeq: purge.seq });
    const got = await eventually('purge.completed by the sweep', () => receiver.of('purge.completed').find((r) => r.json.data.purgeId === purge.id));
    assert.equal(got.json.data.edges, 1);
    await t.fleet.leave('silent-edge');
    await t.gql('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: hook.id });
  });

  test('origin.down and origin.up arrive from the edges\' reports, each transition once however often it is read', async () => {
    const hook = await createWebhook(t, { customerId: 'hook-co', url, events: ['ORIGIN_DOWN', 'ORIGIN_UP'] });
    const at = new Date().toISOString();
    const down = { edgeId: 'hook-edge', customerId: 'hook-co', origin: 'primary', state: 'down' as const, reason: 'connect ECONNREFUSED', at };
    await t.fleet.reportOriginHealth([down]);
    await t.fleet.reportOriginHealth([down]);
    const got = await eventually('origin.down', () => receiver.of('origin.down')[0]);
    assert.deepEqual(got.json.data, { origin: 'primary', edgeId: 'hook-edge', reason: 'connect ECONNREFUSED', at });
    assert.equal(got.json.occurredAt, at);
    await t.fleet.reportOriginHealth([{ ...down, state: 'up', reason: 'health check passed', at: new Date(Date.parse(at) + 1000).toISOString() }]);
    await eventually('origin.up', () => receiver.of('origin.up')[0]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(receiver.of('origin.down').length, 1, 'the repeated report is one event');
    // Another customer's transitions never reach this customer's webhook.
    await t.fleet.reportOriginHealth([{ ...down, customerId: 'other-co', at: new Date().toISOString() }]);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(receiver.of('origin.down').map((r) => r.json.customerId), ['hook-co']);
    await t.gql('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: hook.id });
  });

  test('roles: a customer admin manages its own webhooks only, a viewer reads them (never a secret), fleet-wide ones are for admins', async () => {
    const admin = await tokenFor(t, 'CUSTOMER_ADMIN', 'hook-co');
    const viewer = await tokenFor(t, 'CUSTOMER_VIEWER', 'hook-co');
    const otherAdmin = await tokenFor(t, 'CUSTOMER_ADMIN', 'other-co');
    const own = await createWebhook(t, { customerId: 'hook-co', url, events: ['ORIGIN_DOWN'] }, admin);

    assert.equal(code(await t.gql(CREATE, { input: { customerId: 'hook-co', url, events: ['ORIGIN_DOWN'] } }, otherAdmin)), 'CDN_ERR_CUSTOMER_NOT_FOUND');
    assert.equal(code(await t.gql('query { webhooks(customerId: "hook-co") { id } }', {}, otherAdmin)), 'CDN_ERR_CUSTOMER_NOT_FOUND');
    for (const [query, vars] of [
      ['mutation($id: ID!) { updateWebhook(id: $id, input: { enabled: false }) { id } }', { id: own.id }],
      ['mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: own.id }],
      ['mutation($id: ID!) { testWebhook(webhookId: $id) { id } }', { id: own.id }],
      [DELIVERIES, { id: own.id }],
    ] as const) {
      assert.equal(code(await t.gql(query, vars, otherAdmin)), 'CDN_ERR_WEBHOOK_NOT_FOUND', query);
    }
    assert.equal(code(await t.gql(CREATE, { input: { url, events: ['ORIGIN_DOWN'] } }, admin)), 'CDN_ERR_AUTH_FORBIDDEN', 'fleet-wide: admins only');
    assert.equal(code(await t.gql('query { webhooks(customerId: null) { id } }', {}, admin)), 'CDN_ERR_AUTH_FORBIDDEN');

    const listed = await t.gql<{ webhooks: Array<{ id: string }> }>('query { webhooks(customerId: "hook-co") { id url events } }', {}, viewer);
    assert.equal(listed.errors, undefined, listed.text);
    assert.ok(listed.data!.webhooks.some((w) => w.id === own.id));
    await deliveries(t, own.id, {}, viewer);
    assert.equal(code(await t.gql(CREATE, { input: { customerId: 'hook-co', url, events: ['ORIGIN_DOWN'] } }, viewer)), 'CDN_ERR_AUTH_FORBIDDEN');
    assert.equal(code(await t.gql('mutation($id: ID!) { testWebhook(webhookId: $id) { id } }', { id: own.id }, viewer)), 'CDN_ERR_AUTH_FORBIDDEN');

    const updated = await t.gql<{ updateWebhook: { enabled: boolean; events: string[] } }>('mutation($id: ID!) { updateWebhook(id: $id, input: { enabled: false, events: [ORIGIN_UP, ORIGIN_DOWN] }) { enabled events } }', { id: own.id }, admin);
    assert.equal(updated.errors, undefined, updated.text);
    assert.deepEqual(updated.data!.updateWebhook, { enabled: false, events: ['ORIGIN_DOWN', 'ORIGIN_UP'] });
    const fleet = await createWebhook(t, { url, events: ['CUSTOMER_CHANGED'] });
    assert.equal(code(await t.gql('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: fleet.id }, admin)), 'CDN_ERR_WEBHOOK_NOT_FOUND', 'a customer never sees a fleet-wide webhook');
    const fleetList = await t.gql<{ webhooks: Array<{ id: string; customerId: string | null }> }>('query { webhooks { id customerId } }');
    assert.deepEqual(fleetList.data!.webhooks, [{ id: fleet.id, customerId: null }]);
    // Fleet-wide: every customer's events.
    await createCustomer(t, 'third-co');
    await eventually('customer.changed at the fleet-wide webhook', () => receiver.of('customer.changed').find((r) => r.json.customerId === 'third-co' && r.json.data.change === 'created'));
    await t.gql('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: fleet.id });

    // The secret never reaches the audit log.
    const audit = await t.dataSource.query(`SELECT arguments, mutation, customer_id FROM audit_log WHERE mutation LIKE '%ebhook%' ORDER BY id`);
    assert.ok(audit.some((a: { mutation: string; customer_id: string }) => a.mutation === 'createWebhook' && a.customer_id === 'hook-co'));
    assert.ok(!JSON.stringify(await t.dataSource.query('SELECT * FROM audit_log')).includes(own.secret));
    assert.ok(!JSON.stringify(await t.dataSource.query('SELECT * FROM webhook')).includes(own.secret), 'sealed at rest');
  });

  test('invalid input: the URL, no events, the limit per customer, unknown ids', async () => {
    for (const [bad, why] of [
      ['not a url', /not an absolute URL/],
      ['ftp://example.com/x', /scheme is ftp/],
      ['https://user:pw@example.com/x', /credentials/],
      ['https://example.com/x#frag', /fragment/],
    ] as const) {
      const res = await t.gql(CREATE, { input: { customerId: 'hook-co', url: bad, events: ['ORIGIN_DOWN'] } });
      assert.equal(code(res), 'CDN_ERR_WEBHOOK_URL_INVALID', bad);
      assert.match(res.errors![0]!.message, why);
    }
    assert.equal(code(await t.gql(CREATE, { input: { customerId: 'hook-co', url, events: [] } })), 'CDN_ERR_WEBHOOK_NO_EVENTS');
    assert.equal(code(await t.gql(CREATE, { input: { customerId: 'nobody', url, events: ['ORIGIN_DOWN'] } })), 'CDN_ERR_CUSTOMER_NOT_FOUND');
    assert.equal(code(await t.gql('mutation { deleteWebhook(id: "00000000-0000-4000-8000-000000000000") { id } }')), 'CDN_ERR_WEBHOOK_NOT_FOUND');
    assert.equal(code(await t.gql('mutation { deleteWebhook(id: "nope") { id } }')), 'CDN_ERR_WEBHOOK_NOT_FOUND');
    assert.equal(code(await t.gql('mutation { redeliverWebhook(deliveryId: "00000000-0000-4000-8000-000000000000") { id } }')), 'CDN_ERR_WEBHOOK_DELIVERY_NOT_FOUND');
  });
});

describe('webhooks and the SSRF rules', () => {
  let t: TestApi;
  const receiver = new Receiver();
  let port: number;

  before(async () => {
    // Private webhook addresses refused (the default), short retries.
    t = await startTestApi({ ...FAST, CDN_ALLOW_PRIVATE_WEBHOOKS: 'false', CDN_WEBHOOKS_MAX: '3' });
    port = Number(new URL(await receiver.start()).port);
    await createCustomer(t, 'ssrf-co');
  });
  after(async () => {
    await t?.close();
    await receiver.close();
  });

  test('refused when saved: an address in a forbidden range, as an IP literal or any spelling of it (nothing is sent there)', async () => {
    for (const bad of ['http://169.254.169.254/latest/meta-data/', 'http://[::ffff:169.254.169.254]/', 'http://0xa9fea9fe/', `http://127.0.0.1:${port}/hook`, 'http://10.1.2.3/']) {
      const res = await t.gql(CREATE, { input: { customerId: 'ssrf-co', url: bad, events: ['ORIGIN_DOWN'] } });
      assert.equal(code(res), 'CDN_ERR_WEBHOOK_FORBIDDEN_ADDRESS', bad);
      assert.match(res.errors![0]!.message, /not a public unicast address.*CDN_ALLOW_PRIVATE_WEBHOOKS/);
    }
    assert.equal(receiver.received.length, 0);
  });

  test('refused at connect time: a host that resolves to loopback when sent (its DNS changed after saving) gets nothing', async () => {
    // Saved while it did not resolve (accepted, as origins are), then pointed at loopback: as a DNS change would.
    const hook = await createWebhook(t, { customerId: 'ssrf-co', url: 'http://hooks.example.invalid/hook', events: ['ORIGIN_DOWN'] });
    await t.dataSource.query(`UPDATE webhook SET url = $1 WHERE id = $2`, [`http://localhost:${port}/hook`, hook.id]);
    const sent = await t.gql('mutation($id: ID!) { testWebhook(webhookId: $id) { id } }', { id: hook.id });
    assert.equal(sent.errors, undefined, sent.text);
    const [d] = await eventually('a refused attempt', async () => {
      const list = await deliveries(t, hook.id);
      return list[0]?.lastError ? list : undefined;
    });
    assert.match(d!.lastError!, /localhost resolves to (127\.0\.0\.1|::1).*not a public unicast address/);
    assert.equal(d!.lastStatus, null);
    assert.equal(receiver.received.length, 0, 'nothing reached the receiver');
  });

  test('at most CDN_WEBHOOKS_MAX per customer', async () => {
    const listed = await t.gql<{ webhooks: unknown[] }>('query { webhooks(customerId: "ssrf-co") { id } }');
    for (let i = listed.data!.webhooks.length; i < 3; i += 1) await createWebhook(t, { customerId: 'ssrf-co', url: `http://hook${i}.example.invalid/`, events: ['ORIGIN_UP'] });
    const res = await t.gql(CREATE, { input: { customerId: 'ssrf-co', url: 'http://one-more.example.invalid/', events: ['ORIGIN_UP'] } });
    assert.equal(code(res), 'CDN_ERR_WEBHOOKS_FULL');
    assert.match(res.errors![0]!.message, /Customer "ssrf-co" already has 3 webhooks/);
  });
});

describe('certificate events', () => {
  let t: TestApi;
  const receiver = new Receiver();

  before(async () => {
    // An ACME directory nothing answers (every order fails), a sweep every 200 ms.
    t = await startTestApi({ ...FAST, CDN_ACME_DIRECTORY_URL: 'http://127.0.0.1:9/directory', CDN_ACME_AUTO: 'false', CDN_ACME_CHECK_INTERVAL_MS: '200' });
    await createCustomer(t, 'cert-co');
    await createWebhook(t, { customerId: 'cert-co', url: await receiver.start(), events: ['CERTIFICATE_FAILED', 'CERTIFICATE_EXPIRING', 'CERTIFICATE_ISSUED'] });
  });
  after(async () => {
    await t?.close();
    await receiver.close();
  });

  test('certificate.expiring for a served certificate within the warning window, once however many sweeps; certificate.failed for a failed order', async () => {
    const notAfter = new Date(Date.now() + 3 * 24 * 3600_000);
    const leaf = await (await createCertificateAuthority('Webhook CA')).issue(['cdn.cert-co.test'], { notAfter });
    const uploaded = await t.gql<{ uploadCertificate: { id: string } }>('mutation($c: ID!, $cert: String!, $key: String!) { uploadCertificate(customerId: $c, certificatePem: $cert, privateKeyPem: $key) { id } }', {
      c: 'cert-co',
      cert: leaf.certPem,
      key: leaf.keyPem,
    });
    assert.equal(uploaded.errors, undefined, uploaded.text);
    const expiring = await eventually('certificate.expiring', () => receiver.of('certificate.expiring')[0]);
    assert.equal(expiring.json.customerId, 'cert-co');
    assert.deepEqual(
      { ...expiring.json.data, notAfter: undefined },
      { certificateId: uploaded.data!.uploadCertificate.id, domains: ['cdn.cert-co.test'], source: 'UPLOADED', status: 'ISSUED', notAfter: undefined },
    );
    assert.equal(Math.abs(Date.parse(expiring.json.data.notAfter as string) - notAfter.getTime()) < 1000, true);

    const requested = await t.gql<{ requestCertificate: { id: string } }>('mutation { requestCertificate(customerId: "cert-co", domains: ["cdn.cert-co.test"]) { id } }');
    assert.equal(requested.errors, undefined, requested.text);
    const failed = await eventually('certificate.failed', () => receiver.of('certificate.failed')[0]);
    assert.equal(failed.json.data.certificateId, requested.data!.requestCertificate.id);
    assert.equal(failed.json.data.willRetry, true);
    assert.match(failed.json.data.error as string, /\S/);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(receiver.of('certificate.expiring').length, 1, 'several sweeps, one event');
  });
});

describe('webhooks across api replicas', () => {
  let t: TestApi;
  const receiver = new Receiver();
  let url: string;

  before(async () => {
    t = await startTestApi(FAST);
    url = await receiver.start();
    await createCustomer(t, 'fleet-co');
  });
  after(async () => {
    await t?.close();
    await receiver.close();
  });

  test('nothing lost across a restart: an api stops with a delivery pending, another api on the same database sends it', async () => {
    const restart = new Receiver();
    let up = false;
    restart.answer = () => (up ? { status: 200, body: 'ok' } : { status: 503 });
    const hook = await createWebhook(t, { customerId: 'fleet-co', url: await restart.start(), events: ['CUSTOMER_CHANGED'] });
    try {
      // A replica with a long back-off: its failed attempt leaves the delivery pending well past its stop.
      const first = await startReplica(t.databaseUrl, { ...FAST, CDN_WEBHOOK_RETRY_BASE_MS: '1500', CDN_WEBHOOK_RETRY_MAX_MS: '1500', CDN_WEBHOOK_RETRY_SECONDS: '60' });
      // Only the replica sends: the harness api's dispatcher would take the retry too; stop it first.
      await t.api.close();
      const res = await fetch(`${first.api.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ query: 'mutation { updateCustomer(id: "fleet-co", input: { cacheTtl: 99 }) { id } }' }),
      });
      assert.equal(res.status, 200);
      await eventually('a first failed attempt', () => (restart.received.length >= 1 ? true : undefined));
      await first.close();
      const pending: Array<{ status: string; attempts: number }> = await t.dataSource.query(`SELECT status, attempts FROM webhook_delivery WHERE webhook_id = $1`, [hook.id]);
      assert.deepEqual(pending, [{ status: 'PENDING', attempts: 1 }]);
      up = true;
      const second = await startReplica(t.databaseUrl, FAST);
      try {
        await eventually('delivered by the other api', async () => {
          const rows: Array<{ status: string }> = await t.dataSource.query(`SELECT status FROM webhook_delivery WHERE webhook_id = $1`, [hook.id]);
          return rows[0]?.status === 'DELIVERED' ? true : undefined;
        });
        assert.equal(restart.received.length, 2);
        assert.equal(restart.received[1]!.headers['edgeplane-webhook-attempt'], '2');
      } finally {
        await second.close();
      }
    } finally {
      await restart.close();
    }
  });

  test('a delivery claimed by an api that died (its lease taken, no outcome stored) is sent by another api once the lease has passed', async () => {
    // No api runs now (the test above stopped them): the dead api is played by its claim alone.
    const m = t.dataSource.manager;
    const hook = await insertWebhook(m, { customerId: 'fleet-co', url, events: ['alert.resolved'], secretEnc: new SecretBox(SECRET_KEY).seal('lease-secret'), enabled: true, description: '' });
    await insertWebhookEvents(m, [{ type: 'alert.resolved', customerId: 'fleet-co', dedupKey: 'alert.resolved:lease', occurredAt: new Date(), data: {} }]);
    const claimed = await claimDueDeliveries(m, 10, 1500);
    assert.equal(claimed.length, 1);
    const leaseEnds = Date.now() + 1500;
    const replica = await startReplica(t.databaseUrl, FAST);
    try {
      const got = await eventually('the delivery after the lease', () => receiver.of('alert.resolved')[0]);
      assert.ok(Date.now() >= leaseEnds - 100, 'not before the lease ended');
      assert.equal(got.headers['edgeplane-webhook-attempt'], '2');
      assert.equal(verifyWebhook('lease-secret', { timestamp: got.headers['edgeplane-webhook-timestamp'] as string, signature: got.headers['edgeplane-signature'] as string }, got.body), true);
      await eventually('DELIVERED', async () => {
        const rows: Array<{ status: string }> = await t.dataSource.query(`SELECT status FROM webhook_delivery WHERE webhook_id = $1`, [hook.id]);
        return rows[0]?.status === 'DELIVERED' ? true : undefined;
      });
    } finally {
      await replica.close();
    }
  });

  test('an api that stops lets the delivery it is sending finish, and stores its outcome', async () => {
    const slow = new Receiver();
    slow.answer = () => ({ status: 200, body: 'took a while', delayMs: 800 });
    const slowUrl = await slow.start();
    const m = t.dataSource.manager;
    const hook = await insertWebhook(m, { customerId: 'fleet-co', url: slowUrl, events: ['certificate.issued'], secretEnc: new SecretBox(SECRET_KEY).seal('slow-secret'), enabled: true, description: '' });
    const replica = await startReplica(t.databaseUrl, FAST);
    try {
      await insertWebhookEvents(m, [{ type: 'certificate.issued', customerId: 'fleet-co', dedupKey: 'certificate.issued:slow', occurredAt: new Date(), data: {} }]);
      await eventually('the request in flight', () => (slow.received.length === 1 ? true : undefined));
      await replica.close();
      const rows: Array<{ status: string; last_response: string }> = await t.dataSource.query(`SELECT status, last_response FROM webhook_delivery WHERE webhook_id = $1`, [hook.id]);
      assert.deepEqual(rows, [{ status: 'DELIVERED', last_response: 'took a while' }]);
    } finally {
      await replica.close();
      await t.dataSource.query(`DELETE FROM webhook WHERE id = $1`, [hook.id]);
      await slow.close();
    }
  });

  test('two apis on one database never send one delivery twice: 300 events, each received once', async () => {
    const a = await startReplica(t.databaseUrl, { ...FAST, CDN_WEBHOOK_CONCURRENCY: '8' });
    const b = await startReplica(t.databaseUrl, { ...FAST, CDN_WEBHOOK_CONCURRENCY: '8' });
    try {
      const hook = await createWebhookOn(a.api.url, { url, events: ['ALERT_FIRED'] });
      receiver.answer = () => ({ status: 200, delayMs: Math.floor(Math.random() * 10) });
      const events = Array.from({ length: 300 }, (_, i) => ({ type: 'alert.fired' as const, customerId: 'fleet-co', dedupKey: `alert.fired:load:${i}`, occurredAt: new Date(), data: { n: i } }));
      // Stored as a service's emit stores them, in batches, while both dispatchers run.
      for (let i = 0; i < events.length; i += 50) await insertWebhookEvents(t.dataSource.manager, events.slice(i, i + 50));
      // The same facts reported again (another replica saw them too): nothing more.
      await insertWebhookEvents(t.dataSource.manager, events.slice(0, 50));
      await eventually(
        'every delivery DELIVERED',
        async () => {
          const rows: Array<{ n: number }> = await t.dataSource.query(`SELECT count(*)::int AS n FROM webhook_delivery WHERE webhook_id = $1 AND status = 'DELIVERED'`, [hook]);
          return rows[0]!.n === 300 ? true : undefined;
        },
        30_000,
      );
      const fired = receiver.of('alert.fired');
      assert.equal(fired.length, 300, 'one request per event');
      assert.equal(new Set(fired.map((r) => r.json.id)).size, 300, 'unique ids');
      assert.deepEqual(new Set(fired.map((r) => r.json.data.n)).size, 300);
      const attempts: Array<{ max: number }> = await t.dataSource.query(`SELECT max(attempts)::int AS max FROM webhook_delivery WHERE webhook_id = $1`, [hook]);
      assert.equal(attempts[0]!.max, 1);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

async function createWebhookOn(apiUrl: string, input: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${apiUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ query: CREATE, variables: { input } }),
  });
  const body = (await res.json()) as { data?: { createWebhook: { webhook: { id: string } } }; errors?: unknown };
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data!.createWebhook.webhook.id;
}
