/**
 * The metadata index (LMDB): one environment under `<cacheDir>/.index`, shared by every
 * process of the edge (LMDB serialises writers across processes and readers never block).
 *
 * - one named database per customer (`name: customerId`), keyed `path?query` (the cache
 *   key after the customer id; a variant adds `\n<variantId>` and sorts right after its
 *   URL), value = the object's metadata + size, file name and last access time. Ordered
 *   keys make a prefix a range (scanPrefix).
 * - `.accounts`: customerId -> { bytes, objects, epoch }, changed in the same write
 *   transaction as the entries, so totals stay exact whichever process writes. `epoch`
 *   changes when the customer is deleted: a put that began before loses.
 * - `.lru`: [customerId, lastAccess, file] -> index key, the eviction order.
 * - `.bodies`: [customerId, file, part] -> the body, for bodies above INLINE_BODY_MAX up to
 *   INDEX_BODY_MAX (see there), in the parts it arrived in (no copy to join them on a miss):
 *   written and removed in the same write transactions as their entries, so a body never
 *   outlives its entry nor an entry its body.
 * - `.system`: small coordination records (who runs start-up recovery, the purge lurker).
 * - the purge records (`.bans`, `.bans-retired`, `.purge-ids`) live in this environment
 *   too, so that a purge's record and the removals it makes commit together; purge.index.ts
 *   keeps them (through table() and write()), and the put admission hook lets the purge
 *   engine refuse a put inside its write transaction.
 *
 * Names starting with "." can never be a customer id (ids are slugs).
 */
import { createHash } from 'node:crypto';
import { open, type Database, type Key, type RootDatabase } from 'lmdb';
import type { ObjectMeta } from './cache-store.port';

/** What the index keeps for one object. */
export interface IndexEntry extends Omit<ObjectMeta, 'key'> {
  /**
   * File name under `<customer>/<aa>/`, unique per write. No file exists for an empty body
   * or an inline one; the name still identifies this write (eviction order, expectFile).
   */
  file: string;
  /** The body itself, for bodies up to INLINE_BODY_MAX bytes (see hasBodyFile). */
  inline?: Uint8Array;
  /** The body is in `.bodies`, this many parts under [customerId, file, 0…] (bodies up to INDEX_BODY_MAX; see hasBodyFile). */
  bodyParts?: number;
  /** Last access, ms since the epoch (updated lazily, in batches). */
  atime: number;
  /** The full index key, kept only when the stored key had to be shortened. */
  fullKey?: string;
}

/**
 * Bodies up to this size live in their index entry instead of a file of their own: a cold
 * miss of a small object then costs one LMDB put instead of open + write + close + rename
 * (creating a file is most of a small miss's CPU), a disk hit costs no open, and the entry
 * and its body are committed in one transaction. 8 KiB keeps the values of a scan (purges,
 * recovery) small; most of a site's objects by count are below it.
 */
export const INLINE_BODY_MAX = 8 * 1024;

/**
 * Bodies above INLINE_BODY_MAX up to this size are rows of the index's `.bodies` table
 * (keyed [customerId, file, part], put in the entry's own write transaction) instead of files:
 * creating, renaming and later unlinking a file costs more CPU than the bytes themselves
 * at these sizes, and a varying amount of it on a shared VM's file system (see
 * docs/BENCHMARKS.md, "Bodies up to 256 KiB in the index"). A table of their own keeps
 * entries small, so scans (purges, eviction, recovery) never read bodies. Larger bodies
 * stream to files as they arrive, so an edge holds at most this much of a miss's body in
 * memory before it is stored.
 */
export const INDEX_BODY_MAX = 256 * 1024;

/** Whether the entry's body is a file of its own (not empty, not inline, not a `.bodies` row). */
export function hasBodyFile(entry: Pick<IndexEntry, 'size' | 'inline' | 'bodyParts'>): boolean {
  return entry.size > 0 && entry.inline === undefined && entry.bodyParts === undefined;
}

export interface Account {
  bytes: number;
  objects: number;
  /** Changes when the customer's cache is dropped. */
  epoch: number;
}

export interface Victim {
  /** The index key (path?query, maybe shortened). */
  key: string;
  file: string;
  atime: number;
  size: number;
}

/** A put that was stored: what it replaced, and the customer's and all customers' bytes after it. */
export interface StoredPut {
  replaced: IndexEntry | undefined;
  accountBytes: number;
  totalBytes: number;
}

