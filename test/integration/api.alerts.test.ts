/**
 * Alerts on a real api and PostgreSQL: the test plays the edges (stats reports on the stats
 * channel, heartbeats and origin transitions on the fleet channel) and watches rules go
 * PENDING, FIRING and back to OK through GraphQL, the history, the alertChanged subscription,
 * /metrics and a recording WebhookEvents; a quiet customer below the minimum requests never
 * fires; two api replicas on one database record and emit each transition once; roles and
 * validation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadApiConfig } from '../../src/api/config';
import type { WebhookEventInput, WebhookEvents } from '../../src/api/domain/webhook.types';
import { startApi } from '../../src/api/server';
import { ORIGIN_LATENCY_BUCKETS_MS, type CustomerStatsDelta } from '../../src/core/stats.port';
import { createLogger } from '../../src/obs/logger.factory';
import { playEdge, refused, SECRET_KEY, startTestApi, TOKEN, tokenFor, wsClient, type TestApi } from './api.harness';

const ENV = { CDN_STATS_GRACE_MS: '200', CDN_ALERT_EVAL_INTERVAL_MS: '150' };
const SET = `mutation SetAlerts($c: ID!, $rules: [AlertRuleInput!]!) { setAlertRules(customerId: $c, rules: $rules) { id name kind threshold forSeconds windowSeconds minRequests enabled } }`;
const ALERTS = `query($c: ID!) { alerts(customerId: $c) { state since value evaluatedAt rule { id name kind threshold } } }`;
const HISTORY = `query($c: ID!, $first: Int, $after: String) { alertHistory(customerId: $c, first: $first, after: $after) { totalCount pageInfo { endCursor hasNextPage } nodes { id ruleId ruleName kind from to value threshold firingSince reason at } } }`;

type Alert = { state: string; since: string; value: number | null; evaluatedAt: string | null; rule: { id: string; name: string; kind: string; threshold: number | null } };
type HistoryEvent = { id: string; ruleId: string; ruleName: string; from: string; to: string; value: number | null; firingSince: string | null; reason: string; at: string };

/** A WebhookEvents that keeps what it is given. */
class RecordingEvents implements WebhookEvents {
  readonly emitted: WebhookEventInput[] = [];
  async emit(events: readonly WebhookEventInput[]): Promise<void> {
    this.emitted.push(...events);
  }
  of(customerId: string): WebhookEventInput[] {
    return this.emitted.filter((e) => e.customerId === customerId);
  }
}

function delta(customerId: string, fields: Partial<CustomerStatsDelta> = {}): CustomerStatsDelta {
  return { customerId, requests: 0, results: {}, serverErrors: 0, bytesSent: 0, originResponses: 0, originErrors: 0, originLatencyBuckets: new Array<number>(ORIGIN_LATENCY_BUCKETS_MS.length + 1).fill(0), ...fields };
}

/** Edges' traffic: every 100 ms each customer's current delta is reported (as one edge's report for the current second). */
class Traffic {
  readonly #current = new Map<string, CustomerStatsDelta>();
  readonly #timer: NodeJS.Timeout;
  constructor(t: TestApi, edgeId = 'edge-alerts') {
    this.#timer = setInterval(() => {
      if (this.#current.size === 0) return;
      void t.stats.publish({ edgeId, at: new Date().toISOString(), intervalMs: 100, customers: [...this.#current.values()] });
    }, 100);
  }
  set(customerId: string, fields: Partial<CustomerStatsDelta> | null): void {
    if (fields === null) this.#current.delete(customerId);
    else this.#current.set(customerId, delta(customerId, fields));
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

let t: TestApi;
let traffic: Traffic;
const recorded = new RecordingEvents();

async function createCustomer(id: string): Promise<void> {
  const res = await t.gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', {
    input: { id, name: `Alerts ${id}`, originUrl: `https://origin.${id}.example`, domains: [`cdn.${id}.example`] },
  });
  assert.equal(res.errors, undefined, res.text);
}

async function setRules(customerId: string, rules: Array<Record<string, unknown>>, token?: string) {
  return t.gql<{ setAlertRules: Array<{ id: string; name: string }> }>(SET, { c: customerId, rules }, token);
}

async function alerts(customerId: string, token?: string, api: TestApi['api'] = t.api): Promise<Alert[]> {
  const res = await fetch(`${api.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token ?? TOKEN}` },
    body: JSON.stringify({ query: ALERTS, variables: { c: customerId } }),
  });
  const body = (await res.json()) as { data?: { alerts: Alert[] }; errors?: unknown };
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data!.alerts;
}

