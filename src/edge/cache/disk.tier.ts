/**
 * L2: bodies on disk, metadata in the LMDB index (metadata.index.ts).
 *
 * Bodies up to INDEX_BODY_MAX (256 KiB) live in the index: up to INLINE_BODY_MAX (8 KiB) in
 * their entry, larger ones as a row of its `.bodies` table. One LMDB transaction stores
 * entry and body together, so a crash leaves all or nothing. Larger bodies are one
 * file per object, `<dir>/<customer>/<aa>/<sha256(key)>-<write id>` (a hash of the key,
 * never the URL; the write id makes every write a new file, so two processes storing the
 * same key never overwrite each other's file and a reader's open file never changes).
 * The file holds the body only. Order of a put, so that `kill -9` at any point never
 * serves a partial object:
 *
 *   1. write the body to `<name>.<pid>.tmp`        (crash: stale temp, removed at start;
 *      bodies up to SMALL_WRITE_MAX at once, larger ones streamed as they arrive)
 *   2. rename to `<name>`                           (crash: orphan file, removed at start)
 *   3. index put, in one write transaction with the customer's byte totals (batched with
 *      this process's other puts: metadata.index.ts)
 *   4. unlink the file it replaced
 *
 * A lookup serves only what the index names, and checks the file's size (fstat).
 * Bounds: a global byte cap and per-customer quotas, least recently used out first
 * (eviction-order bookkeeping in the index, last access written in batches).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, open, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { dropBody, type CacheStats, type CacheStore, type ObjectMeta, type PutBody, type PutOutcome, type StoredObject } from './cache-store.port';
import { capacityVictims, quotaVictims, type EvictionVictim } from './disk.eviction';
import { recoverDisk, type RecoveryReport } from './disk.recovery';
import { hasBodyFile, INDEX_BODY_MAX, INLINE_BODY_MAX, MetadataIndex, type IndexEntry } from './metadata.index';
import { IndexPurgeStore } from './purge.index';

export const INDEX_DIR = '.index';
export const TRASH_DIR = '.trash';
/**
 * Bodies up to this size are held until complete and written in one go, synchronously (open,
 * write, close, rename: ~0.1 ms of CPU); larger ones stream to their temp file through the
 * thread pool. On the machines measured, each thread-pool hand-off costs more CPU than such a
 * small write itself (2,000 × 1 KB files: 1.1–1.3 s of CPU through fs/promises, 0.2 s
 * synchronously), and the misses of small objects are most of a cold cache's work.
 */
const SMALL_WRITE_MAX = 64 * 1024;
/** A body for the index's body table is kept in at most this many parts (most arrive in 1–4 socket reads). */
const MAX_BODY_PARTS = 16;
/** Folders remembered as existing; 256 per customer, so this covers a few hundred customers' hot folders. */
const KNOWN_DIRS_MAX = 65_536;

export interface DiskTierOptions {
  dir: string;
  /** Larger bodies are passed through, not stored. */
  maxObjectBytes: number;
  /**
   * Bodies up to this size live in the index, not in a file: in their entry up to
   * INLINE_BODY_MAX, in the `.bodies` table above (default INDEX_BODY_MAX; 0: every body in a file).
   */
  indexBodyMax?: number;
  /** Bytes of bodies on this disk, all customers together. */
  maxBytes?: number;
  /** A customer's quota in bytes; null/undefined: none. */
  quotaOf?: (customerId: string) => number | null | undefined;
  /** How often batched last-access times are written (ms). */
  touchFlushMs?: number;
  /** Remove orphans, stale temp files and broken index entries in the background at start. */
  recover?: boolean;
  /** Leave files younger than this alone during recovery (a sibling may be between rename and index put). */
  orphanGraceMs?: number;
  onError?: (err: unknown, what: string) => void;
  onEvict?: (customerId: string, cause: 'quota' | 'capacity', bytes: number) => void;
}

