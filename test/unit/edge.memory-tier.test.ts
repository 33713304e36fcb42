/**
 * The memory tier alone: bounded by bytes, least recently used out first, small objects only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cacheKey } from '../../src/edge/cache/cache-key';
import type { ObjectMeta } from '../../src/edge/cache/cache-store.port';
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

test('a body kept as the parts it arrived in counts its full size at once and is joined, whole and in order, on first use', () => {
  const memory = new MemoryTier({ maxBytes: 200_000, maxObjectBytes: 100_000 });
  const parts = [Buffer.alloc(20_000, 'a'), Buffer.alloc(20_000, 'b'), Buffer.alloc(17_000, 'c')];
  assert.equal(memory.set(K('/parts'), { ...meta(), key: K('/parts'), size: 57_000 }, parts), true);
  // Counted (stats, room) before anything joins the parts.
  assert.equal(memory.stats().bytes, 57_000);
  const held = memory.peek(K('/parts'))!;
  assert.equal(held.size, 57_000);
  assert.equal(held.joined, false, 'kept as parts until used');
  assert.equal(held.body.toString(), 'a'.repeat(20_000) + 'b'.repeat(20_000) + 'c'.repeat(17_000));
  assert.equal(held.joined, true);
  assert.equal(held.body, held.body, 'joined once, then the same buffer');
  assert.equal(memory.hit(K('/parts'))!.body?.length, 57_000);
  // A body trickled in tiny pieces is joined at once: its parts would cost far more than its size.
  const tiny = Array.from({ length: 1000 }, (_, i) => Buffer.from(String(i % 10)));
  assert.equal(memory.set(K('/tiny'), { ...meta(), key: K('/tiny'), size: 1000 }, tiny), true);
  assert.equal(memory.peek(K('/tiny'))!.joined, true);
  assert.equal(memory.peek(K('/tiny'))!.body.toString(), tiny.join(''));
  // Parts over maxObjectBytes together never enter, though each part alone would fit.
  assert.equal(memory.set(K('/too-big'), { ...meta(), key: K('/too-big'), size: 120_000 }, [Buffer.alloc(40_000), Buffer.alloc(40_000), Buffer.alloc(40_000)]), false);
  assert.equal(memory.peek(K('/too-big')), undefined);
});

test('peek() sees exactly what the LRU holds: replaced, evicted, deleted and forgotten entries are gone', () => {
  const tier = new MemoryTier({ maxBytes: 4 * (100 + 256 + 40), maxObjectBytes: 1000 });
  const metaOf = (key: string): ObjectMeta => ({ key, status: 200, headers: {}, storedAt: 0, ttl: 60, size: 100 });
  const bodyOf = (c: string): Buffer => Buffer.alloc(100, c);
  tier.set('c1\n/a', metaOf('c1\n/a'), bodyOf('a'));
  tier.set('c1\n/a', metaOf('c1\n/a'), bodyOf('b'));
  assert.equal(tier.peek('c1\n/a')?.body[0], 'b'.charCodeAt(0), 'a replaced entry shows its new body');
  for (const k of ['/b', '/c', '/d', '/e', '/f']) tier.set(`c1\n${k}`, metaOf(`c1\n${k}`), bodyOf('x'));
  assert.equal(tier.peek('c1\n/a'), undefined, 'the least recently used entry was evicted');
  assert.equal(tier.has('c1\n/f'), true);
  assert.ok(tier.peek('c1\n/f'));
  tier.forget('c1\n/f');
  assert.equal(tier.peek('c1\n/f'), undefined);
  tier.forgetCustomer('c1');
  for (const k of ['/b', '/c', '/d', '/e']) assert.equal(tier.peek(`c1\n${k}`), undefined, k);
  assert.equal(tier.set('c1\n/big', metaOf('c1\n/big'), Buffer.alloc(2000)), false);
  assert.equal(tier.peek('c1\n/big'), undefined, 'an object too large for memory is never held');
});

test("shared fairly: one customer's flood of cold objects evicts its own, never the other's hot set (the biggest holder pays)", async () => {
  const B = (p: string): string => cacheKey('customer-b', p, '');
  // Room for about ten 1,000-byte objects (each costs its body plus ~300 bytes of estimate).
  const memory = new MemoryTier({ maxBytes: 13_000, maxObjectBytes: 2000 });
  for (let i = 0; i < 4; i++) await memory.put(B(`/hot/${i}`), meta(), body(['h'.repeat(1000)]));
  // customer-a streams 200 cold objects through memory.
  for (let i = 0; i < 200; i++) await memory.put(K(`/cold/${i}`), meta(), body(['c'.repeat(1000)]));
  for (let i = 0; i < 4; i++) assert.ok(memory.peek(B(`/hot/${i}`)), `customer-b's /hot/${i} kept`);
  const stats = memory.stats();
  assert.equal(stats.customers['customer-b']!.objects, 4);
  assert.ok(stats.customers['customer-a']!.objects >= 4, 'customer-a keeps what is left');
  assert.ok(memory.summary().bytes <= 13_000);
  // The newest of customer-a's objects are the ones it kept (its own LRU).
  assert.ok(memory.peek(K('/cold/199')));
  assert.equal(memory.peek(K('/cold/0')), undefined);
});

test('shared fairly: a customer holding less than another is not evicted while the other holds more; alone, a customer is plain LRU', async () => {
  const B = (p: string): string => cacheKey('customer-b', p, '');
  const memory = new MemoryTier({ maxBytes: 6_600, maxObjectBytes: 2000 });
  // customer-b: one small old object; customer-a fills the rest and more.
  await memory.put(B('/small'), meta(), body(['s'.repeat(100)]));
  for (let i = 0; i < 10; i++) await memory.put(K(`/a/${i}`), meta(), body(['a'.repeat(1000)]));
  assert.ok(memory.peek(B('/small')), "the least recently used object overall, but customer-b's share is the smaller");
  // customer-b grows beyond customer-a: now its own oldest object is the one to go.
  const before = memory.stats().customers['customer-a']!.objects;
  for (let i = 0; i < 4; i++) await memory.put(B(`/b/${i}`), meta(), body(['b'.repeat(1000)]));
  assert.ok(memory.stats().customers['customer-a']!.objects < before, 'customer-a, the bigger, paid for customer-b first');
  const alone = new MemoryTier({ maxBytes: 4000, maxObjectBytes: 2000 });
  for (let i = 0; i < 5; i++) await alone.put(K(`/x/${i}`), meta(), body(['x'.repeat(1000)]));
  assert.equal(alone.peek(K('/x/0')), undefined);
  assert.ok(alone.peek(K('/x/4')));
  assert.equal(alone.evictions(), 2);
});

test('forgetCustomer drops one customer entirely and its bytes with it', async () => {
  const B = (p: string): string => cacheKey('customer-b', p, '');
  const memory = new MemoryTier({ maxBytes: 100_000, maxObjectBytes: 2000 });
  await memory.put(K('/1'), meta(), body(['1'.repeat(500)]));
  await memory.put(B('/1'), meta(), body(['2'.repeat(500)]));
  const both = memory.summary().bytes;
  memory.forgetCustomer('customer-a');
  assert.equal(memory.peek(K('/1')), undefined);
  assert.ok(memory.peek(B('/1')));
  assert.ok(memory.summary().bytes < both && memory.summary().bytes > 500);
});
