/**
 * The purge records in the LMDB index (the PurgeIndex port of ../purge/purge-index.port.ts),
 * in the index's own environment so that a URL purge's record and the removals it makes
 * are one write transaction:
 *
 * - `.bans`: [customerId, at, purgeId] -> BanRecord, the active bans: a customer's bans are
 *   one range, oldest first. The lurker moves a ban it has dealt with to `.bans-retired`
 *   (same key), where it stays a while as a tombstone, so that a fetch that began before
 *   the purge cannot store afterwards (the put admission reads both at or after the
 *   fetch's start). URL purges are born retired.
 * - `.purge-ids`: purgeId -> its ban key, so applying a purge twice is a no-op.
 * - `.bans-latest`: customerId -> the latest `at` of any ban recorded for the customer
 *   (active or retired), so that the put admission, which runs in every put's write
 *   transaction, answers "no ban since the fetch began" with one read instead of two range
 *   scans (two cursors: ~7–14 µs a put, a few percent of a small miss). Written with every
 *   ban; an index made before this table existed gets it once at open (the LATEST_READY
 *   record marks it complete; until then the admission scans).
 * - the lurker's lease is a `.system` claim (MetadataIndex.claim), like start-up recovery's.
 *
 * What the records mean and when they are written is edge/purge's; this file only keeps them.
 */
import type { Database } from 'lmdb';
import type { PurgeIndex } from '../purge/purge-index.port';
import { banKey, type BanKey, type BanRecord, type PurgeEntry, type RecordedPurge, type SweepDecision, type SweepResult, type UrlSweep } from '../purge/purge.records';
import { isEncodedRest } from './cache-key';
import { isAlive } from './disk.recovery';
import { hasBodyFile, type EntrySweep, type MetadataIndex } from './metadata.index';

/** The `.bans-latest` record saying the table holds every customer's latest ban (never a customer id: ids are slugs). */
const LATEST_READY = '.complete';

export class IndexPurgeStore implements PurgeIndex {
  readonly #index: MetadataIndex;
  readonly #filePath: (customerId: string, file: string) => string;
  readonly #bans: Database<BanRecord, BanKey>;
  readonly #retired: Database<BanRecord, BanKey>;
  readonly #purgeIds: Database<BanKey, string>;
  readonly #latest: Database<number, string>;
  /** `.bans-latest` is complete (seen once, true for good: the mark is never removed). */
  #latestReady = false;
  /** Settles when `.bans-latest` is complete (made from the ban tables in an index that predates it). */
  readonly ready: Promise<void>;

  /** `filePath`: where the disk tier keeps a body file (removed entries' files are the caller's to unlink). */
  constructor(index: MetadataIndex, filePath: (customerId: string, file: string) => string) {
    this.#index = index;
    this.#filePath = filePath;
    this.#bans = index.table('.bans');
    this.#retired = index.table('.bans-retired');
    this.#purgeIds = index.table('.purge-ids');
    this.#latest = index.table('.bans-latest');
    // Until it settles (or if it fails) the admission scans the ban tables: slower, never wrong.
    this.ready = this.#isLatestReady() ? Promise.resolve() : index.write(() => this.#fillLatest()).catch(() => {});
  }

  /** Every process may run this at once: the first write transaction fills the table, the others see the mark. */
  #fillLatest(): void {
    if (this.#latest.get(LATEST_READY) !== undefined) return;
    for (const db of [this.#bans, this.#retired]) {
      for (const { key } of db.getRange({})) this.#raiseLatest(key[0], key[1]);
    }
    void this.#latest.put(LATEST_READY, 1);
  }

  #raiseLatest(customerId: string, at: number): void {
    const latest = this.#latest.get(customerId);
    if (latest === undefined || latest < at) void this.#latest.put(customerId, at);
  }

  #isLatestReady(): boolean {
    if (!this.#latestReady) this.#latestReady = this.#latest.get(LATEST_READY) !== undefined;
    return this.#latestReady;
  }

