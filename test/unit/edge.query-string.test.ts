/**
 * Property tests of the customer's query-string policy applied to the cache key, as the edge
 * applies it (the implicit `default` rule's query policy through applyQueryPolicy): random queries (repeated names, encoded names, empty segments, characters a
 * client could use to forge a key) from a seeded PRNG, so a failure names its seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QueryStringPolicy } from '../../src/core/customer.types';
import { applyQueryPolicy, defaultRule } from '../../src/core/delivery-rules.compile';
import { cacheKey, customerOfKey } from '../../src/edge/cache/cache-key';
import { rng } from '../support/random';

const RUNS = 3000;

/** The query as the edge keys it for a customer with this policy and no rules of its own. */
function normalizeQuery(query: string, policy: QueryStringPolicy | undefined): string {
  const rule = defaultRule({ cacheTtl: 0, staleIfErrorSeconds: null, ...(policy === undefined ? {} : { queryString: policy }) });
  return applyQueryPolicy(query, rule.actions.cacheKey!.query!);
}


function pick<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)]!;
}

// Few names, so repeats are common; encoded forms decode to plain ones ("%61" is "a").
const NAMES = ['a', 'b', 'c', 'id', 'v', 'lang', 'a b', 'é', '%61', 'a+b', 'a%20b', '%C3%A9', '%zz', 'utm_source', '\n', 'customer-a'];
const VALUES = ['', '1', '2', 'x', '%0a', '\n', '?', '/', '=', 'é', 'a=b'];

interface Param {
  raw: string;
  /** The name as the edge compares it: `+` is a space, percent-decoded when valid. */
  name: string;
}