/** Waits until the named alert is in `state`; returns it. */
async function until(customerId: string, name: string, state: string, timeoutMs = 8000): Promise<Alert> {
  const deadline = Date.now() + timeoutMs;
  let last: Alert | undefined;
  for (;;) {
    last = (await alerts(customerId)).find((a) => a.rule.name === name);
    if (last?.state === state) return last;
    if (Date.now() > deadline) throw new Error(`${customerId}/${name} never ${state}: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function history(customerId: string): Promise<HistoryEvent[]> {
  const res = await t.gql<{ alertHistory: { nodes: HistoryEvent[] } }>(HISTORY, { c: customerId, first: 100 });
  assert.equal(res.errors, undefined, res.text);
  return res.data!.alertHistory.nodes;
}

before(async () => {
  t = await startTestApi(ENV, { alertEvents: recorded });
  traffic = new Traffic(t);
});

after(async () => {
  traffic.stop();
  await t.close();
});

describe('evaluation', () => {
  test('a hit-ratio alert goes PENDING, FIRING after `for`, and resolves at once when the ratio recovers; history, webhook events and metrics say so', async () => {
    await createCustomer('al-hits');
    const set = await setRules('al-hits', [{ name: 'hits', kind: 'HIT_RATIO_BELOW', threshold: 0.5, forSeconds: 1, windowSeconds: 10, minRequests: 10 }]);
    assert.equal(set.errors, undefined, set.text);
    const ruleId = set.data!.setAlertRules[0]!.id;
    assert.deepEqual((await alerts('al-hits')).map((a) => a.state), ['OK']);

    // 10 % hits.
    traffic.set('al-hits', { requests: 20, results: { HIT: 2, MISS: 18 } });
    const pending = await until('al-hits', 'hits', 'PENDING');
    const firing = await until('al-hits', 'hits', 'FIRING');
    assert.ok(Date.parse(firing.since) - Date.parse(pending.since) >= 1000, `fired ${firing.since}, pending since ${pending.since}: before \`for\``);
    assert.ok(firing.value !== null && firing.value < 0.5, `value ${firing.value}`);
    // The gauges follow at the end of the evaluator's pass.
    let metrics = '';
    for (let i = 0; i < 40 && !/cdn_api_alert_firing\{customer="al-hits",rule="hits"\} 1/.test(metrics); i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      metrics = await (await fetch(`${t.api.url}/metrics`)).text();
    }
    assert.match(metrics, /cdn_api_alert_firing\{customer="al-hits",rule="hits"\} 1/);
    assert.match(metrics, /cdn_api_alert_value\{customer="al-hits",rule="hits"\} 0\.\d+/);

    // All hits, many of them: the window's ratio is above 0.5 within a second or two.
    traffic.set('al-hits', { requests: 400, results: { HIT: 400 } });
    const resolved = await until('al-hits', 'hits', 'OK');
    assert.ok(resolved.value !== null && resolved.value >= 0.5);
    traffic.set('al-hits', null);

    const events = await history('al-hits');
    assert.deepEqual(events.map((e) => `${e.from}>${e.to}`).reverse(), ['OK>PENDING', 'PENDING>FIRING', 'FIRING>OK']);
    const [back, fired] = events;
    assert.equal(fired!.firingSince, firing.since);
    assert.equal(back!.firingSince, firing.since);
    assert.match(fired!.reason, /held for 1 s/);

    const emitted = recorded.of('al-hits');
    assert.deepEqual(emitted.map((e) => e.type), ['alert.fired', 'alert.resolved']);
    const since = new Date(firing.since).toISOString();
    assert.deepEqual(emitted.map((e) => e.dedupKey), [`alert.fired:${ruleId}:${since}`, `alert.resolved:${ruleId}:${since}`]);
    assert.equal(emitted[0]!.data.rule, 'hits');
    assert.equal(emitted[0]!.data.kind, 'HIT_RATIO_BELOW');
    const notified: Array<{ n: number }> = await t.dataSource.query(`SELECT count(*)::int AS n FROM alert_event WHERE customer_id = 'al-hits' AND notified_at IS NOT NULL`);
    assert.equal(notified[0]!.n, 2, 'fired and resolved are marked handed over');
  });

  test('5xx share with for 0 fires at once (OK → FIRING); bandwidth above fires on bytes per second; origin p95 from the latency buckets, above one threshold and not another', async () => {
    await createCustomer('al-errors');
    const set = await setRules('al-errors', [
      { name: 'errors', kind: 'ERROR_5XX_SHARE_ABOVE', threshold: 0.2, forSeconds: 0, windowSeconds: 10, minRequests: 10 },
      { name: 'bandwidth', kind: 'BANDWIDTH_ABOVE', threshold: 100_000, forSeconds: 0, windowSeconds: 10 },
      { name: 'slow', kind: 'ORIGIN_LATENCY_P95_ABOVE', threshold: 5000, forSeconds: 0, windowSeconds: 10, minRequests: 10 },
      { name: 'slower-than-50', kind: 'ORIGIN_LATENCY_P95_ABOVE', threshold: 50, forSeconds: 0, windowSeconds: 10, minRequests: 10 },
    ]);
    assert.equal(set.errors, undefined, set.text);
    const latency = new Array<number>(ORIGIN_LATENCY_BUCKETS_MS.length + 1).fill(0);
    latency[6] = 20; // (50, 100] ms: p95 about 97.5 ms, below 5 s
    traffic.set('al-errors', { requests: 20, results: { MISS: 20 }, serverErrors: 10, bytesSent: 200_000, originResponses: 20, originLatencyBuckets: latency });
    const errors = await until('al-errors', 'errors', 'FIRING');
    assert.ok(errors.value !== null && Math.abs(errors.value - 0.5) < 0.01, `value ${errors.value}`);
    const bandwidth = await until('al-errors', 'bandwidth', 'FIRING');
    assert.ok(bandwidth.value! > 100_000, `value ${bandwidth.value}`);
    // Values are written at the end of an evaluation pass, transitions at once: wait for the pass.
    let slow = (await alerts('al-errors')).find((a) => a.rule.name === 'slow')!;
    for (let i = 0; i < 40 && slow.value === null; i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      slow = (await alerts('al-errors')).find((a) => a.rule.name === 'slow')!;
    }
    assert.equal(slow.state, 'OK');
    assert.ok(slow.value !== null && slow.value > 50 && slow.value <= 100, `p95 ${slow.value}`);
    const p95 = await until('al-errors', 'slower-than-50', 'FIRING');
    assert.ok(p95.value! > 50 && p95.value! <= 100, `p95 ${p95.value}`);
    const events = await history('al-errors');
    assert.ok(events.some((e) => e.ruleName === 'errors' && e.from === 'OK' && e.to === 'FIRING'), JSON.stringify(events));
    traffic.set('al-errors', null);
    // No traffic: the 5xx share has no value (below minRequests), bandwidth is 0: both resolve.
    await until('al-errors', 'errors', 'OK', 15_000);
    await until('al-errors', 'bandwidth', 'OK', 15_000);
  });

  test('a quiet customer below the minimum requests never fires, whatever its ratio', async () => {
    await createCustomer('al-quiet');
    const set = await setRules('al-quiet', [{ name: 'hits', kind: 'HIT_RATIO_BELOW', threshold: 0.9, forSeconds: 0, windowSeconds: 10 }]);
    assert.equal(set.errors, undefined, set.text);
    // A handful of requests, all misses (0 % hits), far below the default 100 in the window.
    for (let i = 0; i < 3; i += 1) {
      await t.stats.publish({ edgeId: 'edge-quiet', at: new Date().toISOString(), intervalMs: 1000, customers: [delta('al-quiet', { requests: 1, results: { MISS: 1 } })] });
      await new Promise((r) => setTimeout(r, 300));
    }
    const deadline = Date.now() + 2500;
    let evaluated = false;
    while (Date.now() < deadline) {
      const [a] = await alerts('al-quiet');
      assert.equal(a!.state, 'OK', JSON.stringify(a));
      assert.equal(a!.value, null);
      evaluated ||= a!.evaluatedAt !== null;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(evaluated, 'the rule was evaluated');
    assert.deepEqual(await history('al-quiet'), []);
    assert.deepEqual(recorded.of('al-quiet'), []);
  });

  test("origin down: fires when a live edge reports one of the customer's origins down, resolves when it comes back", async () => {
    await createCustomer('al-origin');
    const set = await setRules('al-origin', [{ name: 'down', kind: 'ORIGIN_DOWN', forSeconds: 0 }]);
    assert.equal(set.errors, undefined, set.text);
    await playEdge(t, 'edge-o1');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal((await alerts('al-origin'))[0]!.state, 'OK');
    assert.equal((await alerts('al-origin'))[0]!.value, 0);
    const downAt = new Date().toISOString();
    await t.fleet.reportOriginHealth([{ edgeId: 'edge-o1', customerId: 'al-origin', origin: 'primary', state: 'down', reason: 'connection refused', at: downAt }]);
    const firing = await until('al-origin', 'down', 'FIRING');
    assert.equal(firing.value, 1);
    await t.fleet.reportOriginHealth([{ edgeId: 'edge-o1', customerId: 'al-origin', origin: 'primary', state: 'up', reason: 'health check passed', at: new Date(Date.parse(downAt) + 1).toISOString() }]);
    await until('al-origin', 'down', 'OK');
    assert.deepEqual(recorded.of('al-origin').map((e) => e.type), ['alert.fired', 'alert.resolved']);
    await t.fleet.leave('edge-o1');
  });

  test('the subscription tells each transition, and a firing rule disabled by an edit resolves at once (webhook event, history)', async () => {
    await createCustomer('al-sub');
    const set = await setRules('al-sub', [{ name: 'errors', kind: 'ERROR_5XX_SHARE_ABOVE', threshold: 0.1, forSeconds: 1, windowSeconds: 10, minRequests: 5 }]);
    assert.equal(set.errors, undefined, set.text);
    const ws = wsClient(t.api.url);
    const seen: Array<{ from: string; alert: { state: string; rule: { name: string } } }> = [];
    const iterator = ws.iterate<{ alertChanged: (typeof seen)[number] }>({ query: `subscription($c: ID!) { alertChanged(customerId: $c) { customerId from alert { state since value rule { name } } } }`, variables: { c: 'al-sub' } });
    const reading = (async () => {
      for await (const r of iterator) if (r.data) seen.push(r.data.alertChanged);
    })();
    try {
      await new Promise((r) => setTimeout(r, 200));
      traffic.set('al-sub', { requests: 10, results: { MISS: 10 }, serverErrors: 5 });
      await until('al-sub', 'errors', 'FIRING');
      const deadline = Date.now() + 3000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      assert.deepEqual(seen.map((c) => `${c.from}>${c.alert.state}`), ['OK>PENDING', 'PENDING>FIRING']);

      const off = await setRules('al-sub', [{ name: 'errors', kind: 'ERROR_5XX_SHARE_ABOVE', threshold: 0.1, forSeconds: 1, windowSeconds: 10, minRequests: 5, enabled: false }]);
      assert.equal(off.errors, undefined, off.text);
      assert.equal((await alerts('al-sub'))[0]!.state, 'OK');
      while (seen.length < 3 && Date.now() < deadline + 3000) await new Promise((r) => setTimeout(r, 25));
      assert.equal(`${seen[2]?.from}>${seen[2]?.alert.state}`, 'FIRING>OK');
      const [last] = await history('al-sub');
      assert.equal(last!.reason, 'rule disabled');
      assert.deepEqual(recorded.of('al-sub').map((e) => e.type), ['alert.fired', 'alert.resolved']);
      // Disabled: no longer judged, however bad the traffic.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await alerts('al-sub'))[0]!.state, 'OK');
    } finally {
      traffic.set('al-sub', null);
      await iterator.return?.();
      await reading;
      await ws.dispose();
    }
  });
});

