/**
 * The per-client rate budgets of one process (edge/access/client-rates.ts): GCRA with a burst,
 * exact Retry-After, independent keys, the key bound; and the primary's answering of workers
 * (edge/cluster/rate-coordinator.ts) with stand-in workers. Across real processes:
 * test/integration/edge.client-rates.cluster.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:cluster';
import { LocalClientRates, type RateVerdict } from '../../src/edge/access/client-rates';
import { RateCoordinator } from '../../src/edge/cluster/rate-coordinator';

function clock(start = 1_700_000_000_000): { now: () => number; at(ms: number): void } {
  let t = start;
  return { now: () => t, at: (ms) => (t = start + ms) };
}

/** Each step: at `t` ms (from the start), a take of `key` (default 'k') gets `expect` (allowed, or the Retry-After in ms). */
type Step = { t: number; key?: string; expect: 'allowed' | number };

const CASES: Array<{ name: string; perSecond: number; burst: number; steps: Step[] }> = [
  {
    name: 'a burst at once, then one per interval (10/s, burst 5)',
    perSecond: 10,
    burst: 5,
    steps: [
      ...Array.from({ length: 5 }, () => ({ t: 0, expect: 'allowed' as const })),
      { t: 0, expect: 100 },
      { t: 0, expect: 100 }, // refused takes spend nothing
      { t: 50, expect: 50 },
      { t: 99, expect: 1 },
      { t: 100, expect: 'allowed' },
      { t: 100, expect: 100 },
      { t: 250, expect: 'allowed' }, // 1.5 intervals drained: one allowed, half an interval left
      { t: 250, expect: 50 },
      { t: 300, expect: 'allowed' },
      { t: 300, expect: 100 },
    ],
  },
  {
    name: 'a long pause refills the burst, never more (10/s, burst 3)',
    perSecond: 10,
    burst: 3,
    steps: [
      ...Array.from({ length: 3 }, () => ({ t: 0, expect: 'allowed' as const })),
      { t: 0, expect: 100 },
      ...Array.from({ length: 3 }, () => ({ t: 60_000, expect: 'allowed' as const })),
      { t: 60_000, expect: 100 },
    ],
  },
  {
    name: 'a fractional interval (3/s: 333.3 ms), Retry-After rounded up to a whole ms',
    perSecond: 3,
    burst: 2,
    steps: [
      { t: 0, expect: 'allowed' },
      { t: 0, expect: 'allowed' },
      { t: 0, expect: 334 },
      { t: 100, expect: 234 },
      { t: 333, expect: 1 },
      { t: 334, expect: 'allowed' },
      { t: 334, expect: 333 }, // the next is due at 666.7
      { t: 666, expect: 1 },
      { t: 667, expect: 'allowed' },
      { t: 1000, expect: 'allowed' }, // on schedule: 1000 ms is exactly three intervals
      { t: 1000, expect: 334 },
    ],
  },
  {
    name: 'requests off the interval grid leave fractional levels, still decided exactly (10/s, burst 2)',
    perSecond: 10,
    burst: 2,
    steps: [
      { t: 0, expect: 'allowed' },
      { t: 70, expect: 'allowed' }, // 1.3 requests held
      { t: 140, expect: 'allowed' }, // 1.6
      { t: 140, expect: 60 },
      { t: 199, expect: 1 },
      { t: 200, expect: 'allowed' }, // exactly on time: 1.0 + 1 fills the burst
      { t: 200, expect: 100 },
    ],
  },
  {
    name: 'no burst beyond one (1/s, burst 1)',
    perSecond: 1,
    burst: 1,
    steps: [
      { t: 0, expect: 'allowed' },
      { t: 0, expect: 1000 },
      { t: 999, expect: 1 },
      { t: 1000, expect: 'allowed' },
      { t: 3000, expect: 'allowed' }, // the pause saved nothing beyond the burst
      { t: 3000, expect: 1000 },
    ],
  },
  {
    name: 'a slow rate (one per 2 s, burst 2)',
    perSecond: 0.5,
    burst: 2,
    steps: [
      { t: 0, expect: 'allowed' },
      { t: 0, expect: 'allowed' },
      { t: 0, expect: 2000 },
      { t: 1500, expect: 500 },
      { t: 2000, expect: 'allowed' },
    ],
  },
  {
    name: 'keys are independent',
    perSecond: 1,
    burst: 2,
    steps: [
      { t: 0, key: 'a', expect: 'allowed' },
      { t: 0, key: 'a', expect: 'allowed' },
      { t: 0, key: 'a', expect: 1000 },
      { t: 0, key: 'b', expect: 'allowed' },
      { t: 0, key: 'b', expect: 'allowed' },
      { t: 0, key: 'b', expect: 1000 },
      { t: 500, key: 'a', expect: 500 },
      { t: 500, key: 'c', expect: 'allowed' },
    ],
  },
];

for (const c of CASES) {
  test(`GCRA: ${c.name}`, () => {
    const time = clock();
    const rates = new LocalClientRates({ now: time.now });
    const limit = { perSecond: c.perSecond, burst: c.burst };
    c.steps.forEach((step, i) => {
      time.at(step.t);
      const verdict = rates.take(step.key ?? 'k', limit);
      const expected: RateVerdict = step.expect === 'allowed' ? { allowed: true, retryAfterMs: 0 } : { allowed: false, retryAfterMs: step.expect };
      assert.deepEqual(verdict, expected, `step ${i} (t=${step.t} ms, key ${step.key ?? 'k'})`);
    });
  });
}

