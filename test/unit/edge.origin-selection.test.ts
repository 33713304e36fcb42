/**
 * The parts of origin selection that are pure logic: which origin may take a request (health,
 * priority, trials of half-open origins), the retry budget's sliding window, and the
 * per-customer slots with their FIFO queue. The same parts through real sockets:
 * test/integration/edge.origins.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CustomerConfig } from '../../src/core/customer.types';
import type { OriginConfig } from '../../src/core/origin.types';
import { SecretBox } from '../../src/core/secret-box';
import { CustomerSlots, type SlotGrant } from '../../src/edge/origin/customer-slots';
import { OriginHealth } from '../../src/edge/origin/origin-health';
import { OriginSelector } from '../../src/edge/origin/origin-selector';
import { OriginTargets } from '../../src/edge/origin/origin-target';
import { RetryBudgets } from '../../src/edge/origin/retry-budget';
import { createLogger } from '../../src/obs/logger.factory';

const CHECK = { path: '/health', intervalSeconds: 3600, timeoutMs: 1000, expectedStatusMin: 200, expectedStatusMax: 399, healthyThreshold: 2, unhealthyThreshold: 2 };

function origin(name: string, extra: Partial<OriginConfig> = {}): OriginConfig {
  return { name, url: `http://${name}.origin.test`, basicAuth: null, priority: 1, weight: 1, hostHeader: null, tlsServerName: null, healthCheck: null, ...extra };
}

function customerWith(origins: OriginConfig[]): CustomerConfig {
  return Object.freeze({ id: 'c', name: 'c', originUrl: origins[0]!.url, domains: ['c.test'], cacheTtl: 60, basicAuth: null, origins, version: 1, updatedAt: '2026-01-01T00:00:00.000Z' });
}

function setup(list: OriginConfig[], now = { ms: 1_000_000 }) {
  const pools = { request: () => Promise.reject(new Error('no checks in this test')) };
  const health = new OriginHealth({ pools, logger: createLogger({ name: 't', level: 'silent' }), unhealthyThreshold: 1, cooldownMs: 1000, cdnId: 't', userAgent: 't', now: () => now.ms, random: () => 0.999 });
  const selector = new OriginSelector({
    health,
    slots: new CustomerSlots(),
    budgets: new RetryBudgets(),
    defaults: { maxConnections: 2, queueTimeoutMs: 100, retryBudgetPercent: 10, staleIfDownSeconds: 60, minRetries: 0 },
    random: () => 0,
  });
  const origins = new OriginTargets(new SecretBox('unit-test-secret-key-of-32-chars!!')).of(customerWith(list));
  const breakers = health.sync(origins);
  const fail = (name: string): void => health.requestFailed('c', breakers.get(name)!, 'refused', false);
  return { health, selector, origins, breakers, fail, now };
}

test('the lowest priority that is up; a down origin is skipped until its cool-down, then one trial', () => {
  const s = setup([origin('a'), origin('b', { priority: 2 })]);
  assert.equal(s.selector.pick(s.origins, new Set(), true)?.target.name, 'a');
  s.fail('a');
  assert.equal(s.breakers.get('a')!.state, 'down');
  assert.equal(s.selector.pick(s.origins, new Set(), true)?.target.name, 'b');
  s.now.ms += 1000;
  const trial = s.selector.pick(s.origins, new Set(), true);
  assert.deepEqual([trial?.target.name, trial?.trial], ['a', true]);
  assert.equal(s.selector.pick(s.origins, new Set(), true)?.target.name, 'b', 'one trial at a time');
  s.health.requestPassed('c', trial!.breaker, true);
  assert.equal(s.breakers.get('a')!.state, 'up');
});

test('a request that cannot be retried never is the trial while another origin is up; with every origin down it may be', () => {
  const s = setup([origin('a'), origin('b', { priority: 2 })]);
  s.fail('a');
  s.now.ms += 1000;
  assert.equal(s.selector.pick(s.origins, new Set(), false)?.target.name, 'b');
  s.fail('b');
  assert.equal(s.selector.allDown(s.origins), true);
  s.now.ms += 1000;
  const pick = s.selector.pick(s.origins, new Set(), false);
  assert.deepEqual([pick?.target.name, pick?.trial], ['a', true]);
});

test('an actively checked origin gets trials only when every origin is down', () => {
  const s = setup([origin('a', { healthCheck: CHECK }), origin('b', { priority: 2 })]);
  s.health.requestFailed('c', s.breakers.get('a')!, '503', false);
  s.fail('a');
  s.now.ms += 1000;
  assert.equal(s.selector.pick(s.origins, new Set(), true)?.target.name, 'b', 'its checks bring it back');
  s.fail('b');
  s.now.ms += 1000;
  assert.equal(s.selector.pick(s.origins, new Set(), true)?.target.name, 'a');
});

test('nothing may be asked during the cool-down of every origin; Retry-After says when the first may', () => {
  const s = setup([origin('a'), origin('b')]);
  s.fail('a');
  s.now.ms += 400;
  s.fail('b');
  assert.equal(s.selector.pick(s.origins, new Set(), true), undefined);
  assert.equal(s.selector.retryAfterSeconds(s.origins), 1);
  assert.equal(s.selector.hasCandidate(s.origins, new Set(), true), false);
});

test('a retry goes to an untried origin of the same priority first, then the next priority', () => {
  const s = setup([origin('a'), origin('b'), origin('c', { priority: 2 })]);
  assert.equal(s.selector.pick(s.origins, new Set(['a']), true)?.target.name, 'b');
  assert.equal(s.selector.pick(s.origins, new Set(['a', 'b']), true)?.target.name, 'c');
  assert.equal(s.selector.pick(s.origins, new Set(['a', 'b', 'c']), true), undefined);
});

test('a request of an older customer version gets the same breakers for unchanged origins, detached ones otherwise', () => {
  const s = setup([origin('a'), origin('b')]);
  s.fail('a');
  const targets = new OriginTargets(new SecretBox('unit-test-secret-key-of-32-chars!!'));
  const older = targets.of(customerWith([origin('a'), origin('b', { url: 'http://elsewhere.test' })]));
  const view = s.health.breakers(older);
  assert.equal(view.get('a'), s.breakers.get('a'));
  assert.notEqual(view.get('b'), s.breakers.get('b'));
  assert.equal(s.health.report('c')!.length, 2);
});

test('retry budget: at most the share of requests in the last 10 s (plus the floor), 0 % never', () => {
  let now = 0;
  const budgets = new RetryBudgets(() => now);
  for (let i = 0; i < 20; i += 1) budgets.requested('c');
  assert.equal(budgets.tryRetry('c', 10, 0), true);
  assert.equal(budgets.tryRetry('c', 10, 0), true);
  assert.equal(budgets.tryRetry('c', 10, 0), false, '2 of 20 at 10 %');
  assert.equal(budgets.tryRetry('c', 10, 1), true, 'the floor adds one');
  assert.equal(budgets.tryRetry('c', 0, 5), false, '0 % turns the floor off too');
  now = 10_500;
  assert.equal(budgets.tryRetry('c', 10, 0), false, 'the requests slid out of the window');
  budgets.requested('c');
  assert.equal(budgets.tryRetry('c', 100, 0), true);
  assert.equal(budgets.tryRetry('other', 10, 0), false, 'budgets are per customer');
});

test('slots: a free one at once, then FIFO; the queue times out, an abort leaves it, a release hands over', async () => {
  const slots = new CustomerSlots();
  const signal = new AbortController().signal;
  const first = slots.acquire('c', 1, 1000, signal) as SlotGrant;
  assert.equal(first.waitedMs, 0);
  const order: string[] = [];
  const second = Promise.resolve(slots.acquire('c', 1, 1000, signal)).then((g) => (order.push('second'), g));
  const leaving = new AbortController();
  const aborted = Promise.resolve(slots.acquire('c', 1, 1000, leaving.signal));
  const third = Promise.resolve(slots.acquire('c', 1, 1000, signal)).then((g) => (order.push('third'), g));
  assert.deepEqual(slots.usage('c'), { inUse: 1, waiting: 3 });
  leaving.abort();
  assert.equal(await aborted, 'aborted');
  first.release();
  first.release();
  const g2 = (await second) as SlotGrant;
  assert.ok(g2.waitedMs >= 0);
  assert.deepEqual(slots.usage('c'), { inUse: 1, waiting: 1 }, 'a second release of one grant gives nothing back');
  g2.release();
  ((await third) as SlotGrant).release();
  assert.deepEqual(order, ['second', 'third']);
  assert.deepEqual(slots.usage('c'), { inUse: 0, waiting: 0 });
  const held = slots.acquire('c', 1, 50, signal) as SlotGrant;
  assert.equal(await slots.acquire('c', 1, 50, signal), 'timeout');
  assert.equal(slots.acquire('c', 1, 0, signal), 'timeout', 'no queue with a zero timeout');
  held.release();
});
