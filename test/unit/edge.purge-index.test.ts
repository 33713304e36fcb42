/**
 * The purge port over the LMDB index (src/edge/cache/purge.index.ts), the only
 * implementation of PurgeIndex: which stores carry purges, a URL purge recorded together
 * with its removals, idempotency by purge id, the put admission, retiring and trimming
 * tombstones, the lurker's lease. Real files and a real index; the engine and the lurker on
 * top are tested end to end in test/integration/edge.purge.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { systemClock } from '../../src/core/clock.port';
import { cacheKey, variantKey } from '../../src/edge/cache/cache-key';
import { DiskTier } from '../../src/edge/cache/disk.tier';
import { MemoryTier } from '../../src/edge/cache/memory.tier';
import { TieredStore } from '../../src/edge/cache/tiered.store';
import { createLogger } from '../../src/obs/logger.factory';
import { purgeTargetOf, type PurgeIndex } from '../../src/edge/purge/purge-index.port';
import { createPurgeEngine } from '../../src/edge/purge/purge.engine';
import { banKey, type BanRecord } from '../../src/edge/purge/purge.records';
import { body, meta, tempDir } from '../support/cache-store.fixtures';

const A = 'customer-a';
const memory = (): MemoryTier => new MemoryTier({ maxBytes: 1 << 20, maxObjectBytes: 1 << 16 });

async function withDisk(run: (disk: DiskTier, index: PurgeIndex) => Promise<void>, indexBodyMax?: number): Promise<void> {
  const tmp = await tempDir();
  const disk = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1 << 20, recover: false, indexBodyMax });
  try {
    await run(disk, purgeTargetOf(new TieredStore(memory(), disk))!.index);
  } finally {
    await disk.close();
    await tmp.remove();
  }
}

let n = 0;
function record(kind: BanRecord['kind'], value: string | null, at: number, extra: Partial<BanRecord> = {}): BanRecord {
  n += 1;
  return { purgeId: `p${n}`, customerId: A, kind, value, soft: false, at, seq: n, objectsRemoved: 0, ...extra };
}

test('only a store that offers purgeTarget carries purges: the tiered store does, memory or disk alone do not', async () => {
  await withDisk(async (disk) => {
    const one = new TieredStore(memory(), disk);
    const two = new TieredStore(memory(), disk);
    assert.equal(purgeTargetOf(one)!.index, purgeTargetOf(two)!.index, 'two processes over one disk share its purge records');
    assert.notEqual(purgeTargetOf(one)!.memory, purgeTargetOf(two)!.memory, 'each has its own memory tier');
    assert.equal(purgeTargetOf(disk), undefined);
    assert.equal(purgeTargetOf(memory()), undefined);
    const options = { clock: systemClock, logger: createLogger({ name: 'test', level: 'silent' }), queryOf: (_id: string, _path: string, query: string) => query, enabled: false };
    assert.equal(createPurgeEngine(memory(), options), undefined, 'no engine for a store without purges');
    const engine = createPurgeEngine(one, options);
    assert.ok(engine);
    await engine.close();
  });
});

test('a URL purge removes the URL and its variants in the transaction that records it, once per purge id', async () => {
  await withDisk(async (disk, index) => {
    const url = cacheKey(A, '/u', '');
    await disk.put(url, meta({ vary: ['accept-language'] }), body([]));
    await disk.put(variantKey(url, 'en'), meta(), body(['x'.repeat(100)]));
    await disk.put(variantKey(url, 'fr'), meta(), body(['small']));
    await disk.put(cacheKey(A, '/u2', ''), meta(), body(['other']));
    assert.equal(index.objects(A), 4);
    const purge = record('URL', '/u?', 2e12, { retiredAt: 2e12 });
    const decide = (): 'remove' => 'remove';
    const [first, repeat] = await index.recordPurgeMany([
      { record: purge, url: { rest: '/u?', decide } },
      { record: { ...purge, at: 3e12 }, url: { rest: '/u?', decide } },
    ]);
    assert.equal(first!.created, true);
    assert.deepEqual(first!.swept.removed.map((r) => r.rest), ['/u?', '/u?\nen', '/u?\nfr']);
    assert.equal(first!.record.objectsRemoved, 2, 'the Vary marker is not an object');
    const files = first!.swept.removed.filter((r) => r.bodyFile !== undefined);
    assert.deepEqual(files.map((r) => r.rest), ['/u?\nen'], 'only a body kept in a file names one (empty and inline bodies have none)');
    assert.ok(existsSync(files[0]!.bodyFile!), 'the file is left for the caller to unlink');
    assert.deepEqual([repeat!.created, repeat!.record.at, repeat!.swept.removed.length], [false, 2e12, 0], 'a repeat changes nothing and reports the first record');
    assert.equal(index.objects(A), 1);
    assert.equal(index.activeBanCount(), 0, 'a URL purge is born retired');
    assert.equal(index.banRecord(banKey(purge))?.retiredAt, 2e12);
  }, 8);
});

test('an index made before the latest-ban table existed gets it at open: the admission still sees its bans', async () => {
  const tmp = await tempDir();
  try {
    const old = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1 << 20, recover: false });
    await old.purges.ready;
    const active = record('PREFIX', '/p/', 1000);
    const retired = record('TAG', 't', 3000, { retiredAt: 3500 });
    const other = record('ALL', null, 5000, { customerId: 'customer-b' });
    // What an earlier version wrote: the ban tables only.
    const bans = old.index.table<BanRecord, ReturnType<typeof banKey>>('.bans');
    const tombstones = old.index.table<BanRecord, ReturnType<typeof banKey>>('.bans-retired');
    await old.index.write(() => {
      old.index.table('.bans-latest').clearSync();
      void bans.put(banKey(active), active);
      void tombstones.put(banKey(retired), retired);
      void bans.put(banKey(other), other);
    });
    await old.close();

    const disk = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1 << 20, recover: false });
    try {
      const index = disk.purges;
      await index.ready;
      assert.deepEqual([...index.bansSince(A, 2000)].map((b) => b.purgeId), [retired.purgeId], 'a tombstone from before the table');
      assert.deepEqual([...index.bansSince(A, 0)].map((b) => b.purgeId).sort(), [active.purgeId, retired.purgeId].sort());
      assert.deepEqual([...index.bansSince('customer-b', 5000)].map((b) => b.purgeId), [other.purgeId]);
      assert.deepEqual([...index.bansSince(A, 3001)], []);
      index.setAdmission((customerId, rest, entry) => ![...index.bansSince(customerId, entry.fetchedAt ?? entry.storedAt)].some((b) => b.kind === 'PREFIX' && rest.startsWith(b.value!)));
      assert.equal(await disk.put(cacheKey(A, '/p/x', ''), meta({ storedAt: 900 }), body(['x'])), 'aborted', 'a put whose fetch began before the old ban is refused');
      assert.equal(await disk.put(cacheKey(A, '/p/x', ''), meta({ storedAt: 1100 }), body(['x'])), 'stored');
    } finally {
      await disk.close();
    }
  } finally {
    await tmp.remove();
  }
});

test('the tiered store holds a small body in memory while its index entry waits for commit, and takes it out when the commit refuses it', async () => {
  await withDisk(async (disk, index) => {
    const tiered = new TieredStore(memory(), disk);
    // '/late?' passes when shown and is refused in its commit (a purge another process recorded in between).
    const asked = new Map<string, number>();
    index.setAdmission((_customerId, rest) => {
      asked.set(rest, (asked.get(rest) ?? 0) + 1);
      if (rest === '/late?') return asked.get(rest) === 1;
      return rest !== '/refused?';
    });
    const seen: Array<string | undefined> = [];
    const put = (p: string): Promise<string> => {
      const key = cacheKey(A, p, '');
      return tiered.put(key, meta(), body(['abc']), { readable: () => seen.push(tiered.memory.hit(key)?.body?.toString()) });
    };
    assert.equal(await put('/kept'), 'stored');
    assert.equal(await put('/refused'), 'aborted');
    assert.deepEqual(seen, ['abc'], 'readable before the commit, with the body in memory; never what the admission refuses already');
    assert.equal(tiered.memory.hit(cacheKey(A, '/refused', '')), undefined);
    assert.equal(await put('/late'), 'aborted');
    assert.deepEqual(seen, ['abc', 'abc'], 'shown while its entry waited');
    assert.equal(tiered.memory.hit(cacheKey(A, '/kept', ''))?.body?.toString(), 'abc');
    assert.equal(tiered.memory.hit(cacheKey(A, '/late', '')), undefined, 'what the commit refused left memory');
    assert.equal(await tiered.get(cacheKey(A, '/late', '')), undefined);
  });
});

test('bans are active until retired, retired ones are tombstones until trimmed, and the admission reads both', async () => {
  await withDisk(async (disk, index) => {
    const prefix = record('PREFIX', '/p/', 1000);
    const tag = record('TAG', 't', 2000);
    const other = record('ALL', null, 1500, { customerId: 'customer-b' });
    const recorded = await index.recordPurgeMany([{ record: prefix }, { record: tag }, { record: other }]);
    assert.deepEqual(recorded.map((r) => r.created), [true, true, true]);
    assert.deepEqual(index.activeBans().map((b) => b.purgeId), [prefix.purgeId, tag.purgeId, other.purgeId], 'per customer, oldest first');
    assert.deepEqual([...index.bansSince(A, 1500)].map((b) => b.purgeId), [tag.purgeId], 'at or after the time, this customer only');
    assert.deepEqual([...index.bansSince(A, 2000)].map((b) => b.purgeId), [tag.purgeId], 'a ban made in the millisecond the fetch began counts');
    assert.deepEqual([...index.bansSince(A, 2001)], [], 'none after the latest');
    assert.deepEqual([...index.bansSince('customer-c', 0)], [], 'none for a customer without bans');

    await index.retireBans([{ key: banKey(prefix), lurked: 3 }], 5000);
    assert.equal(index.activeBanCount(), 2);
    assert.deepEqual(index.banRecord(banKey(prefix)), { ...prefix, retiredAt: 5000, lurked: 3 });
    assert.deepEqual([...index.bansSince(A, 0)].map((b) => b.purgeId).sort(), [prefix.purgeId, tag.purgeId].sort(), 'tombstones still count for the admission');

    index.setAdmission((customerId, rest, entry) => ![...index.bansSince(customerId, entry.fetchedAt ?? entry.storedAt)].some((b) => b.kind === 'PREFIX' && rest.startsWith(b.value!)));
    assert.equal(await disk.put(cacheKey(A, '/p/x', ''), meta({ storedAt: 900 }), body(['x'])), 'aborted', 'a put whose fetch began before the (retired) ban is refused');
    assert.equal(await disk.put(cacheKey(A, '/p/x', ''), meta({ storedAt: 1100 }), body(['x'])), 'stored');
    index.setAdmission(undefined);

    assert.equal(await index.trimBans(5000), 0, 'not retired before 5000');
    assert.equal(await index.trimBans(5001), 1);
    assert.equal(index.banRecord(banKey(prefix)), undefined);
    const [again] = await index.recordPurgeMany([{ record: { ...prefix, at: 6000 } }]);
    assert.equal(again!.created, true, 'a trimmed purge id is forgotten');
  });
});

test('the lurker lease: this process holds and renews it', async () => {
  await withDisk(async (_disk, index) => {
    assert.equal(await index.lease('purge-lurker', 30_000), true);
    assert.equal(await index.lease('purge-lurker', 30_000), true);
    await index.flushed();
  });
});
