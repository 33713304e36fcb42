/**
 * One contract, every CacheStore: the memory tier alone, the disk tier (files + LMDB
 * index) and the tiered store the edge runs. What the pipeline relies on: round-trip of
 * body and metadata, streaming, too_large, aborted bodies, updateMeta, delete, customer
 * isolation and, for stores on disk, persistence across a reopen.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cacheKey, variantKey } from '../../src/edge/cache/cache-key';
import type { CacheStore } from '../../src/edge/cache/cache-store.port';
import { createCacheStore } from '../../src/edge/cache/cache-store.factory';
import { DiskTier } from '../../src/edge/cache/disk.tier';
import { MemoryTier } from '../../src/edge/cache/memory.tier';
import { body, failingBody, meta, readAll, tempDir } from '../support/cache-store.fixtures';

interface Subject {
  name: string;
  persistent: boolean;
  open(dir: string, maxObjectBytes: number): CacheStore;
}

const subjects: Subject[] = [
  { name: 'MemoryTier', persistent: false, open: (_dir, max) => new MemoryTier({ maxBytes: 8 * 1024 * 1024, maxObjectBytes: max }) },
  { name: 'DiskTier', persistent: true, open: (dir, max) => new DiskTier({ dir, maxObjectBytes: max }) },
  // Small bodies live in the index by default; this runs the same contract with every body in a file.
  { name: 'DiskTier (no inline bodies)', persistent: true, open: (dir, max) => new DiskTier({ dir, maxObjectBytes: max, indexBodyMax: 0 }) },
  {
    name: 'TieredStore',
    persistent: true,
    open: (dir, max) => createCacheStore({ dir, maxObjectBytes: max, maxBytes: 1024 ** 3, memoryBytes: 8 * 1024 * 1024, memoryMaxObjectBytes: 1024 }),
  },
];

async function withStore(subject: Subject, fn: (store: CacheStore, reopen: () => Promise<CacheStore>) => Promise<void>, maxObjectBytes = 64 * 1024): Promise<void> {
  const tmp = await tempDir();
  let store = subject.open(tmp.dir, maxObjectBytes);
  try {
    await fn(store, async () => {
      await store.idle();
      await store.close?.();
      store = subject.open(tmp.dir, maxObjectBytes);
      return store;
    });
  } finally {
    await store.idle();
    await store.close?.();
    await tmp.remove();
  }
}

const A = (p: string): string => cacheKey('customer-a', p, '');

for (const subject of subjects) {
  describe(`CacheStore contract: ${subject.name}`, () => {
    test('a body already complete, as the parts it arrived in, is stored as a streamed one is; over the limit it is too_large', async () => {
      await withStore(subject, async (store, reopen) => {
        const parts = [Buffer.from('hello '), Buffer.alloc(20_000, 'p'), Buffer.from('world')];
        assert.equal(await store.put(A('/parts'), meta(), parts), 'stored');
        assert.equal(await readAll((await store.get(A('/parts')))!), Buffer.concat(parts).toString());
        assert.equal(await store.put(A('/empty'), meta(), []), 'stored');
        assert.equal((await store.get(A('/empty')))?.meta.size, 0);
        assert.equal(await store.put(A('/huge'), meta(), [Buffer.alloc(64 * 1024 + 1)]), 'too_large');
        assert.equal(await store.get(A('/huge')), undefined);
        if (subject.persistent) assert.equal(await readAll((await (await reopen()).get(A('/parts')))!), Buffer.concat(parts).toString());
      });
    });

    test('put then get returns the body and every metadata field (policy, vary, tags)', async () => {
      await withStore(subject, async (store) => {
        const m = meta();
        assert.equal(await store.put(A('/a'), m, body(['hello ', 'world'])), 'stored');
        const got = await store.get(A('/a'));
        assert.ok(got);
        assert.deepEqual(got.meta, { ...m, key: A('/a'), size: 11 });
        assert.equal(await readAll(got), 'hello world');
        assert.equal(await store.get(A('/missing')), undefined);
      });
    });

    test('a bodiless Vary marker and its variants round-trip under their own keys', async () => {
      await withStore(subject, async (store) => {
        const marker = meta({ vary: ['accept-language'], policy: { epoch: 'e7' } });
        assert.equal(await store.put(A('/v'), marker, body([])), 'stored');
        assert.equal(await store.put(variantKey(A('/v'), 'fr'), meta(), body(['bonjour'])), 'stored');
        const got = await store.get(A('/v'));
        assert.deepEqual(got?.meta.vary, ['accept-language']);
        assert.equal(got?.meta.size, 0);
        assert.equal(await readAll(got!), '');
        assert.equal(await readAll((await store.get(variantKey(A('/v'), 'fr')))!), 'bonjour');
      });
    });

    test('a body streamed slowly in many chunks is stored whole', async () => {
      await withStore(subject, async (store) => {
        const chunks = Array.from({ length: 40 }, (_, i) => `chunk-${i};`);
        assert.equal(await store.put(A('/slow'), meta(), body(chunks, 1)), 'stored');
        const got = await store.get(A('/slow'));
        assert.equal(await readAll(got!), chunks.join(''));
        assert.equal(got!.meta.size, chunks.join('').length);
      });
    });

    test('a body over the size limit is consumed to the end but not stored (too_large)', async () => {
      await withStore(
        subject,
        async (store) => {
          const src = body(['x'.repeat(600), 'y'.repeat(600), 'z'.repeat(600)]);
          assert.equal(await store.put(A('/big'), meta(), src), 'too_large');
          assert.equal(src.readableEnded, true, 'drained: the other reader of a teed body is not stalled');
          assert.equal(await store.get(A('/big')), undefined);
        },
        1000,
      );
    });

    test('a body that fails stores nothing and keeps the previous object', async () => {
      await withStore(subject, async (store) => {
        assert.equal(await store.put(A('/f'), meta(), failingBody(['partial', 'data'])), 'aborted');
        assert.equal(await store.get(A('/f')), undefined);
        assert.equal(await store.put(A('/g'), meta(), body(['old'])), 'stored');
        assert.equal(await store.put(A('/g'), meta(), failingBody(['new', 'er'])), 'aborted');
        assert.equal(await readAll((await store.get(A('/g')))!), 'old');
      });
    });

    test('a second put replaces the object', async () => {
      await withStore(subject, async (store) => {
        await store.put(A('/r'), meta(), body(['first version']));
        await store.put(A('/r'), meta({ status: 203 }), body(['second']));
        const got = await store.get(A('/r'));
        assert.equal(got?.meta.status, 203);
        assert.equal(await readAll(got!), 'second');
      });
    });

    test('updateMeta replaces the metadata and keeps the body; false when the object is gone', async () => {
      await withStore(subject, async (store) => {
        await store.put(A('/u'), meta(), body(['kept body']));
        const next = meta({ headers: { etag: '"v2"' }, storedAt: 1_800_000_000_000, ttl: 5, policy: { v: 2 }, tags: ['t2'] });
        assert.equal(await store.updateMeta(A('/u'), next), true);
        const got = await store.get(A('/u'));
        assert.deepEqual(got?.meta, { ...next, key: A('/u'), size: 9 });
        assert.equal(await readAll(got!), 'kept body');
        assert.equal(await store.updateMeta(A('/nothing'), next), false);
      });
    });

    test('delete removes one object and leaves the others', async () => {
      await withStore(subject, async (store) => {
        await store.put(A('/d1'), meta(), body(['one']));
        await store.put(A('/d2'), meta(), body(['two']));
        await store.delete(A('/d1'));
        await store.delete(A('/never-stored'));
        assert.equal(await store.get(A('/d1')), undefined);
        assert.equal(await readAll((await store.get(A('/d2')))!), 'two');
      });
    });

    test('the same URL of two customers is two objects; deleteCustomer removes only one customer', async () => {
      await withStore(subject, async (store) => {
        const b = cacheKey('customer-b', '/same', 'q=1');
        const a = cacheKey('customer-a', '/same', 'q=1');
        await store.put(a, meta(), body(['of a']));
        await store.put(b, meta(), body(['of b']));
        assert.equal(await readAll((await store.get(a))!), 'of a');
        assert.equal(await readAll((await store.get(b))!), 'of b');
        await store.deleteCustomer('customer-a');
        await store.idle();
        assert.equal(await store.get(a), undefined);
        assert.equal(await readAll((await store.get(b))!), 'of b');
        // The customer can store again afterwards.
        assert.equal(await store.put(a, meta(), body(['again'])), 'stored');
        assert.equal(await readAll((await store.get(a))!), 'again');
      });
    });

    if (subject.persistent) {
      test('objects survive closing and reopening the store', async () => {
        await withStore(subject, async (first, reopen) => {
          await first.put(A('/p'), meta(), body(['persisted']));
          await first.put(A('/gone'), meta(), body(['deleted']));
          await first.delete(A('/gone'));
          const store = await reopen();
          const got = await store.get(A('/p'));
          assert.deepEqual(got?.meta, { ...meta(), key: A('/p'), size: 9 });
          assert.equal(await readAll(got!), 'persisted');
          assert.equal(await store.get(A('/gone')), undefined);
        });
      });
    }
  });
}
