/**
 * Property test: keys of different customers never collide, whatever the path and
 * query (including characters a client could use to forge a prefix), and a key always
 * starts with its customer id.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cacheKey, customerOfKey, splitTarget } from '../../src/edge/cache/cache-key';
import { rng } from '../support/random';


const SLUG_FIRST = 'abcdefghijklmnopqrstuvwxyz0123456789';
const SLUG_REST = `${SLUG_FIRST}-`;
const NASTY = ['\n', '?', '/', '%0a', 'customer-a', '\r', '\u0000', '..', '#', '&', '=', ' ', 'é', '\n/'];

function pick<T>(r: () => number, items: readonly T[] | string): T {
  return items[Math.floor(r() * items.length)] as T;
}

function randomId(r: () => number): string {
  let id = pick<string>(r, SLUG_FIRST);
  const len = Math.floor(r() * 12);
  for (let i = 0; i < len; i += 1) id += pick<string>(r, SLUG_REST);
  return id;
}

function randomText(r: () => number): string {
  let s = '';
  const parts = Math.floor(r() * 6);
  for (let i = 0; i < parts; i += 1) s += r() < 0.4 ? pick(r, NASTY) : randomId(r);
  return s;
}

test('keys of different customers never collide (10,000 random pairs)', () => {
  const seed = Date.now() % 1_000_000;
  const r = rng(seed);
  for (let i = 0; i < 10_000; i += 1) {
    const idA = randomId(r);
    let idB = randomId(r);
    if (idB === idA) idB = `${idA}-b`;
    // The second customer gets the hardest case half the time: the same path and query.
    const pathA = `/${randomText(r)}`;
    const queryA = randomText(r);
    const pathB = r() < 0.5 ? pathA : `/${randomText(r)}`;
    const queryB = r() < 0.5 ? queryA : randomText(r);
    const a = cacheKey(idA, pathA, queryA);
    const b = cacheKey(idB, pathB, queryB);
    assert.notEqual(a, b, `seed ${seed}: ${JSON.stringify([idA, pathA, queryA, idB, pathB, queryB])}`);
    assert.equal(customerOfKey(a), idA, `seed ${seed}`);
    assert.ok(a.startsWith(`${idA}\n`));
  }
});

test('within one customer, the key distinguishes path and query as sent', () => {
  assert.notEqual(cacheKey('c', '/a', 'x=1'), cacheKey('c', '/a', 'x=2'));
  assert.notEqual(cacheKey('c', '/a', 'x=1&y=2'), cacheKey('c', '/a', 'y=2&x=1'));
  assert.notEqual(cacheKey('c', '/a', ''), cacheKey('c', '/b', ''));
  assert.equal(cacheKey('c', '/a', 'q'), 'c\n/a?q');
});

test('splitTarget splits at the first "?" only', () => {
  assert.deepEqual(splitTarget('/a/b'), { path: '/a/b', query: '' });
  assert.deepEqual(splitTarget('/a?b?c=1'), { path: '/a', query: 'b?c=1' });
  assert.deepEqual(splitTarget('/?'), { path: '/', query: '' });
});
