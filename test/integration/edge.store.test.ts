/**
 * What the tiered store adds beyond the contract: memory hits that touch neither disk nor
 * index, promotion of disk hits, per-customer quotas and the global cap evicting least
 * recently used objects, start-up repair of what a crash leaves, and the stats.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, rm, truncate, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cacheKey } from '../../src/edge/cache/cache-key';
import { createCacheStore, type CacheStoreSettings } from '../../src/edge/cache/cache-store.factory';
import { DiskTier } from '../../src/edge/cache/disk.tier';
import { INDEX_BODY_MAX, INLINE_BODY_MAX } from '../../src/edge/cache/metadata.index';
import type { TieredStore } from '../../src/edge/cache/tiered.store';
import { body, meta, objectFiles, readAll, tempDir } from '../support/cache-store.fixtures';

const A = (p: string): string => cacheKey('customer-a', p, '');
const B = (p: string): string => cacheKey('customer-b', p, '');
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function withTiered(settings: Partial<CacheStoreSettings>, fn: (store: TieredStore, dir: string) => Promise<void>): Promise<void> {
  const tmp = await tempDir();
  const store = createCacheStore({ dir: tmp.dir, maxObjectBytes: 1024 * 1024, maxBytes: 1024 ** 3, memoryBytes: 1024 * 1024, memoryMaxObjectBytes: 4096, ...settings });
  try {
    await fn(store, tmp.dir);
  } finally {
    await store.close();
    await tmp.remove();
  }
}

test('a memory hit reads neither the disk nor the index', async () => {
  await withTiered({}, async (store, dir) => {
    await store.put(A('/hot'), meta(), body(['hot body']));
    // Take the disk away behind the store's back and forbid index reads.
    await rm(path.join(dir, 'customer-a'), { recursive: true, force: true });
    const index = store.disk.index;
    const original = index.get.bind(index);
    index.get = () => assert.fail('index read on a memory hit');
    try {
      const got = await store.get(A('/hot'));
      assert.ok(got?.body, 'served from memory');
      assert.equal(await readAll(got), 'hot body');
    } finally {
      index.get = original;
    }
  });
});

test('objects above the memory object limit are served from disk; a small disk hit is kept in memory', async () => {
  await withTiered({ memoryMaxObjectBytes: 10, indexBodyMax: 0 }, async (store, dir) => {
    await store.put(A('/large'), meta(), body(['more than ten bytes']));
    await store.put(A('/small'), meta(), body(['tiny']));
    assert.equal(store.stats().memory?.objects, 1);
    const large = await store.get(A('/large'));
    assert.equal(large?.body, undefined, 'streamed from its file');
    assert.equal(await readAll(large!), 'more than ten bytes');

    // A fresh process (empty memory) over the same disk: the first hit reads the file once.
    await store.idle();
    const again = createCacheStore({ dir, maxObjectBytes: 1024 * 1024, maxBytes: 1024 ** 3, memoryBytes: 1024 * 1024, memoryMaxObjectBytes: 10, indexBodyMax: 0, recover: false });
    try {
      assert.equal(await readAll((await again.get(A('/small')))!), 'tiny');
      for (const f of await objectFiles(dir)) await rm(f);
      const fromMemory = await again.get(A('/small'));
      assert.equal(await readAll(fromMemory!), 'tiny');
      assert.equal(await again.get(A('/large')), undefined, 'a missing file is a miss, never an error');
    } finally {
      await again.close();
    }
  });
});

test('a customer over its quota loses its least recently used objects, and only its own', async () => {
  const quotas: Record<string, number> = { 'customer-a': 3000 };
  await withTiered({ quotaOf: (id) => quotas[id] ?? null, memoryMaxObjectBytes: 0 }, async (store) => {
    const kb = (c: string): ReturnType<typeof body> => body([c.repeat(1000)]);
    await store.put(B('/b1'), meta(), kb('b'));
    for (const p of ['/1', '/2', '/3']) {
      await store.put(A(p), meta(), kb('a'));
      await pause(5);
    }
    await store.get(A('/1')); // now /2 is the least recently used
    await pause(5);
    await store.put(A('/4'), meta(), kb('a'));
    await store.idle();
    assert.equal(await store.get(A('/2')), undefined, 'least recently used evicted');
    for (const p of ['/1', '/3', '/4']) assert.ok(await store.get(A(p)), p);
    assert.ok(await store.get(B('/b1')), 'other customers untouched');
    const stats = store.stats();
    assert.deepEqual(stats.customers['customer-a'], { objects: 3, bytes: 3000 });
    assert.equal(stats.evictions.quota, 1);
  });
});

test('the global cap evicts the least recently used objects across customers', async () => {
  const evicted: string[] = [];
  await withTiered({ maxBytes: 2500, indexBodyMax: 0, onEvict: (c, cause, bytes) => evicted.push(`${c}:${cause}:${bytes}`) }, async (store, dir) => {
    await store.put(A('/old'), meta(), body(['a'.repeat(1000)]));
    await pause(5);
    await store.put(B('/mid'), meta(), body(['b'.repeat(1000)]));
    await pause(5);
    await store.put(A('/new'), meta(), body(['c'.repeat(1000)]));
    await store.idle();
    assert.deepEqual(evicted, ['customer-a:capacity:1000']);
    assert.equal(await store.get(A('/old')), undefined);
    assert.ok(await store.get(B('/mid')));
    assert.ok(await store.get(A('/new')));
    const stats = store.stats();
    assert.equal(stats.bytes, 2000);
    assert.equal(stats.objects, 2);
    assert.equal(stats.evictions.capacity, 1);
    assert.equal((await objectFiles(dir)).length, 2, 'the evicted file is gone');
  });
});

test('start-up repair: orphan files, stale temp files and index entries without a valid file are removed', async () => {
  const tmp = await tempDir();
  try {
    const first = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1024 * 1024, indexBodyMax: 0, recover: false });
    await first.put(A('/ok'), meta(), body(['fine']));
    await first.put(A('/missing'), meta(), body(['file removed']));
    await first.put(A('/short'), meta(), body(['file truncated']));
    const fileOf = (p: string): string => first.filePath('customer-a', first.index.get('customer-a', `${p}?`)!.file);
    const missing = fileOf('/missing');
    const short = fileOf('/short');
    await first.close();
    await rm(missing);
    await truncate(short, 4);
    // What a crash leaves: a renamed file never indexed, a temp file of a dead writer.
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const folder = path.join(tmp.dir, 'customer-a', 'ab');
    await mkdir(folder, { recursive: true });
    const orphan = path.join(folder, `ab${'0'.repeat(62)}-000000000000`);
    await writeFile(orphan, 'orphan');
    await writeFile(`${orphan}.${deadPid}.tmp`, 'half');
    await writeFile(`${orphan}x.${process.pid}.tmp`, 'being written by a live process');
    const old = new Date(Date.now() - 120_000);
    await utimes(orphan, old, old);

    const store = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1024 * 1024 });
    try {
      const report = await store.recovered;
      assert.deepEqual(report, { skipped: false, brokenEntries: 2, orphans: 1, tempFiles: 1, trash: 0 });
      const files = (await objectFiles(tmp.dir)).map((f) => path.basename(f));
      assert.equal(files.length, 2);
      assert.ok(files.some((f) => f.endsWith(`.${process.pid}.tmp`)), 'a live writer keeps its temp file');
      assert.equal(await readAll((await store.get(A('/ok')))!), 'fine');
      assert.equal(await store.get(A('/missing')), undefined);
      assert.equal(await store.get(A('/short')), undefined);
      assert.deepEqual(store.stats().customers, { 'customer-a': { objects: 1, bytes: 4 } });
    } finally {
      await store.close();
    }
  } finally {
    await tmp.remove();
  }
});

test('a truncated file found at lookup is a miss and its entry is dropped', async () => {
  await withTiered({ memoryMaxObjectBytes: 0, indexBodyMax: 0 }, async (store) => {
    await store.put(A('/t'), meta(), body(['0123456789']));
    const entry = store.disk.index.get('customer-a', '/t?')!;
    await truncate(store.disk.filePath('customer-a', entry.file), 3);
    assert.equal(await store.get(A('/t')), undefined);
    await store.idle();
    assert.equal(store.disk.index.get('customer-a', '/t?'), undefined);
    assert.equal(store.stats().objects, 0);
  });
});

test('deleteCustomer drops the index at once; a put that began before cannot land afterwards', async () => {
  await withTiered({ indexBodyMax: 0 }, async (store, dir) => {
    await store.put(A('/x'), meta(), body(['x']));
    const slow = store.put(A('/slow'), meta(), body(['s', 'l', 'o', 'w'], 20));
    await pause(10);
    await store.deleteCustomer('customer-a');
    assert.equal(await slow, 'aborted');
    await store.idle();
    assert.equal(await store.get(A('/x')), undefined);
    assert.equal(await store.get(A('/slow')), undefined);
    assert.deepEqual(await objectFiles(dir), []);
    assert.equal(store.stats().objects, 0);
  });
});

test('a small body lives in its index entry: no file, served after a restart, evicted and replaced without files', async () => {
  const evicted: string[] = [];
  const tmp = await tempDir();
  try {
    const small = 'i'.repeat(INLINE_BODY_MAX);
    const first = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1024 * 1024, recover: false, onEvict: (c, cause) => evicted.push(`${c}:${cause}`) });
    await first.put(A('/inline'), meta(), body([small.slice(0, 100), small.slice(100)]));
    await first.put(A('/file'), meta(), body(['f'.repeat(INDEX_BODY_MAX + 1)]));
    assert.equal(first.index.get('customer-a', '/inline?')?.inline?.length, INLINE_BODY_MAX);
    const file = first.index.get('customer-a', '/file?');
    assert.ok(file !== undefined && file.inline === undefined && file.bodyParts === undefined, 'one byte over the index limit: a file');
    assert.equal((await objectFiles(tmp.dir)).length, 1);
    await first.close();

    // A restart (recovery included) keeps the inline object: it has no file to check. The cap
    // counts from here: the next put over it evicts.
    const store = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1024 * 1024, maxBytes: 2 * INLINE_BODY_MAX + 5, orphanGraceMs: 0, onEvict: (c, cause) => evicted.push(`${c}:${cause}`) });
    try {
      assert.deepEqual(await store.recovered, { skipped: false, brokenEntries: 0, orphans: 0, tempFiles: 0, trash: 0 });
      const got = await store.get(A('/inline'));
      assert.equal(got?.meta.size, INLINE_BODY_MAX);
      assert.equal(await readAll(got!), small);
      assert.equal((got!.meta as unknown as Record<string, unknown>).inline, undefined, 'the body is not part of the metadata');
      // Replacing the file object with an inline one removes the file.
      await store.put(A('/file'), meta(), body(['now small']));
      await store.idle();
      assert.deepEqual(await objectFiles(tmp.dir), []);
      assert.equal(await readAll((await store.get(A('/file')))!), 'now small');
      // Over the cap: the least recently used inline object goes, with its entry.
      await pause(5);
      await store.get(A('/file'));
      await store.put(B('/more'), meta(), body([small]));
      await store.idle();
      assert.deepEqual(evicted, ['customer-a:capacity']);
      assert.equal(await store.get(A('/inline')), undefined);
      assert.deepEqual(store.stats().customers, { 'customer-a': { objects: 1, bytes: 9 }, 'customer-b': { objects: 1, bytes: INLINE_BODY_MAX } });
    } finally {
      await store.close();
    }
  } finally {
    await tmp.remove();
  }
});

test('a body above the inline limit, up to the index limit, is a row of the body table: no file, kept across a restart, gone with its entry however the entry goes', async () => {
  const tmp = await tempDir();
  const evicted: string[] = [];
  try {
    const big = Buffer.alloc(INDEX_BODY_MAX, 'r');
    big.write('first bytes', 0);
    big.write('last bytes', INDEX_BODY_MAX - 10);
    const mid = Buffer.alloc(INLINE_BODY_MAX + 1, 'm');
    const first = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1024 * 1024, recover: false });
    // Arriving in parts, as an origin's body does.
    await first.put(A('/big'), meta(), body([big.subarray(0, 65_536), big.subarray(65_536, 200_000), big.subarray(200_000)]));
    await first.put(A('/mid'), meta(), body([mid]));
    await first.put(B('/mid'), meta(), body([mid]));
    const bigEntry = first.index.get('customer-a', '/big?')!;
    assert.equal(bigEntry.bodyParts, 3, 'in the three parts it arrived in');
    assert.equal(bigEntry.inline, undefined, 'the body is not in the entry: scans never read it');
    assert.equal(first.index.body('customer-a', bigEntry)?.equals(big), true);
    assert.equal(first.index.get('customer-a', '/mid?')?.bodyParts, 1, 'one byte over the inline limit: a row');
    assert.deepEqual(await objectFiles(tmp.dir), [], 'no file for a body in the index');
    await first.close();

    const quotaOf = (c: string): number | undefined => (c === 'customer-c' ? INDEX_BODY_MAX + INLINE_BODY_MAX : undefined);
    const store = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1024 * 1024, quotaOf, orphanGraceMs: 0, onEvict: (c, cause) => evicted.push(`${c}:${cause}`) });
    const rowOf = (customerId: string, rest: string): Buffer | undefined => {
      const entry = store.index.get(customerId, rest);
      return entry === undefined ? undefined : store.index.body(customerId, entry);
    };
    try {
      assert.deepEqual(await store.recovered, { skipped: false, brokenEntries: 0, orphans: 0, tempFiles: 0, trash: 0 }, 'a row is no orphan, and its entry is not broken');
      const got = await store.get(A('/big'));
      assert.equal(got?.meta.size, INDEX_BODY_MAX);
      assert.equal(await readAll(got!), big.toString());
      assert.equal((got!.meta as unknown as Record<string, unknown>).bodyParts, undefined, 'the layout is not part of the metadata');

      // Replaced by a body too large for the index: a file, and the old row is gone.
      await store.put(A('/big'), meta(), body([Buffer.alloc(INDEX_BODY_MAX + 1, 'F')]));
      await store.idle();
      assert.equal(store.index.body('customer-a', bigEntry), undefined, 'the replaced row went with its entry');
      assert.equal((await objectFiles(tmp.dir)).length, 1);
      // Replaced by a file-less body the other way round: the file goes.
      await store.put(A('/big'), meta(), body([mid]));
      await store.idle();
      assert.deepEqual(await objectFiles(tmp.dir), []);
      assert.equal(rowOf('customer-a', '/big?')?.equals(mid), true);

      // Deleted (a purge's removal goes the same way): the row goes.
      const midA = store.index.get('customer-a', '/mid?')!;
      await store.delete(A('/mid'));
      assert.equal(store.index.body('customer-a', midA), undefined);

      // Evicted over a quota: the least recently used object's row goes.
      const C = (p: string): string => cacheKey('customer-c', p, '');
      await store.put(C('/old'), meta(), body([mid]));
      const old = store.index.get('customer-c', '/old?')!;
      await pause(5);
      await store.put(C('/new'), meta(), body([big]));
      await store.idle();
      assert.deepEqual(evicted, ['customer-c:quota']);
      assert.equal(store.index.get('customer-c', '/old?'), undefined);
      assert.equal(store.index.body('customer-c', old), undefined);
      assert.equal(rowOf('customer-c', '/new?')?.equals(big), true);

      // A customer's cache dropped: its rows go, another customer's stay.
      const midB = store.index.get('customer-b', '/mid?')!;
      const newC = store.index.get('customer-c', '/new?')!;
      await store.deleteCustomer('customer-c');
      await store.deleteCustomer('customer-b');
      assert.equal(store.index.body('customer-b', midB), undefined);
      assert.equal(store.index.body('customer-c', newC), undefined);
      assert.equal(rowOf('customer-a', '/big?')?.equals(mid), true);
      assert.deepEqual(store.stats().customers, { 'customer-a': { objects: 1, bytes: mid.length } });
      // An origin dribbling its body in many small reads makes one row, not one per read.
      const dribbled = Array.from({ length: 1_000 }, (_, i) => Buffer.from(String(i % 10).repeat(100)));
      await store.put(A('/dribbled'), meta(), body(dribbled));
      const dribbledEntry = store.index.get('customer-a', '/dribbled?')!;
      assert.equal(dribbledEntry.bodyParts, 1);
      assert.equal(store.index.body('customer-a', dribbledEntry)?.equals(Buffer.concat(dribbled)), true);
      await store.delete(A('/dribbled'));
      // Every part of every body gone with its entry: only the one left's single part remains.
      assert.equal(store.index.table<Buffer, [string, string, number]>('.bodies').getKeysCount(), 1);
    } finally {
      await store.close();
    }
  } finally {
    await tmp.remove();
  }
});