describe('two api replicas on one database', () => {
  test('each transition is recorded and emitted once, both replicas report the same state; a starting replica deletes history past 30 days', async () => {
    await createCustomer('al-two');
    const config = loadApiConfig({ CDN_API_PORT: '0', CDN_ADMIN_TOKEN: TOKEN, CDN_SECRET_KEY: SECRET_KEY, DATABASE_URL: t.databaseUrl, ...ENV });
    // History past the 30 days kept: the second replica's sweep at start deletes it.
    await t.dataSource.query(
      `INSERT INTO alert_event (rule_id, customer_id, rule_name, kind, from_state, to_state, reason, at, notified_at)
       VALUES (gen_random_uuid(), 'al-two', 'old', 'ORIGIN_DOWN', 'FIRING', 'OK', 'condition no longer holds', now() - interval '31 days', now())`,
    );
    const second = await startApi(config, { dataSource: t.dataSource, bus: t.bus, fleet: t.fleet, stats: t.stats, revocations: t.revocations, logger: createLogger({ name: 'api-2', level: 'silent' }), alertEvents: recorded });
    try {
      const set = await setRules('al-two', [{ name: 'hits', kind: 'HIT_RATIO_BELOW', threshold: 0.5, forSeconds: 1, windowSeconds: 10, minRequests: 10 }]);
      assert.equal(set.errors, undefined, set.text);
      traffic.set('al-two', { requests: 20, results: { MISS: 20 } });
      await until('al-two', 'hits', 'FIRING');
      traffic.set('al-two', { requests: 400, results: { HIT: 400 } });
      await until('al-two', 'hits', 'OK');
      traffic.set('al-two', null);
      // A few more passes of both replicas: nothing more is recorded or emitted.
      await new Promise((r) => setTimeout(r, 600));
      // Three transitions, once each; the 31-day-old entry is gone.
      assert.deepEqual((await history('al-two')).map((e) => `${e.from}>${e.to}`).reverse(), ['OK>PENDING', 'PENDING>FIRING', 'FIRING>OK']);
      assert.deepEqual(recorded.of('al-two').map((e) => e.type), ['alert.fired', 'alert.resolved']);
      assert.deepEqual((await alerts('al-two', undefined, second)).map((a) => a.state), ['OK']);
    } finally {
      await second.close();
    }
  });
});