/** The name oracle, written independently of cache-key.ts. */
function decodedName(raw: string): string {
  const name = raw.split('=')[0]!.split('+').join(' ');
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

function randomParams(r: () => number): Param[] {
  const n = Math.floor(r() * 8);
  return Array.from({ length: n }, () => {
    const name = pick(r, NAMES);
    const raw = r() < 0.15 ? name : `${name}=${pick(r, VALUES)}`;
    return { raw, name: decodedName(raw) };
  });
}

/** Joins params, sometimes with empty segments (`a=1&&b=2&`) that carry nothing. */
function join(r: () => number, params: readonly Param[]): string {
  return params.map((p) => (r() < 0.1 ? `${p.raw}&` : p.raw)).join('&');
}

/** A random permutation that keeps the relative order of params with the same name. */
function shuffleKeepingRepeats(r: () => number, params: readonly Param[]): Param[] {
  const queues = new Map<string, Param[]>();
  for (const p of params) queues.set(p.name, [...(queues.get(p.name) ?? []), p]);
  const slots = params.map((p) => p.name);
  for (let i = slots.length - 1; i > 0; i -= 1) {
    const j = Math.floor(r() * (i + 1));
    [slots[i], slots[j]] = [slots[j]!, slots[i]!];
  }
  return slots.map((name) => queues.get(name)!.shift()!);
}

function randomAllow(r: () => number): string[] {
  const names = ['a', 'b', 'id', 'v', 'a b', 'é', 'missing'];
  return names.filter(() => r() < 0.4);
}

function randomPolicy(r: () => number): QueryStringPolicy | undefined {
  const x = r();
  if (x < 0.2) return undefined;
  if (x < 0.45) return { mode: 'keep', allow: [] };
  if (x < 0.7) return { mode: 'ignore', allow: [] };
  return { mode: 'allowlist', allow: randomAllow(r) };
}

function split(query: string): string[] {
  return query === '' ? [] : query.split('&');
}

function property(name: string, check: (r: () => number, seed: number) => void): void {
  test(name, () => {
    const seed = Date.now() % 1_000_000;
    const r = rng(seed);
    for (let i = 0; i < RUNS; i += 1) check(r, seed);
  });
}

const KEEP: QueryStringPolicy = { mode: 'keep', allow: [] };

property('keep: the order of parameters with different names does not change the key', (r, seed) => {
  const params = randomParams(r);
  const a = normalizeQuery(join(r, params), KEEP);
  const b = normalizeQuery(join(r, shuffleKeepingRepeats(r, params)), KEEP);
  assert.equal(a, b, `seed ${seed}: ${JSON.stringify(params.map((p) => p.raw))}`);
  assert.equal(normalizeQuery(join(r, params), undefined), a, `seed ${seed}: no policy is keep`);
});

property('keep: every non-empty parameter stays, nothing is added', (r, seed) => {
  const params = randomParams(r);
  const out = split(normalizeQuery(join(r, params), KEEP));
  assert.deepEqual([...out].sort(), params.map((p) => p.raw).sort(), `seed ${seed}`);
});

property('repeated names keep their relative order, in every mode that keeps them', (r, seed) => {
  const params = randomParams(r);
  const policy: QueryStringPolicy = r() < 0.5 ? KEEP : { mode: 'allowlist', allow: randomAllow(r) };
  const out = split(normalizeQuery(join(r, params), policy)).map((raw) => ({ raw, name: decodedName(raw) }));
  for (const name of new Set(out.map((p) => p.name))) {
    const sent = params.filter((p) => p.name === name).map((p) => p.raw);
    const kept = out.filter((p) => p.name === name).map((p) => p.raw);
    assert.deepEqual(kept, sent, `seed ${seed}: ${name} in ${JSON.stringify(params.map((p) => p.raw))}`);
  }
});

property('keep: a different order of repeated values is a different key', (r, seed) => {
  const name = pick(r, ['a', 'id', 'v']);
  const [x, y] = [pick(r, VALUES), pick(r, VALUES)];
  if (x === y) return;
  const other = randomParams(r).filter((p) => p.name !== name);
  const first = [...other, { raw: `${name}=${x}`, name }, { raw: `${name}=${y}`, name }];
  const second = [...other, { raw: `${name}=${y}`, name }, { raw: `${name}=${x}`, name }];
  assert.notEqual(normalizeQuery(join(r, first), KEEP), normalizeQuery(join(r, second), KEEP), `seed ${seed}`);
});

property('ignore: always the empty query', (r, seed) => {
  const query = join(r, randomParams(r));
  assert.equal(normalizeQuery(query, { mode: 'ignore', allow: [] }), '', `seed ${seed}: ${query}`);
  assert.equal(normalizeQuery(query, { mode: 'ignore', allow: ['a'] }), '', `seed ${seed}: allow is irrelevant`);
});

property('allowlist: never a parameter outside the list; every listed one kept', (r, seed) => {
  const params = randomParams(r);
  const allow = randomAllow(r);
  const out = split(normalizeQuery(join(r, params), { mode: 'allowlist', allow }));
  for (const raw of out) assert.ok(allow.includes(decodedName(raw)), `seed ${seed}: ${raw} not in ${JSON.stringify(allow)}`);
  const expected = params.filter((p) => allow.includes(p.name)).map((p) => p.raw);
  assert.deepEqual([...out].sort(), expected.sort(), `seed ${seed}: ${JSON.stringify(params.map((p) => p.raw))}`);
});

property('allowlist: dropped parameters and their order do not change the key', (r, seed) => {
  const allow = randomAllow(r);
  const params = randomParams(r);
  const noise = randomParams(r).filter((p) => !allow.includes(p.name));
  const policy: QueryStringPolicy = { mode: 'allowlist', allow };
  const withNoise = shuffleKeepingRepeats(r, [...params, ...noise]);
  assert.equal(normalizeQuery(join(r, withNoise), policy), normalizeQuery(join(r, params), policy), `seed ${seed}`);
});

property('normalizing twice changes nothing', (r, seed) => {
  const policy = randomPolicy(r);
  const once = normalizeQuery(join(r, randomParams(r)), policy);
  assert.equal(normalizeQuery(once, policy), once, `seed ${seed}`);
});

property('keys of different customers never collide, whatever the queries and policies', (r, seed) => {
  const ids = ['a', 'b', 'customer-a', 'customer-a-b', 'customer', '0', 'a-'];
  const idA = pick(r, ids);
  let idB = pick(r, ids);
  if (idB === idA) idB = `${idA}-2`;
  const path = pick(r, ['/', '/x', '/a?b', '/customer-a\n/x', '/%0a']);
  const queryA = join(r, randomParams(r));
  const queryB = r() < 0.5 ? queryA : join(r, randomParams(r));
  const a = cacheKey(idA, path, normalizeQuery(queryA, randomPolicy(r)));
  const b = cacheKey(idB, r() < 0.5 ? path : `/${idA}`, normalizeQuery(queryB, randomPolicy(r)));
  assert.notEqual(a, b, `seed ${seed}: ${JSON.stringify([idA, idB, path, queryA, queryB])}`);
  assert.equal(customerOfKey(a), idA, `seed ${seed}`);
  assert.equal(customerOfKey(b), idB, `seed ${seed}`);
});

test('examples', () => {
  assert.equal(normalizeQuery('b=2&a=1', KEEP), 'a=1&b=2');
  assert.equal(normalizeQuery('a=2&b=1&a=1', KEEP), 'a=2&a=1&b=1');
  assert.equal(normalizeQuery('a=1&&b=2&', KEEP), 'a=1&b=2');
  assert.equal(normalizeQuery('utm_source=x&v=3&id=7', { mode: 'allowlist', allow: ['v', 'id'] }), 'id=7&v=3');
  assert.equal(normalizeQuery('%76=3&v=4', { mode: 'allowlist', allow: ['v'] }), '%76=3&v=4');
  assert.equal(normalizeQuery('x=1', { mode: 'allowlist', allow: ['v'] }), '');
  assert.equal(normalizeQuery('', { mode: 'allowlist', allow: ['v'] }), '');
  assert.equal(normalizeQuery('v=1', { mode: 'ignore', allow: [] }), '');
});