/** What a sweep does with one entry: remove it, mark it soft-purged, or leave it. */
export type EntryDecision = 'remove' | { softPurgedAt: number } | undefined;

export interface EntrySweep {
  /** Removed entries (their files are the caller's to remove). */
  removed: Array<{ rest: string; entry: IndexEntry }>;
  /** Index keys (`rest`) marked soft-purged. */
  marked: string[];
}

/** A put's admission, judged inside its write transaction (the purge engine's, through purge.index.ts). */
export type PutAdmission = (customerId: string, rest: string, entry: IndexEntry) => boolean;

interface LruValue {
  key: string;
  size: number;
}

/** A process's puts are committed at most once per this many ms (see MetadataIndex.put). */
export const PUT_COMMIT_SPACING_MS = 10;

interface QueuedPut {
  customerId: string;
  rest: string;
  entry: IndexEntry;
  epoch: number;
  /** The body's parts, for an entry with bodyParts. */
  body: readonly Buffer[] | undefined;
  resolve: (outcome: StoredPut | false) => void;
  reject: (err: unknown) => void;
}

function settle(put: QueuedPut, outcome: { ok: StoredPut | false } | { error: unknown }): void {
  if ('ok' in outcome) put.resolve(outcome.ok);
  else put.reject(outcome.error);
}

const TOTAL = '*';
/** LMDB's key limit is 1978 bytes; longer keys are shortened and made unique by a hash. */
const MAX_KEY_BYTES = 1900;
const SHORT_KEY_CHARS = 400;

export class MetadataIndex {
  readonly #env: RootDatabase;
  readonly #dbs = new Map<string, Database<IndexEntry, string>>();
  readonly #accounts: Database<Account, string>;
  readonly #lru: Database<LruValue, [string, number, string]>;
  readonly #system: Database<Record<string, unknown>, string>;
  readonly #bodies: Database<Buffer, [string, string, number] | [string]>;
  #admit: PutAdmission | undefined;
  /** Puts waiting for the batch being committed (see put). */
  #queuedPuts: QueuedPut[] = [];
  /** Batches of puts handed to LMDB and not yet committed, and the last of them. */
  #batchesCommitting = 0;
  #lastBatch: Promise<void> = Promise.resolve();
  readonly #putCommitSpacingMs: number;
  /** Set while the next batch waits for the spacing to pass. */
  #commitTimer: NodeJS.Timeout | undefined;
  /** When the last batch began (performance.now()). */
  #lastCommitAt = Number.NEGATIVE_INFINITY;
  #closing = false;

  /** `putCommitSpacingMs`: see put (default PUT_COMMIT_SPACING_MS). */
  constructor(path: string, options: { maxCustomers?: number; putCommitSpacingMs?: number } = {}) {
    this.#putCommitSpacingMs = options.putCommitSpacingMs ?? PUT_COMMIT_SPACING_MS;
    this.#env = open({ path, maxDbs: (options.maxCustomers ?? 10_000) + 8, encoding: 'msgpack' });
    this.#accounts = this.#env.openDB({ name: '.accounts', encoding: 'msgpack' });
    this.#lru = this.#env.openDB({ name: '.lru', encoding: 'msgpack' });
    this.#system = this.#env.openDB({ name: '.system', encoding: 'msgpack' });
    this.#bodies = this.#env.openDB({ name: '.bodies', encoding: 'binary' });
  }

  /**
   * A named database of this environment beside the entries (a name starting with ".", so
   * never a customer's): purge.index.ts keeps the purge records in such tables, written in
   * the same transactions as the entries.
   */
  table<V, K extends Key>(name: `.${string}`): Database<V, K> {
    return this.#env.openDB<V, K>({ name, encoding: 'msgpack' });
  }

  /** Runs `body` in one write transaction of the index (with sweepWithin, table writes). */
  async write<T>(body: () => T): Promise<T> {
    this.#putsFirst();
    return this.#env.transaction(body);
  }

