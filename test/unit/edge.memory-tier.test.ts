/**
 * The memory tier alone: bounded by bytes, least recently used out first, small objects only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cacheKey } from '../../src/edge/cache/cache-key';
import { MemoryTier } from '../../src/edge/cache/memory.tier';
import { body, meta, readAll } from '../support/cache-store.fixtures';

const K = (p: string): string => cacheKey('customer-a', p, '');

test('holds at most maxBytes: the least recently used object goes first and is counted', async () => {
  // Each entry costs its body plus ~300 bytes of metadata estimate.
  const memory = new MemoryTier({ maxBytes: 4000, maxObjectBytes: 2000 });
  await memory.put(K('/1'), meta(), body(['1'.repeat(1000)]));
  await memory.put(K('/2'), meta(), body(['2'.repeat(1000)]));
  await memory.put(K('/3'), meta(), body(['3'.repeat(1000)]));
  assert.ok(memory.hit(K('/1'))); // /2 is now the least recently used
  await memory.put(K('/4'), meta(), body(['4'.repeat(1000)]));
  assert.equal(memory.hit(K('/2')), undefined);
  for (const p of ['/1', '/3', '/4']) assert.equal(await readAll(memory.hit(K(p))!), p.slice(1).repeat(1000));
  assert.equal(memory.evictions(), 1);
  assert.ok(memory.summary().bytes <= 4000);
});

test('an object above maxObjectBytes never enters, and replaces nothing', async () => {
  const memory = new MemoryTier({ maxBytes: 100_000, maxObjectBytes: 100 });
  assert.equal(await memory.put(K('/big'), meta(), body(['x'.repeat(60), 'y'.repeat(60)])), 'too_large');
  assert.equal(memory.hit(K('/big')), undefined);
  assert.equal(memory.set(K('/big'), { ...meta(), key: K('/big'), size: 101 }, Buffer.alloc(101)), false);
  assert.equal(memory.summary().objects, 0);
});

test('a hit hands out the body buffer itself and the stored metadata', async () => {
  const memory = new MemoryTier({ maxBytes: 100_000, maxObjectBytes: 100 });
  await memory.put(K('/m'), meta({ tags: ['t'] }), body(['abc']));
  const got = memory.hit(K('/m'))!;
  assert.equal(got.body?.toString(), 'abc');
  assert.deepEqual(got.meta.tags, ['t']);
  assert.equal(got.meta.size, 3);
  memory.forgetCustomer('customer-a');
  assert.equal(memory.hit(K('/m')), undefined);
});