for (const perSecond of [3, 7, 11, 13, 0.7]) {
  test(`a large burst is granted whole at epoch-sized timestamps, then exactly the rate (${perSecond}/s)`, () => {
    const time = clock(1_799_999_999_999);
    const rates = new LocalClientRates({ now: time.now });
    const limit = { perSecond, burst: 1_000 };
    let allowed = 0;
    for (let i = 0; i < 1_001; i += 1) if (rates.take('k', limit).allowed) allowed += 1;
    assert.equal(allowed, 1_000, 'the whole burst, and not one more');
    // Then at exactly the rate for a while (each request on the first whole ms it is due): every one is allowed, a second at the same instant never.
    for (let n = 1; n <= 100; n += 1) {
      time.at(Math.ceil((n * 1000) / perSecond));
      assert.equal(rates.take('k', limit).allowed, true, `request ${n} after the burst, on time`);
      assert.equal(rates.take('k', limit).allowed, false, `a second request at the time of request ${n}`);
    }
  });
}

test('the allowed answer is synchronous (no promise on the hot path)', () => {
  const verdict = new LocalClientRates().take('k', { perSecond: 1, burst: 1 });
  assert.equal(verdict instanceof Promise, false);
  assert.equal(verdict.allowed, true);
});

test('at most maxKeys keys are kept; the least recently used is dropped, which forgives only that client', () => {
  const time = clock();
  const rates = new LocalClientRates({ now: time.now, maxKeys: 3 });
  const limit = { perSecond: 1, burst: 1 };
  for (const key of ['a', 'b', 'c']) assert.equal(rates.take(key, limit).allowed, true);
  assert.equal(rates.size, 3);
  assert.equal(rates.take('a', limit).allowed, false, 'a is spent (and now the most recently used)');
  assert.equal(rates.take('d', limit).allowed, true);
  assert.equal(rates.size, 3, 'bounded');
  assert.equal(rates.take('b', limit).allowed, true, 'b, least recently used, was dropped: forgiven');
  assert.equal(rates.take('a', limit).allowed, false, 'a is still remembered');
  assert.equal(rates.take('d', limit).allowed, false, 'd is still remembered');
});

test('the default bound is 100,000 keys', () => {
  const rates = new LocalClientRates({ now: () => 0 });
  const limit = { perSecond: 1, burst: 1 };
  for (let i = 0; i < 100_050; i += 1) rates.take(`client-${i}`, limit);
  assert.equal(rates.size, 100_000);
});

test('a clock stepping back drains nothing and breaks nothing', () => {
  const time = clock();
  const rates = new LocalClientRates({ now: time.now });
  const limit = { perSecond: 10, burst: 1 };
  time.at(1000);
  assert.equal(rates.take('k', limit).allowed, true);
  time.at(500);
  assert.deepEqual(rates.take('k', limit), { allowed: false, retryAfterMs: 100 });
  time.at(1100);
  assert.equal(rates.take('k', limit).allowed, true);
});

test('a limit no request could live with is refused with what to fix', () => {
  const rates = new LocalClientRates();
  for (const limit of [
    { perSecond: 0, burst: 1 },
    { perSecond: -1, burst: 1 },
    { perSecond: Number.NaN, burst: 1 },
    { perSecond: Number.POSITIVE_INFINITY, burst: 1 },
    { perSecond: 1, burst: 0 },
  ]) {
    assert.throws(() => rates.take('k', limit), /perSecond > 0 and burst >= 1/);
  }
  assert.throws(() => new LocalClientRates({ maxKeys: 0 }), /maxKeys must be a positive integer/);
});

function worker(): Worker & { sent: unknown[] } {
  const sent: unknown[] = [];
  return { sent, isConnected: () => true, send: (m: unknown) => sent.push(m) } as unknown as Worker & { sent: unknown[] };
}

test('the primary answers every worker from one budget per key', () => {
  const rates = new RateCoordinator(new LocalClientRates({ now: () => 0 }));
  const [a, b] = [worker(), worker()];
  const take = (id: number) => ({ type: 'cdn-edge:rate-take', id, key: 'customer-a|r|192.0.2.1', perSecond: 1, burst: 2 });
  assert.equal(rates.onMessage(a, take(1)), true);
  assert.equal(rates.onMessage(b, take(1)), true);
  assert.equal(rates.onMessage(a, take(2)), true);
  assert.deepEqual(a.sent, [
    { type: 'cdn-edge:rate-verdict', id: 1, allowed: true, retryAfterMs: 0 },
    { type: 'cdn-edge:rate-verdict', id: 2, allowed: false, retryAfterMs: 1000 },
  ]);
  assert.deepEqual(b.sent, [{ type: 'cdn-edge:rate-verdict', id: 1, allowed: true, retryAfterMs: 0 }]);
});

test('the primary leaves other messages, and takes it cannot read, alone', () => {
  const rates = new RateCoordinator();
  const w = worker();
  assert.equal(rates.onMessage(w, { type: 'cdn-edge:fill-acquire', id: 1, key: 'k' }), false);
  assert.equal(rates.onMessage(w, { type: 'cdn-edge:rate-take', id: 1, key: 'k', perSecond: 0, burst: 1 }), false);
  assert.equal(rates.onMessage(w, { type: 'cdn-edge:rate-take', id: 1, key: 'k', perSecond: 1 }), false);
  assert.deepEqual(w.sent, []);
});