type Meta = Omit<ObjectMeta, 'size' | 'key'>;

export interface PutResult {
  outcome: PutOutcome;
  meta?: ObjectMeta;
  /** The body, when it was collected for the memory tier: one buffer, or the parts it arrived in. */
  body?: Buffer | Buffer[];
}

export class DiskTier implements CacheStore {
  readonly dir: string;
  readonly index: MetadataIndex;
  /** The purge records beside the entries (the purge engine's PurgeIndex). */
  readonly purges: IndexPurgeStore;
  /** Resolves when start-up recovery is done (or skipped). */
  readonly recovered: Promise<RecoveryReport | undefined>;
  readonly #maxObjectBytes: number;
  readonly #inlineBodyMax: number;
  readonly #indexBodyMax: number;
  /** A body is held in memory (no file open) while it is at most this large. */
  readonly #holdMax: number;
  readonly #maxBytes: number;
  readonly #quotaOf: (customerId: string) => number | null | undefined;
  readonly #onError: (err: unknown, what: string) => void;
  readonly #onEvict: NonNullable<DiskTierOptions['onEvict']>;
  readonly #background = new Set<Promise<unknown>>();
  /** key -> last access not yet written to the index. */
  #touches = new Map<string, number>();
  /** Folders known to exist: a miss costs no mkdir (bounded; a dropped customer's folder is re-made on ENOENT). */
  readonly #dirs = new Set<string>();
  readonly #timer: NodeJS.Timeout;
  readonly #evictions = { quota: 0, capacity: 0 };
  #evicting: Promise<void> | undefined;
  #evictAgain = new Set<string>();
  #closed = false;
  readonly #evictionListeners: Array<(key: string) => void> = [];

  constructor(options: DiskTierOptions) {
    this.dir = path.resolve(options.dir);
    this.#maxObjectBytes = options.maxObjectBytes;
    this.#indexBodyMax = options.indexBodyMax ?? INDEX_BODY_MAX;
    this.#inlineBodyMax = Math.min(this.#indexBodyMax, INLINE_BODY_MAX);
    this.#holdMax = Math.max(this.#indexBodyMax, SMALL_WRITE_MAX);
    this.#maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.#quotaOf = options.quotaOf ?? (() => undefined);
    this.#onError = options.onError ?? (() => {});
    this.#onEvict = options.onEvict ?? (() => {});
    this.index = new MetadataIndex(path.join(this.dir, INDEX_DIR));
    this.purges = new IndexPurgeStore(this.index, (customerId, file) => this.filePath(customerId, file));
    this.#timer = setInterval(() => this.#track(this.flushTouches()), options.touchFlushMs ?? 5000);
    this.#timer.unref();
    this.recovered =
      options.recover === false
        ? Promise.resolve(undefined)
        : recoverDisk(this, { orphanGraceMs: options.orphanGraceMs ?? 60_000 }).catch((err: unknown) => {
            this.#onError(err, 'recover the disk cache');
            return undefined;
          });
    this.#track(this.recovered);
  }

  /** File name for a new write of `key`: hash of the key plus a write id. */
  static newFileName(key: string): string {
    return `${createHash('sha256').update(key).digest('hex')}-${writeId()}`;
  }

  filePath(customerId: string, file: string): string {
    return path.join(this.dir, customerId, file.slice(0, 2), file);
  }

  customerDir(customerId: string): string {
    return path.join(this.dir, customerId);
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const found = await this.lookup(key, 0);
    if (found === undefined) return undefined;
    return found.fh === undefined ? new DiskObject(found.meta, undefined, found.body) : new DiskObject(found.meta, found.fh);
  }

  /** Hears the cache key of every object this process evicts (the memory tier drops it too). */
  onEviction(listener: (key: string) => void): void {
    this.#evictionListeners.push(listener);
  }

  /** A stored object over a file opened by lookup(). */
  objectOf(meta: ObjectMeta, fh: FileHandle): StoredObject {
    return new DiskObject(meta, fh);
  }

