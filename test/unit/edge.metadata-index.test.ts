/**
 * The LMDB metadata index: prefix scans are key ranges that include a URL's variants and
 * stop at the first key outside the prefix; customers never see each other's keys; long
 * keys are shortened without losing identity; puts made together are committed together.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cacheKey, variantKey } from '../../src/edge/cache/cache-key';
import { DiskTier } from '../../src/edge/cache/disk.tier';
import { indexKey, MetadataIndex, type IndexEntry } from '../../src/edge/cache/metadata.index';
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

test('group commit: puts made together are committed in batches, each with its own outcome, in the order made', async () => {
  const tmp = await tempDir();
  const dir = path.join(tmp.dir, 'index');
  const entry = (file: string, size: number): IndexEntry => ({ status: 200, headers: {}, storedAt: 1, fetchedAt: 1, ttl: 60, size, file, atime: 1 });
  let index = new MetadataIndex(dir);
  try {
    // One put commits alone; the puts made while it commits go in one batch after it.
    const first = index.put('customer-a', '/first?', entry('f0', 1), 0);
    index.setAdmission((_customerId, rest) => {
      if (rest === '/boom?') throw new Error('admission failed');
      return rest !== '/refused?';
    });
    const batch = [
      index.put('customer-a', '/same?', entry('f1', 10), 0),
      index.put('customer-a', '/boom?', entry('f2', 20), 0),
      index.put('customer-a', '/refused?', entry('f3', 30), 0),
      index.put('customer-a', '/same?', entry('f4', 40), 0),
      index.put('customer-b', '/x?', entry('f5', 50), 0),
      index.put('customer-a', '/old-epoch?', entry('f6', 60), 7),
    ];
    const outcomes = await Promise.allSettled([first, ...batch]);
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    assert.equal(((outcomes[2] as PromiseRejectedResult).reason as Error).message, 'admission failed', 'a put whose admission throws fails alone');
    const value = (i: number): unknown => (outcomes[i] as PromiseFulfilledResult<unknown>).value;
    assert.equal(value(3), false, 'refused by the admission');
    assert.equal(value(6), false, 'refused: its epoch is not the customer\'s');
    assert.deepEqual(value(1), { replaced: undefined, accountBytes: 11, totalBytes: 11 });
    assert.deepEqual(value(4), { replaced: entry('f1', 10), accountBytes: 41, totalBytes: 41 }, 'the later put of a key replaces the earlier one of the same batch');
    assert.deepEqual(value(5), { replaced: undefined, accountBytes: 50, totalBytes: 91 });
    assert.equal(index.get('customer-a', '/same?')?.file, 'f4');
    assert.deepEqual(index.account('customer-a'), { bytes: 41, objects: 2, epoch: 0 });
    assert.deepEqual(index.account('customer-b'), { bytes: 50, objects: 1, epoch: 0 }, 'each customer of a batch gets its own account');
    assert.deepEqual(index.total(), { bytes: 91, objects: 3, epoch: 0 }, 'the total counts every stored put of the batch once');
    assert.deepEqual(index.oldest('customer-a', 10).map((v) => v.file).sort(), ['f0', 'f4'], 'the replaced entry left the eviction order');

    await index.close();

    // Puts still waiting for their batch when the index closes are committed first (a minute between commits: they wait).
    index = new MetadataIndex(dir, { putCommitSpacingMs: 60_000 });
    await index.put('customer-c', '/late/first?', entry('l', 1), 0);
    await new Promise((resolve) => setImmediate(resolve)); // that batch is over: the next waits for the spacing
    const late = Array.from({ length: 20 }, (_, i) => index.put('customer-c', `/late/${i}?`, entry(`l${i}`, 1), 0));
    await index.close();
    assert.equal((await Promise.all(late)).filter((o) => o !== false).length, 20);
    index = new MetadataIndex(dir);
    assert.deepEqual(index.account('customer-c'), { bytes: 21, objects: 21, epoch: 0 });
  } finally {
    await index.close();
    await tmp.remove();
  }
});
