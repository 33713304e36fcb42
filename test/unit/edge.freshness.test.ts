/** The edge's RFC 9111 rules on top of http-cache-semantics, on a settable clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  correctedInitialAge,
  createPolicy,
  ageAt,
  freshAt,
  freshnessLine,
  isFresh,
  isStorable,
  mayServeStaleIfError,
  mayServeStaleWhileRevalidate,
  policyOf,
  type Headers,
} from '../../src/edge/cache/freshness.rules';
import { variantId, varyNames } from '../../src/edge/cache/vary.rules';
import { satisfiableRanges } from '../../src/edge/pipeline/range.rules';
import { evaluatePreconditions } from '../../src/edge/pipeline/conditional.rules';

class Clock {
  t = Date.UTC(2025, 0, 1);
  now(): number {
    return this.t;
  }
}

function policy(headers: Headers, opts: { ttl?: number; status?: number; req?: Headers; clock?: Clock } = {}) {
  const clock = opts.clock ?? new Clock();
  const p = createPolicy({ status: opts.status ?? 200, headers, requestHeaders: opts.req ?? {}, heuristicTtl: opts.ttl ?? 100, requestTime: clock.t, responseTime: clock.t }, clock);
  return { p, clock };
}

test('heuristic cacheTtl only without explicit freshness', () => {
  assert.equal(policy({}).p.maxAge(), 100);
  assert.equal(policy({ 'cache-control': 'max-age=5' }).p.maxAge(), 5);
  assert.equal(policy({ 'cache-control': 'no-cache' }).p.maxAge(), 0);
  assert.equal(policy({}, { status: 404 }).p.maxAge(), 0, 'no negative caching on cacheTtl alone');
  assert.equal(policy({ 'cdn-cache-control': 'max-age=7', 'cache-control': 'no-store' }).p.maxAge(), 7);
});

test('storability: Set-Cookie, Vary *, Authorization, proxy-revalidate', () => {
  const s = (h: Headers, req: Headers = {}) => isStorable(policy(h, { req }).p, 200, h);
  assert.equal(s({ 'cache-control': 'max-age=60' }), true);
  assert.equal(s({ 'cache-control': 'public, max-age=60', 'set-cookie': 'a=1' }), false);
  assert.equal(s({ 'cache-control': 'max-age=60', vary: '*' }), false);
  assert.equal(s({ 'cache-control': 'max-age=60' }, { authorization: 'x' }), false);
  assert.equal(s({ 'cache-control': 's-maxage=60' }, { authorization: 'x' }), true);
  assert.equal(s({ 'cache-control': 'max-age=60' }, { 'cache-control': 'no-store' }), false);
  const pr = policy({ 'cache-control': 'max-age=60, proxy-revalidate, stale-if-error=60' }).p;
  assert.equal(isFresh(pr), true, 'proxy-revalidate does not make it stale at once');
  assert.equal(mayServeStaleIfError(pr), false);
});

test('age, stale windows and a round trip through ObjectMeta.policy', () => {
  const { p, clock } = policy({ 'cache-control': 'max-age=10, stale-while-revalidate=20, stale-if-error=5', age: '3' });
  const meta = { key: 'k', status: 200, headers: {}, storedAt: 0, ttl: 0, size: 0, policy: p.toObject() as unknown as Record<string, unknown> };
  const line = freshnessLine(meta, clock)!;
  assert.equal(ageAt(line, clock.t), 3);
  assert.equal(freshAt(line, clock.t + 6_999), true);
  clock.t += 8_000;
  assert.equal(isFresh(p), false);
  assert.equal(freshAt(line, clock.t), false, 'the freshness line and the policy agree');
  assert.equal(mayServeStaleWhileRevalidate(p), true);
  assert.equal(mayServeStaleIfError(p), true);
  clock.t += 5_000; // age 16
  assert.equal(mayServeStaleIfError(p), false);
  const revived = policyOf(meta, clock)!;
  assert.equal(Math.floor(revived.age()), 16);
  assert.equal(ageAt(line, clock.t), 16);
  assert.equal(correctedInitialAge({ date: new Date(Date.UTC(2025, 0, 1) - 30_000).toUTCString() }, Date.UTC(2025, 0, 1), Date.UTC(2025, 0, 1)), 30);
});

test('vary ids, ranges and preconditions', () => {
  assert.deepEqual(varyNames({ vary: 'Accept-Encoding, Accept-Language,accept-language' }), ['accept-language']);
  assert.equal(variantId(['accept-language'], { 'accept-language': 'en,  fr' }), variantId(['accept-language'], { 'accept-language': 'en , fr' }));
  assert.notEqual(variantId(['x'], {}), variantId(['x'], { x: '' }));
  assert.deepEqual(satisfiableRanges('bytes=5-9, 0-2, 1-3', 20), [[0, 3], [5, 9]]);
  assert.deepEqual(satisfiableRanges('bytes=30-', 20), []);
  assert.equal(satisfiableRanges('items=0-1', 20), undefined);
  assert.equal(satisfiableRanges('bytes=5-1', 20), undefined);
  assert.equal(evaluatePreconditions({ 'if-none-match': '*' }, { etag: '"a"' }), 304);
  assert.equal(evaluatePreconditions({ 'if-match': 'W/"a"' }, { etag: 'W/"a"' }), 412, 'If-Match compares strongly');
});

test("stale-if-error: the customer's window widens the origin's, never where stale is forbidden", () => {
  const stale = (headers: Headers, customer: number | null | undefined, ageSeconds: number): boolean => {
    const { p, clock } = policy(headers);
    clock.t += ageSeconds * 1000;
    return mayServeStaleIfError(p, customer);
  };
  assert.equal(stale({ 'cache-control': 'max-age=10' }, undefined, 20), false, 'off by default');
  assert.equal(stale({ 'cache-control': 'max-age=10' }, null, 20), false);
  assert.equal(stale({ 'cache-control': 'max-age=10' }, 0, 20), false);
  assert.equal(stale({ 'cache-control': 'max-age=10' }, 60, 20), true);
  assert.equal(stale({ 'cache-control': 'max-age=10' }, 60, 71), false, 'not beyond max-age + window');
  assert.equal(stale({ 'cache-control': 'max-age=10, stale-if-error=5' }, 60, 40), true, 'max of both');
  assert.equal(stale({ 'cache-control': 'max-age=10, stale-if-error=120' }, 60, 100), true, 'the origin may allow more');
  assert.equal(stale({}, 60, 150), true, 'heuristic freshness (cacheTtl 100) counts too');
  for (const cc of ['max-age=10, must-revalidate', 'max-age=10, proxy-revalidate', 'no-cache', 's-maxage=10', 's-maxage=10, must-revalidate']) {
    assert.equal(stale({ 'cache-control': cc, etag: '"a"' }, 3600, 20), false, cc);
  }
});