  /**
   * The object under `key`: an open file, or its whole body read into memory when it is
   * at most `bufferUpTo` bytes (for the memory tier).
   */
  async lookup(key: string, bufferUpTo: number): Promise<{ meta: ObjectMeta; fh?: FileHandle; body?: Buffer } | undefined> {
    const { customerId, rest } = splitKey(key);
    const entry = this.index.get(customerId, rest);
    if (entry === undefined) return undefined;
    const meta = toMeta(key, entry);
    this.touch(key);
    if (entry.size === 0) return { meta, body: Buffer.alloc(0) }; // no file for an empty body
    if (entry.inline !== undefined) return { meta, body: asBuffer(entry.inline) };
    if (entry.bodyParts !== undefined) {
      const body = this.index.body(customerId, entry);
      if (body !== undefined && body.length === entry.size) return { meta, body };
      // Entry and row are written and removed together: the entry was replaced or removed
      // since it was read (or the index is broken). Forget it if it is still this write; refetch.
      this.#track(this.#removeEntry(customerId, rest, entry.file));
      return undefined;
    }
    let fh: FileHandle;
    try {
      fh = await open(this.filePath(customerId, entry.file), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#onError(err, 'open cached object');
      // Removed behind the index's back (or just replaced): forget this entry, refetch.
      this.#track(this.index.remove(customerId, rest, entry.file));
      return undefined;
    }
    try {
      const stat = await fh.stat();
      if (stat.size === entry.size) {
        if (entry.size > bufferUpTo) return { meta, fh };
        const body = await fh.readFile();
        await fh.close();
        if (body.length === entry.size) return { meta, body };
      } else {
        await fh.close();
      }
    } catch (err) {
      await fh.close().catch(() => {});
      this.#onError(err, 'read cached object');
    }
    this.#track(this.#removeEntry(customerId, rest, entry.file));
    return undefined;
  }

  async put(key: string, meta: Meta, body: PutBody): Promise<PutOutcome> {
    return (await this.store(key, meta, body, 0)).outcome;
  }

  /**
   * put, also collecting the body when it is at most `collectUpTo` bytes. `queued`, when
   * given, hears the object as soon as its index entry waits for its batch's commit (the
   * body complete, its file in place, and no purge or drop since the fetch began), with the
   * body when collected; the result still says whether the commit stored it.
   */
  async store(key: string, meta: Meta, body: PutBody, collectUpTo: number, queued?: (meta: ObjectMeta, body: Buffer | Buffer[] | undefined) => void): Promise<PutResult> {
    const { customerId, rest } = splitKey(key);
    const epoch = this.index.account(customerId).epoch;
    // Named when a file is needed: a body in the index takes a write id only (no hash, no file).
    let file = '';
    let final = '';
    let tmp = '';
    const name = (): void => {
      file = DiskTier.newFileName(key);
      final = this.filePath(customerId, file);
      tmp = `${final}.${process.pid}.tmp`;
    };
    const chunks: Buffer[] = [];
    /** The body so far while it is small enough to be written in one go (no file open yet). */
    const held: Buffer[] = [];
    let fh: FileHandle | undefined;
    let size = 0;
    let tooLarge = false;
    let renamed = false;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (tooLarge) continue; // keep draining: the client still gets the body
        if (size > this.#maxObjectBytes) {
          tooLarge = true;
          chunks.length = 0;
          held.length = 0;
          if (fh !== undefined) {
            await fh.close();
            await unlink(tmp).catch(() => {});
          }
          fh = undefined;
          continue;
        }
        if (size <= collectUpTo) chunks.push(chunk);
        if (fh === undefined && size <= this.#holdMax) {
          held.push(chunk);
          continue;
        }
        if (fh === undefined) {
          name();
          fh = await this.#openTemp(tmp);
          for (const part of held) await fh.write(part);
          held.length = 0;
        }
        await fh.write(chunk);
      }
      if (tooLarge) return { outcome: 'too_large' };
      if (fh !== undefined) {
        await fh.close();
        fh = undefined;
        await rename(tmp, final);
        renamed = true;
      }
      // Not streamed to a file: the whole body is held, to go into the index or a file in one go.
      // A body for the index's body table goes in the parts it arrived in: no copy to join them.
      // (joined when it came in more parts than MAX_BODY_PARTS: an origin dribbling bytes makes no more rows).
      const row = !renamed && size > this.#inlineBodyMax && size <= this.#indexBodyMax ? (held.length <= MAX_BODY_PARTS ? held : [Buffer.concat(held, size)]) : undefined;
      const whole = !renamed && size > 0 && row === undefined ? (held.length === 1 ? held[0]! : Buffer.concat(held, size)) : undefined;
      const inline = whole !== undefined && size <= this.#inlineBodyMax ? whole : undefined;
      if (whole !== undefined && inline === undefined) {
        name();
        this.#writeSmall(tmp, final, whole);
        renamed = true;
      }
      if (file === '') file = `-${writeId()}`; // in the index or empty: unique per write, never a file name
      const entry: IndexEntry = { ...withoutKey(meta), size, file, atime: Date.now() };
      if (inline !== undefined) entry.inline = inline;
      if (row !== undefined) entry.bodyParts = row.length;
      // Shown before the commit only when the commit would store it as things stand (no purge since the fetch began).
      const show = queued !== undefined && this.index.wouldAdmit(customerId, rest, entry, epoch);
      const committed = this.index.put(customerId, rest, entry, epoch, row);
      const collected = size <= collectUpTo ? (whole ?? chunks) : undefined;
      if (show) queued(toMeta(key, entry), collected);
      const put = await committed;
      if (put === false) {
        // The customer was dropped while the body streamed in, or a purge applied since the fetch began covers it.
        if (renamed) await unlink(final).catch(() => {});
        return { outcome: 'aborted' };
      }
      if (put.replaced !== undefined && hasBodyFile(put.replaced)) await this.#unlink(customerId, put.replaced.file);
      this.#enforceLimits(customerId, put.accountBytes, put.totalBytes);
      // Not joined here: the memory tier joins the parts on first use (most objects never get one).
      return { outcome: 'stored', meta: toMeta(key, entry), body: collected };
    } catch (err) {
      if (fh !== undefined) await fh.close().catch(() => {});
      if (final !== '') await unlink(renamed ? final : tmp).catch(() => {});
      // Never leave the other reader of a teed body waiting on us.
      dropBody(body);
      if (!isAbort(err)) this.#onError(err, 'store object');
      return { outcome: 'aborted' };
    }
  }

  /** Temp file, then rename (the same order as a streamed write), synchronously: see SMALL_WRITE_MAX. */
  #writeSmall(tmp: string, final: string, data: Buffer): void {
    const dir = path.dirname(tmp);
    if (!this.#dirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.#rememberDir(dir);
    }
    try {
      writeFileSync(tmp, data, { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // The folder went away (the customer's cache was dropped): make it again, once.
      mkdirSync(dir, { recursive: true });
      writeFileSync(tmp, data, { flag: 'wx' });
    }
    renameSync(tmp, final);
  }

  #rememberDir(dir: string): void {
    if (this.#dirs.size >= KNOWN_DIRS_MAX) this.#dirs.clear();
    this.#dirs.add(dir);
  }

  async #openTemp(tmp: string): Promise<FileHandle> {
    const dir = path.dirname(tmp);
    if (!this.#dirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.#rememberDir(dir);
    }
    try {
      return await open(tmp, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // The folder went away (the customer's cache was dropped): make it again, once.
      await mkdir(dir, { recursive: true });
      return open(tmp, 'wx');
    }
  }

  async updateMeta(key: string, meta: Meta): Promise<boolean> {
    const { customerId, rest } = splitKey(key);
    return this.index.updateMeta(customerId, rest, withoutKey(meta));
  }

  async delete(key: string): Promise<void> {
    const { customerId, rest } = splitKey(key);
    this.#touches.delete(key);
    await this.#removeEntry(customerId, rest);
  }

  /**
   * Forgets the customer's index entries at once (one transaction; a put that began
   * before cannot land afterwards), moves the folder aside and removes it in the background.
   */
  async deleteCustomer(customerId: string): Promise<void> {
    await this.index.dropCustomer(customerId);
    const to = path.join(this.dir, TRASH_DIR, `${customerId}.${Date.now()}.${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(path.dirname(to), { recursive: true });
      await rename(this.customerDir(customerId), to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    this.#track(rm(to, { recursive: true, force: true }).catch((err: unknown) => this.#onError(err, 'remove cache folder')));
  }

  /** Objects of a customer whose `path?query` starts with `prefix`, in key order (for purges). */
  *scanPrefix(customerId: string, prefix: string): Generator<{ key: string; meta: ObjectMeta }> {
    for (const { rest, entry } of this.index.scanPrefix(customerId, prefix)) {
      const key = `${customerId}\n${rest}`;
      yield { key, meta: toMeta(key, entry) };
    }
  }

  /** Notes an access; written to the index later, in a batch (never on the hit path). */
  touch(key: string, now: number = Date.now()): void {
    this.#touches.set(key, now);
  }

  async flushTouches(): Promise<void> {
    if (this.#touches.size === 0 || this.#closed) return;
    const batch = this.#touches;
    this.#touches = new Map();
    const touches = [...batch].map(([key, atime]) => ({ ...splitKey(key), atime }));
    await this.index.touch(touches).catch((err: unknown) => this.#onError(err, 'record last access'));
  }

  stats(): CacheStats {
    const customers: CacheStats['customers'] = {};
    for (const { customerId, account } of this.index.accounts()) {
      if (account.objects > 0) customers[customerId] = { objects: account.objects, bytes: account.bytes };
    }
    const total = this.index.total();
    return { objects: total.objects, bytes: total.bytes, customers, evictions: { ...this.#evictions, memory: 0 } };
  }

  /** Resolves when background work is done and every index entry put so far is committed. */
  async idle(): Promise<void> {
    while (!this.#closed && (this.#background.size > 0 || this.#touches.size > 0)) {
      await this.flushTouches();
      await Promise.all([...this.#background]);
    }
    if (!this.#closed) await this.index.settled();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.idle();
    this.#closed = true;
    await this.index.close();
  }

  /** Removes an index entry and then its file. */
  async #removeEntry(customerId: string, rest: string, expectFile?: string): Promise<void> {
    const removed = await this.index.remove(customerId, rest, expectFile);
    if (removed !== undefined && hasBodyFile(removed)) await this.#unlink(customerId, removed.file);
  }

  async #unlink(customerId: string, file: string): Promise<void> {
    await unlink(this.filePath(customerId, file)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.#onError(err, 'remove cached object');
    });
  }

  /** Starts (or queues) eviction when the customer's quota or the global cap is exceeded (bytes as the put left them). */
  #enforceLimits(customerId: string, accountBytes: number, totalBytes: number): void {
    const quota = this.#quotaOf(customerId);
    const overQuota = quota !== null && quota !== undefined && accountBytes > quota;
    const overCap = totalBytes > this.#maxBytes;
    if (!overQuota && !overCap) return;
    this.#evictAgain.add(overQuota ? customerId : '');
    if (this.#evicting !== undefined) return;
    this.#evicting = this.#evictLoop().finally(() => (this.#evicting = undefined));
    this.#track(this.#evicting);
  }

  async #evictLoop(): Promise<void> {
    // Recent hits of this process count before choosing victims.
    await this.flushTouches();
    while (this.#evictAgain.size > 0) {
      const [customerId] = this.#evictAgain;
      this.#evictAgain.delete(customerId!);
      try {
        if (customerId !== '') await this.#evictCustomer(customerId!);
        await this.#evictCapacity();
      } catch (err) {
        this.#onError(err, 'evict objects');
      }
    }
  }

  async #evictCustomer(customerId: string): Promise<void> {
    for (;;) {
      const quota = this.#quotaOf(customerId);
      if (quota === null || quota === undefined) return;
      const victims = quotaVictims(this.index, customerId, quota);
      if (victims.length === 0 || (await this.#evict(victims, 'quota')) === 0) return;
    }
  }

  async #evictCapacity(): Promise<void> {
    for (;;) {
      const victims = capacityVictims(this.index, this.#maxBytes);
      if (victims.length === 0 || (await this.#evict(victims, 'capacity')) === 0) return;
    }
  }

  /** Removes the victims still current; returns how many (0: the LRU records were stale). */
  async #evict(victims: EvictionVictim[], cause: 'quota' | 'capacity'): Promise<number> {
    const removed = await this.index.removeMany(victims);
    const byFile = new Map(victims.map((v) => [v.file, v]));
    for (const entry of removed) {
      const { customerId, key } = byFile.get(entry.file)!;
      this.#evictions[cause] += 1;
      for (const listener of this.#evictionListeners) listener(`${customerId}\n${entry.fullKey ?? key}`);
      this.#onEvict(customerId, cause, entry.size);
      if (hasBodyFile(entry)) await this.#unlink(customerId, entry.file);
    }
    return removed.length;
  }

  #track(p: Promise<unknown>): void {
    this.#background.add(p);
    void p.finally(() => this.#background.delete(p));
  }
}

class DiskObject implements StoredObject {
  readonly meta: ObjectMeta;
  readonly body?: Buffer;
  readonly #fh: FileHandle | undefined;
  #taken = false;

  constructor(meta: ObjectMeta, fh: FileHandle | undefined, body?: Buffer) {
    this.meta = meta;
    this.#fh = fh;
    this.body = body;
  }

  openBody(): Readable {
    this.#taken = true;
    if (this.#fh === undefined) return bufferStream(this.body ?? Buffer.alloc(0));
    return this.#fh.createReadStream({ autoClose: true });
  }

  async release(): Promise<void> {
    if (this.#taken) return;
    this.#taken = true;
    await this.#fh?.close().catch(() => {});
  }
}

function bufferStream(body: Buffer): Readable {
  return Readable.from(body.length === 0 ? [] : [body], { objectMode: false });
}

export function splitKey(key: string): { customerId: string; rest: string } {
  const nl = key.indexOf('\n');
  return { customerId: key.slice(0, nl), rest: key.slice(nl + 1) };
}

function toMeta(key: string, entry: IndexEntry): ObjectMeta {
  const { file: _f, atime: _a, fullKey: _k, inline: _i, bodyParts: _p, ...meta } = entry;
  return { ...meta, key };
}

let randomPool = Buffer.alloc(0);
let randomAt = 0;

/** 12 random hex digits; random bytes are drawn 6 KiB at a time (one draw per miss cost ~1% of its CPU). */
function writeId(): string {
  if (randomAt + 6 > randomPool.length) {
    randomPool = randomBytes(6 * 1024);
    randomAt = 0;
  }
  randomAt += 6;
  return randomPool.toString('hex', randomAt - 6, randomAt);
}

/** An inline body as LMDB's decoder handed it over, viewed as a Buffer without copying. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function withoutKey(meta: Meta & { key?: unknown; size?: unknown }): Meta {
  const { key: _k, size: _s, ...rest } = meta;
  return rest;
}

function isAbort(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'ABORT_ERR' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'UND_ERR_ABORTED' || code === 'ECONNRESET' || (err as Error)?.name === 'AbortError' || code === 'EDGE_BODY_ABORTED';
}
