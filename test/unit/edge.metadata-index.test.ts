/**
 * The LMDB metadata index: prefix scans are key ranges that include a URL's variants and
 * stop at the first key outside the prefix; customers never see each other's keys; long
 * keys are shortened without losing identity.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cacheKey, variantKey } from '../../src/edge/cache/cache-key';
import { DiskTier } from '../../src/edge/cache/disk.tier';
import { indexKey } from '../../src/edge/cache/metadata.index';
import { body, meta, tempDir } from '../support/cache-store.fixtures';

test('scanPrefix returns the customer\'s keys under a path prefix, variants right after their URL', async () => {
  const tmp = await tempDir();
  const store = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1024, recover: false });
  try {
    const a = (p: string, q = ''): string => cacheKey('customer-a', p, q);
    const keys = [a('/img/b.png'), a('/img/a.png', 'w=1'), variantKey(a('/img/a.png'), 'v1'), a('/img/a.png'), a('/imgs/x'), a('/other'), cacheKey('customer-b', '/img/a.png', '')];
    for (const k of keys) await store.put(k, meta(), body([k.slice(-3)]));
    const scanned = [...store.scanPrefix('customer-a', '/img/')].map((e) => e.key.split('\n').slice(1).join('\n'));
    assert.deepEqual(scanned, ['/img/a.png?', '/img/a.png?\nv1', '/img/a.png?w=1', '/img/b.png?']);
    assert.deepEqual([...store.scanPrefix('customer-a', '/img')].length, 5, '/imgs/ is under the string prefix /img');
    assert.deepEqual([...store.scanPrefix('customer-b', '/')].map((e) => e.key), [cacheKey('customer-b', '/img/a.png', '')]);
    assert.deepEqual([...store.scanPrefix('customer-c', '/')], []);
    const first = [...store.scanPrefix('customer-a', '/img/a.png?w=1')][0]!;
    assert.equal(first.meta.size, 3);
    assert.deepEqual(first.meta.tags, meta().tags);
  } finally {
    await store.close();
    await tmp.remove();
  }
});

test('keys longer than LMDB allows are shortened with a hash and still found, scanned and kept apart', async () => {
  const long = `/l/${'x'.repeat(3000)}`;
  assert.ok(Buffer.byteLength(indexKey(`${long}?`)) < 1978);
  assert.notEqual(indexKey(`${long}a?`), indexKey(`${long}b?`));
  const tmp = await tempDir();
  const store = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1024, recover: false });
  try {
    await store.put(cacheKey('customer-a', `${long}a`, ''), meta(), body(['A']));
    await store.put(cacheKey('customer-a', `${long}b`, ''), meta(), body(['B']));
    assert.equal((await store.get(cacheKey('customer-a', `${long}a`, '')))?.meta.size, 1);
    assert.equal(await store.get(cacheKey('customer-a', `${long}c`, '')), undefined);
    assert.deepEqual([...store.scanPrefix('customer-a', `${long}b`)].map((e) => e.key), [cacheKey('customer-a', `${long}b`, '')]);
    assert.equal([...store.scanPrefix('customer-a', '/l/')].length, 2);
  } finally {
    await store.close();
    await tmp.remove();
  }
});