  /** The customer's database (created on first use, once per process). */
  #db(customerId: string): Database<IndexEntry, string> {
    let db = this.#dbs.get(customerId);
    if (db === undefined) {
      db = this.#env.openDB<IndexEntry, string>({ name: customerId, encoding: 'msgpack' });
      this.#dbs.set(customerId, db);
    }
    return db;
  }

  get(customerId: string, rest: string): IndexEntry | undefined {
    const entry = this.#db(customerId).get(indexKey(rest));
    if (entry === undefined || (entry.fullKey !== undefined && entry.fullKey !== rest)) return undefined;
    return entry;
  }

  /** The body of an entry with bodyParts (a copy), or undefined when a part is gone (the entry was replaced or removed since it was read). */
  body(customerId: string, entry: Pick<IndexEntry, 'file' | 'bodyParts' | 'size'>): Buffer | undefined {
    const count = entry.bodyParts ?? 0;
    const parts: Buffer[] = [];
    for (let i = 0; i < count; i += 1) {
      const part = this.#bodies.get([customerId, entry.file, i]);
      if (part === undefined) return undefined;
      parts.push(part);
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, entry.size);
  }

  #removeBody(customerId: string, entry: IndexEntry): void {
    for (let i = 0; i < (entry.bodyParts ?? 0); i += 1) void this.#bodies.remove([customerId, entry.file, i]);
  }

  account(customerId: string): Account {
    return this.#accounts.get(customerId) ?? { bytes: 0, objects: 0, epoch: 0 };
  }

  total(): Account {
    return this.#accounts.get(TOTAL) ?? { bytes: 0, objects: 0, epoch: 0 };
  }

  /** Customers that have (or had) objects, with their totals. */
  accounts(): Array<{ customerId: string; account: Account }> {
    const out: Array<{ customerId: string; account: Account }> = [];
    for (const { key, value } of this.#accounts.getRange({})) if (key !== TOTAL) out.push({ customerId: key, account: value });
    return out;
  }

  /**
   * Stores the entry unless the customer was dropped since `epoch` was read. Returns the
   * entry it replaced (its file is the caller's to remove) and the byte totals as its
   * transaction left them (the caller's eviction check reads no more), or false when refused.
   *
   * Group commit: this process's puts go to LMDB in batches, one write transaction each, a
   * batch at a time and at most one per PUT_COMMIT_SPACING_MS (10 ms): a put when none was
   * committed for that long commits at once (an idle edge adds no wait); under load, each
   * commit carries the puts of the last few milliseconds. A commit costs far more than a put
   * in it (the hand-off to LMDB's write thread and back for the transaction's callback, the
   * pages written, the sync after it): see docs/BENCHMARKS.md, "Cold misses: one commit for
   * many puts", also for the spacing. A miss's client does not wait for it when its body is
   * small enough for memory: the tiered store holds it there meanwhile (tiered.store.ts).
   * Any other write of this process sends the waiting puts first (#putsFirst): writes
   * commit in the order made.
   */
  put(customerId: string, rest: string, entry: IndexEntry, epoch: number, body?: readonly Buffer[]): Promise<StoredPut | false> {
    if (body?.length !== entry.bodyParts) throw new Error('a body goes with an entry that counts its parts (bodyParts), and only there');
    return new Promise((resolve, reject) => {
      this.#queuedPuts.push({ customerId, rest, entry, epoch, body, resolve, reject });
      this.#scheduleCommit();
    });
  }

  /**
   * Every other write of this process starts with this: puts waiting for their batch go to
   * LMDB first, so that this process's writes commit in the order it made them (a 304's
   * updateMeta after the put it refreshes, a purge after the put it must sweep).
   */
  #putsFirst(): void {
    if (this.#queuedPuts.length === 0) return;
    if (this.#commitTimer !== undefined) clearTimeout(this.#commitTimer);
    this.#commitTimer = undefined;
    this.#commitQueuedPuts();
  }

  /** Starts the next batch now, or when the spacing has passed since the last one began (never while one commits). */
  #scheduleCommit(): void {
    if (this.#batchesCommitting > 0 || this.#commitTimer !== undefined || this.#queuedPuts.length === 0) return;
    const wait = this.#lastCommitAt + this.#putCommitSpacingMs - performance.now();
    if (wait <= 0 || this.#closing) {
      this.#commitQueuedPuts();
      return;
    }
    this.#commitTimer = setTimeout(() => {
      this.#commitTimer = undefined;
      this.#commitQueuedPuts();
    }, wait);
  }

  #commitQueuedPuts(): void {
    this.#lastCommitAt = performance.now();
    const batch = this.#queuedPuts;
    this.#queuedPuts = [];
    const outcomes: Array<{ ok: StoredPut | false } | { error: unknown }> = [];
    const committed = this.#env.transaction(() => {
      const accounts = new TxnAccounts(this);
      for (const put of batch) {
        // One put failing (its admission hook threw) leaves the others of the batch alone.
        try {
          outcomes.push({ ok: this.#putInTxn(put, accounts) });
        } catch (error) {
          outcomes.push({ error });
        }
      }
      accounts.write(this.#accounts);
    });
    this.#batchesCommitting += 1;
    // LMDB commits transactions in the order they were made: the last batch settles last.
    this.#lastBatch = committed.then(
      () => batch.forEach((put, i) => settle(put, outcomes[i]!)),
      (error: unknown) => batch.forEach((put) => put.reject(error)),
    );
    void this.#lastBatch.finally(() => {
      this.#batchesCommitting -= 1;
      this.#scheduleCommit();
    });
  }

  /**
   * What a put's own transaction would judge, read now (outside it): the customer's epoch and
   * the admission. True does not promise the commit (a purge or a drop may still come first);
   * false means it will refuse.
   */
  wouldAdmit(customerId: string, rest: string, entry: IndexEntry, epoch: number, account: Account = this.account(customerId)): boolean {
    if (account.epoch !== epoch) return false;
    return this.#admit === undefined || this.#admit(customerId, rest, entry);
  }

  #putInTxn({ customerId, rest, entry, epoch, body }: QueuedPut, accounts: TxnAccounts): StoredPut | false {
    const db = this.#db(customerId);
    const k = indexKey(rest);
    const value: IndexEntry = k === rest ? entry : { ...entry, fullKey: rest };
    const account = accounts.of(customerId);
    // In the write transaction, so a purge recorded by any process is either seen here or recorded after this entry (and its lurker finds it).
    if (!this.wouldAdmit(customerId, rest, value, epoch, account)) return false;
    const old = db.get(k);
    void db.put(k, value);
    body?.forEach((part, i) => void this.#bodies.put([customerId, value.file, i], part));
    if (old !== undefined) this.#removeBody(customerId, old);
    if (old !== undefined) void this.#lru.remove([customerId, old.atime, old.file]);
    void this.#lru.put([customerId, value.atime, value.file], { key: k, size: value.size });
    const totals = accounts.adjust(customerId, value.size - (old?.size ?? 0), old === undefined ? 1 : 0);
    return { replaced: old, ...totals };
  }

  /** Replaces the metadata and keeps body, file and accounting. False when gone. */
  async updateMeta(customerId: string, rest: string, meta: Omit<ObjectMeta, 'key' | 'size'>): Promise<boolean> {
    this.#putsFirst();
    const db = this.#db(customerId);
    const k = indexKey(rest);
    return this.#env.transaction(() => {
      const old = db.get(k);
      if (old === undefined || (old.fullKey !== undefined && old.fullKey !== rest)) return false;
      const { policy: _p, vary: _v, tags: _t, ...kept } = old;
      void db.put(k, { ...kept, ...meta, size: old.size, file: old.file, atime: old.atime });
      return true;
    });
  }

  /**
   * Removes the entry (only if it still names `expectFile`, when given: a newer object
   * stored meanwhile is kept). Returns what was removed.
   */
  async remove(customerId: string, rest: string, expectFile?: string): Promise<IndexEntry | undefined> {
    return this.removeByIndexKey(customerId, indexKey(rest), expectFile);
  }

  async removeByIndexKey(customerId: string, k: string, expectFile?: string): Promise<IndexEntry | undefined> {
    this.#putsFirst();
    const db = this.#db(customerId);
    return this.#env.transaction(() => {
      const accounts = new TxnAccounts(this);
      const removed = this.#removeInTxn(customerId, db, k, accounts, expectFile);
      accounts.write(this.#accounts);
      return removed;
    });
  }

  /** Several removals in one write transaction (eviction). */
  async removeMany(victims: Array<{ customerId: string; key: string; file: string; atime: number }>): Promise<IndexEntry[]> {
    this.#putsFirst();
    return this.#env.transaction(() => {
      const accounts = new TxnAccounts(this);
      const removed: IndexEntry[] = [];
      for (const v of victims) {
        const old = this.#removeInTxn(v.customerId, this.#db(v.customerId), v.key, accounts, v.file);
        if (old !== undefined) removed.push(old);
        // An LRU record whose entry changed meanwhile is dropped, so it is never picked again.
        else if (this.#db(v.customerId).get(v.key)?.atime !== v.atime) void this.#lru.remove([v.customerId, v.atime, v.file]);
      }
      accounts.write(this.#accounts);
      return removed;
    });
  }

  #removeInTxn(customerId: string, db: Database<IndexEntry, string>, k: string, accounts: TxnAccounts, expectFile?: string): IndexEntry | undefined {
    const old = db.get(k);
    if (old === undefined || (expectFile !== undefined && old.file !== expectFile)) return undefined;
    void db.remove(k);
    this.#removeBody(customerId, old);
    void this.#lru.remove([customerId, old.atime, old.file]);
    accounts.adjust(customerId, -old.size, -1);
    return old;
  }

  /** Forgets every entry of the customer in one write transaction and starts a new epoch. */
  async dropCustomer(customerId: string): Promise<void> {
    this.#putsFirst();
    const db = this.#db(customerId);
    await this.#env.transaction(() => {
      const account = this.account(customerId);
      db.clearSync();
      for (const { key } of this.#lru.getRange({ start: [customerId] })) {
        if (key[0] !== customerId) break;
        void this.#lru.remove(key);
      }
      for (const key of this.#bodies.getKeys({ start: [customerId] })) {
        if (key[0] !== customerId) break;
        void this.#bodies.remove(key);
      }
      void this.#accounts.put(customerId, { bytes: 0, objects: 0, epoch: account.epoch + 1 });
      const total = this.total();
      void this.#accounts.put(TOTAL, { bytes: total.bytes - account.bytes, objects: total.objects - account.objects, epoch: 0 });
    });
  }

  /** Moves last-access times forward (batched: one write transaction for many hits). */
  async touch(touches: Array<{ customerId: string; rest: string; atime: number }>): Promise<void> {
    if (touches.length === 0) return;
    this.#putsFirst();
    await this.#env.transaction(() => {
      for (const t of touches) {
        const db = this.#db(t.customerId);
        const k = indexKey(t.rest);
        const old = db.get(k);
        if (old === undefined || old.atime >= t.atime) continue;
        void db.put(k, { ...old, atime: t.atime });
        void this.#lru.remove([t.customerId, old.atime, old.file]);
        void this.#lru.put([t.customerId, t.atime, old.file], { key: k, size: old.size });
      }
    });
  }

  /** The customer's least recently used objects, oldest first. */
  oldest(customerId: string, limit: number): Victim[] {
    const out: Victim[] = [];
    for (const { key, value } of this.#lru.getRange({ start: [customerId] })) {
      if (key[0] !== customerId || out.length >= limit) break;
      out.push({ key: value.key, atime: key[1], file: key[2], size: value.size });
    }
    return out;
  }

  /** Entries whose index key starts with `prefix`, in key order (a range, no full scan). */
  *scanPrefix(customerId: string, prefix: string): Generator<{ rest: string; entry: IndexEntry }> {
    const start = prefix.length > SHORT_KEY_CHARS ? prefix.slice(0, SHORT_KEY_CHARS) : prefix;
    for (const { key, value } of this.#db(customerId).getRange({ start })) {
      if (!key.startsWith(start)) break;
      const rest = value.fullKey ?? key;
      if (rest.startsWith(prefix)) yield { rest, entry: value };
    }
  }

  /** Entries of a customer in key order, after `after` when given (recovery, in batches). */
  *entries(customerId: string, after?: string): Generator<{ indexKey: string; entry: IndexEntry }> {
    for (const { key, value } of this.#db(customerId).getRange(after === undefined ? {} : { start: after })) {
      if (key === after) continue;
      yield { indexKey: key, entry: value };
    }
  }

  /**
   * Claims a once-per-start job across processes: true unless a live process claimed it
   * within `ttlMs`.
   */
  async claim(job: string, ttlMs: number, isAlive: (pid: number) => boolean): Promise<boolean> {
    this.#putsFirst();
    return this.#env.transaction(() => {
      const held = this.#system.get(job) as { pid?: number; at?: number } | undefined;
      const now = Date.now();
      if (held?.pid !== undefined && held.pid !== process.pid && isAlive(held.pid) && now - (held.at ?? 0) < ttlMs) return false;
      void this.#system.put(job, { pid: process.pid, at: now });
      return true;
    });
  }

  /**
   * Judges every put inside its write transaction (`put` answers false when refused).
   * The purge engine refuses an object whose fetch began at or before a purge covering it.
   */
  setAdmission(admit: PutAdmission | undefined): void {
    this.#admit = admit;
  }

  /**
   * Up to `limit` entries in key order whose key starts with `prefix` ('' = every entry of
   * the customer), after the index key `after`; `next` is where to go on (undefined: done).
   */
  page(customerId: string, prefix: string, after: string | undefined, limit: number): { items: Array<{ rest: string; entry: IndexEntry }>; next: string | undefined } {
    const start = prefix.length > SHORT_KEY_CHARS ? prefix.slice(0, SHORT_KEY_CHARS) : prefix;
    const from = after ?? start;
    const items: Array<{ rest: string; entry: IndexEntry }> = [];
    let visited = 0;
    for (const { key, value } of this.#db(customerId).getRange(from === '' ? {} : { start: from })) {
      if (key === after) continue;
      if (!key.startsWith(start)) return { items, next: undefined };
      const rest = value.fullKey ?? key;
      if (rest.startsWith(prefix)) items.push({ rest, entry: value });
      visited += 1;
      if (visited >= limit) return { items, next: key };
    }
    return { items, next: undefined };
  }

  /**
   * Re-reads each entry in one write transaction and removes it or marks it soft-purged
   * as `decide` says (so an entry replaced since it was read is judged afresh).
   */
  async sweep(customerId: string, rests: string[], decide: (rest: string, entry: IndexEntry) => EntryDecision): Promise<EntrySweep> {
    this.#putsFirst();
    const out: EntrySweep = { removed: [], marked: [] };
    if (rests.length === 0) return out;
    return this.#env.transaction(() => {
      this.sweepWithin(customerId, rests, decide, out);
      return out;
    });
  }

  /** sweep's work inside a write transaction the caller runs (write()), adding to `out`. */
  sweepWithin(customerId: string, rests: string[], decide: (rest: string, entry: IndexEntry) => EntryDecision, out: EntrySweep): void {
    const db = this.#db(customerId);
    const accounts = new TxnAccounts(this);
    for (const rest of rests) {
      const k = indexKey(rest);
      const old = db.get(k);
      if (old === undefined || (old.fullKey !== undefined && old.fullKey !== rest)) continue;
      const decision = decide(rest, old);
      if (decision === undefined) continue;
      if (decision === 'remove') {
        this.#removeInTxn(customerId, db, k, accounts, old.file);
        out.removed.push({ rest, entry: old });
      } else {
        void db.put(k, { ...old, softPurgedAt: decision.softPurgedAt });
        out.marked.push(rest);
      }
    }
    accounts.write(this.#accounts);
  }

  /** Resolves when every write committed so far is flushed to disk (commits resolve when visible). */
  async flushed(): Promise<void> {
    await this.#env.flushed;
  }

  /** Resolves when every put made so far is committed (waiting ones are sent at once). */
  async settled(): Promise<void> {
    this.#putsFirst();
    while (this.#batchesCommitting > 0) await this.#lastBatch;
  }

  async close(): Promise<void> {
    // Queued puts commit at once now (and any made meanwhile), then the environment closes.
    this.#closing = true;
    await this.settled();
    await this.#env.close();
  }

}

/**
 * The account records of one write transaction that stores or removes entries (a batch of
 * puts, an eviction, a sweep): read once, kept up to date in memory while its changes run,
 * and written once per customer and once for the total at its end — instead of two reads
 * and two writes per entry. Nothing else writes accounts while the transaction runs.
 */
class TxnAccounts {
  readonly #index: MetadataIndex;
  readonly #customers = new Map<string, Account>();
  readonly #changed = new Set<string>();
  #total: Account | undefined;

  constructor(index: MetadataIndex) {
    this.#index = index;
  }

  /** The customer's account as this transaction has left it so far. */
  of(customerId: string): Account {
    let account = this.#customers.get(customerId);
    if (account === undefined) {
      account = { ...this.#index.account(customerId) };
      this.#customers.set(customerId, account);
    }
    return account;
  }

  adjust(customerId: string, bytes: number, objects: number): { accountBytes: number; totalBytes: number } {
    const account = this.of(customerId);
    account.bytes += bytes;
    account.objects += objects;
    this.#changed.add(customerId);
    this.#total ??= { ...this.#index.total(), epoch: 0 };
    this.#total.bytes += bytes;
    this.#total.objects += objects;
    return { accountBytes: account.bytes, totalBytes: this.#total.bytes };
  }

  write(accounts: Database<Account, string>): void {
    for (const customerId of this.#changed) void accounts.put(customerId, this.#customers.get(customerId)!);
    if (this.#total !== undefined) void accounts.put(TOTAL, this.#total);
  }
}

/** The key under which `rest` (path?query[\nvariant]) is stored. */
export function indexKey(rest: string): string {
  if (rest.length * 3 <= MAX_KEY_BYTES || Buffer.byteLength(rest) <= MAX_KEY_BYTES) return rest;
  return `${rest.slice(0, SHORT_KEY_CHARS)}\u007f${createHash('sha256').update(rest).digest('hex')}`;
}