  async recordPurgeMany(items: ReadonlyArray<{ record: BanRecord; url?: UrlSweep | undefined }>): Promise<RecordedPurge[]> {
    if (items.length === 0) return [];
    const recorded = await this.#index.write(() => items.map((item) => this.#recordInTxn(item.record, item.url)));
    return recorded.map(({ record, created, swept }) => ({ record, created, swept: this.#withFiles(record.customerId, swept) }));
  }

  #recordInTxn(record: BanRecord, url: UrlSweep | undefined): { record: BanRecord; created: boolean; swept: EntrySweep } {
    const swept: EntrySweep = { removed: [], marked: [] };
    const known = this.#knownPurge(record.purgeId);
    if (known !== undefined) return { record: known, created: false, swept };
    if (url !== undefined) {
      const rests = [url.rest, ...[...this.#index.scanPrefix(record.customerId, `${url.rest}\n`)].map((e) => e.rest)];
      this.#index.sweepWithin(record.customerId, rests, url.decide, swept);
    }
    // Vary markers are bookkeeping, and encoded copies are the same objects in another coding: neither is counted.
    const objects = swept.removed.filter((r) => r.entry.vary === undefined && r.entry.encoded === undefined).length + swept.marked.filter((rest) => !isEncodedRest(rest)).length;
    const stored: BanRecord = { ...record, objectsRemoved: objects };
    const key = banKey(stored);
    void (stored.retiredAt === undefined ? this.#bans : this.#retired).put(key, stored);
    void this.#purgeIds.put(stored.purgeId, key);
    this.#raiseLatest(stored.customerId, stored.at);
    return { record: stored, created: true, swept };
  }

  /** The record of a purge this edge already applied (while it is kept). */
  #knownPurge(purgeId: string): BanRecord | undefined {
    const key = this.#purgeIds.get(purgeId);
    return key === undefined ? undefined : this.banRecord(key);
  }

  banRecord(key: BanKey): BanRecord | undefined {
    return this.#bans.get(key) ?? this.#retired.get(key);
  }

  activeBans(): BanRecord[] {
    return [...this.#bans.getRange({})].map((e) => e.value);
  }

  activeBanCount(): number {
    return this.#bans.getCount();
  }

  *bansSince(customerId: string, from: number): Generator<BanRecord> {
    if (this.#isLatestReady()) {
      const latest = this.#latest.get(customerId);
      if (latest === undefined || latest < from) return;
    }
    for (const db of [this.#bans, this.#retired]) {
      for (const { key, value } of db.getRange({ start: [customerId, from] })) {
        if (key[0] !== customerId) break;
        yield value;
      }
    }
  }

  async retireBans(retired: Array<{ key: BanKey; lurked: number }>, at: number): Promise<void> {
    if (retired.length === 0) return;
    await this.#index.write(() => {
      for (const { key, lurked } of retired) {
        const record = this.#bans.get(key);
        if (record === undefined) continue;
        void this.#bans.remove(key);
        void this.#retired.put(key, { ...record, retiredAt: at, lurked: (record.lurked ?? 0) + lurked });
      }
    });
  }

  async trimBans(before: number): Promise<number> {
    return this.#index.write(() => {
      let trimmed = 0;
      for (const { key, value } of this.#retired.getRange({})) {
        if ((value.retiredAt ?? 0) >= before) continue;
        void this.#retired.remove(key);
        void this.#purgeIds.remove(value.purgeId);
        trimmed += 1;
      }
      return trimmed;
    });
  }

  objects(customerId: string): number {
    return this.#index.account(customerId).objects;
  }

  scanPrefix(customerId: string, prefix: string): Iterable<{ rest: string; entry: PurgeEntry }> {
    return this.#index.scanPrefix(customerId, prefix);
  }

  page(customerId: string, prefix: string, after: string | undefined, limit: number): { items: Array<{ rest: string; entry: PurgeEntry }>; next: string | undefined } {
    return this.#index.page(customerId, prefix, after, limit);
  }

  async sweep(customerId: string, rests: string[], decide: (rest: string, entry: PurgeEntry) => SweepDecision): Promise<SweepResult> {
    return this.#withFiles(customerId, await this.#index.sweep(customerId, rests, decide));
  }

  setAdmission(admit: ((customerId: string, rest: string, entry: PurgeEntry) => boolean) | undefined): void {
    this.#index.setAdmission(admit);
  }

  lease(job: string, ttlMs: number): Promise<boolean> {
    return this.#index.claim(job, ttlMs, isAlive);
  }

  flushed(): Promise<void> {
    return this.#index.flushed();
  }

  /** Names the body file of each removed entry that has one. */
  #withFiles(customerId: string, swept: EntrySweep): SweepResult {
    return {
      removed: swept.removed.map(({ rest, entry }) => (hasBodyFile(entry) ? { rest, entry, bodyFile: this.#filePath(customerId, entry.file) } : { rest, entry })),
      marked: swept.marked,
    };
  }
}
