/**
 * What the purge engine and the lurker need of the cache, and nothing more: the purge
 * records kept beside the stored entries (one index, one write transaction for a URL
 * purge's record and its removals), a few reads and sweeps of a customer's entries, the
 * put admission hook, the lurker's lease, and this process's memory tier.
 *
 * Purge owns this port; the cache implements it (`../cache/purge.index.ts` over the LMDB
 * metadata index) and the tiered store offers it (`purgeTarget()`), so the engine never
 * names a concrete store. A store that cannot carry purges simply lacks `purgeTarget`:
 * the edge then runs without a purge engine.
 */
import type { ObjectMeta } from '../cache/cache-store.port';
import type { BanKey, BanRecord, PurgeEntry, RecordedPurge, SweepDecision, SweepResult, UrlSweep } from './purge.records';

export interface PurgeIndex {
  /**
   * Records purges in one write transaction, in the order given, each unless its purge id
   * is already recorded (then the recorded one is returned and nothing changes). A URL
   * purge's `url` sweep runs in the same transaction, so its record and its removals are
   * committed together; a later item sees what the earlier ones did.
   */
  recordPurgeMany(items: ReadonlyArray<{ record: BanRecord; url?: UrlSweep | undefined }>): Promise<RecordedPurge[]>;
  /** Bans not yet retired, every customer, each customer's oldest first. */
  activeBans(): BanRecord[];
  activeBanCount(): number;
  /** An active or retired record. */
  banRecord(key: BanKey): BanRecord | undefined;
  /** Every record of a customer (active or retired) applied at or after `from` (ms); read inside a put's transaction by the admission. */
  bansSince(customerId: string, from: number): Iterable<BanRecord>;
  /** Retires active bans (they stay as tombstones), with how many objects the lurker dealt with. */
  retireBans(retired: Array<{ key: BanKey; lurked: number }>, at: number): Promise<void>;
  /** Forgets tombstones (and their purge ids) retired before `before`; returns how many. */
  trimBans(before: number): Promise<number>;

  /** Objects stored for the customer (the index's totals). */
  objects(customerId: string): number;
  /** Entries whose `path?query` starts with `prefix`, in key order. */
  scanPrefix(customerId: string, prefix: string): Iterable<{ rest: string; entry: PurgeEntry }>;
  /**
   * Up to `limit` entries in key order whose key starts with `prefix` ('' = every entry of
   * the customer), after the index key `after`; `next` is where to go on (undefined: done).
   */
  page(customerId: string, prefix: string, after: string | undefined, limit: number): { items: Array<{ rest: string; entry: PurgeEntry }>; next: string | undefined };
  /**
   * Re-reads each entry in one write transaction and removes it or marks it soft-purged
   * as `decide` says (an entry replaced since it was read is judged afresh).
   */
  sweep(customerId: string, rests: string[], decide: (rest: string, entry: PurgeEntry) => SweepDecision): Promise<SweepResult>;

  /** Judges every put inside its write transaction: a put `admit` refuses is not stored. */
  setAdmission(admit: ((customerId: string, rest: string, entry: PurgeEntry) => boolean) | undefined): void;
  /** Takes or renews a lease held by one live process of the edge at a time; false while another holds it. */
  lease(job: string, ttlMs: number): Promise<boolean>;
  /** Resolves when every write committed so far is flushed to disk. */
  flushed(): Promise<void>;
}

/** This process's memory tier, as purges reach it. */
export interface PurgeMemory {
  forget(key: string): void;
  forgetWhere(test: (key: string, meta: ObjectMeta) => boolean): number;
}

/** What the purge engine works on: the shared index, this process's memory tier. */
export interface PurgeTarget {
  readonly index: PurgeIndex;
  readonly memory: PurgeMemory;
}

/** A cache store that can carry purges (the tiered store). */
export interface PurgeCapable {
  purgeTarget(): PurgeTarget;
}

/** The store's purge target, or undefined for a store that cannot carry purges (checked by shape, whatever its class). */
export function purgeTargetOf(store: object): PurgeTarget | undefined {
  const capable = store as Partial<PurgeCapable>;
  return typeof capable.purgeTarget === 'function' ? capable.purgeTarget() : undefined;
}