describe('history upkeep', () => {
  test('a fired or resolved transition whose hand-over to webhooks never happened (an api died in between) is handed over later, once', async () => {
    await createCustomer('al-lost');
    const at = new Date(Date.now() - 60_000);
    await t.dataSource.query(
      `INSERT INTO alert_event (rule_id, customer_id, rule_name, kind, from_state, to_state, value, threshold, firing_since, reason, at)
       VALUES (gen_random_uuid(), 'al-lost', 'hits', 'HIT_RATIO_BELOW', 'PENDING', 'FIRING', 0.1, 0.5, $1, 'condition held for 60 s', $1)`,
      [at],
    );
    const deadline = Date.now() + 5000;
    while (recorded.of('al-lost').length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    const emitted = recorded.of('al-lost');
    assert.deepEqual(emitted.map((e) => e.type), ['alert.fired']);
    assert.match(emitted[0]!.dedupKey, new RegExp(`^alert\\.fired:[0-9a-f-]{36}:${at.toISOString().replace(/\./g, '\\.')}$`));
    const rows: Array<{ notified: boolean }> = await t.dataSource.query(`SELECT notified_at IS NOT NULL AS notified FROM alert_event WHERE customer_id = 'al-lost'`);
    assert.deepEqual(rows, [{ notified: true }]);
  });
});

describe('access and validation', () => {
  test('a customer admin manages its own rules only; a customer viewer reads them and the alerts but changes nothing', async () => {
    await createCustomer('al-roles');
    await createCustomer('al-other');
    const admin = await tokenFor(t, 'CUSTOMER_ADMIN', 'al-roles');
    const viewer = await tokenFor(t, 'CUSTOMER_VIEWER', 'al-roles');
    const rule = { name: 'down', kind: 'ORIGIN_DOWN' };
    assert.equal((await setRules('al-roles', [rule], admin)).errors, undefined);
    // Another customer is NOT_FOUND to a customer-scoped token, as an unknown one is (ids cannot be probed).
    assert.equal((await setRules('al-other', [rule], admin)).errors?.[0]?.extensions.code, 'NOT_FOUND');
    assert.equal((await setRules('al-roles', [], viewer)).errors?.[0]?.extensions.code, 'FORBIDDEN');
    const read = await t.gql<{ alertRules: Array<{ name: string; forSeconds: number; windowSeconds: number; minRequests: number; enabled: boolean }> }>(
      'query($c: ID!) { alertRules(customerId: $c) { name forSeconds windowSeconds minRequests enabled } }',
      { c: 'al-roles' },
      viewer,
    );
    assert.equal(read.errors, undefined, read.text);
    assert.deepEqual(read.data!.alertRules, [{ name: 'down', forSeconds: 60, windowSeconds: 60, minRequests: 100, enabled: true }]);
    assert.equal((await alerts('al-roles', viewer)).length, 1);
    assert.equal((await t.gql(HISTORY, { c: 'al-roles' }, viewer)).errors, undefined);
    assert.equal((await t.gql(HISTORY, { c: 'al-other' }, viewer)).errors?.[0]?.extensions.code, 'NOT_FOUND');
    const unknown = await t.gql(ALERTS, { c: 'al-nobody' });
    assert.equal(unknown.errors?.[0]?.extensions.code, 'NOT_FOUND');
  });

  test('every problem of a rule list is named by the rule and the field, and nothing changes', async () => {
    await createCustomer('al-bad');
    assert.equal((await setRules('al-bad', [{ name: 'keep', kind: 'ORIGIN_DOWN' }])).errors, undefined);
    const res = await setRules('al-bad', [
      { name: 'Bad Name', kind: 'ORIGIN_DOWN' },
      { name: 'share', kind: 'HIT_RATIO_BELOW', threshold: 1.5 },
      { name: 'nothing', kind: 'BANDWIDTH_ABOVE' },
      { name: 'down', kind: 'ORIGIN_DOWN', threshold: 1 },
      { name: 'window', kind: 'ERROR_5XX_SHARE_ABOVE', threshold: 0.1, windowSeconds: 5, forSeconds: -1 },
      { name: 'share', kind: 'ORIGIN_DOWN' },
    ]);
    const problems = refused(res, 'rules[0] (Bad Name).name', /lower-case letters/);
    const fields = problems.map((p) => p.field);
    assert.deepEqual(fields, [
      'rules[0] (Bad Name).name',
      'rules[1] (share).threshold',
      'rules[2] (nothing).threshold',
      'rules[3] (down).threshold',
      'rules[4] (window).forSeconds',
      'rules[4] (window).windowSeconds',
      'rules[5] (share).name',
    ]);
    assert.match(problems[1]!.message, /share from 0 to 1/);
    assert.match(problems[2]!.message, /required for BANDWIDTH_ABOVE: bytes per second/);
    assert.match(problems[5]!.message, /from 10 to 900/);
    assert.deepEqual((await alerts('al-bad')).map((a) => a.rule.name), ['keep']);
    const page = await t.gql(HISTORY, { c: 'al-bad', after: 'nonsense' });
    refused(page, 'after', /cursor/);
  });
});
