/**
 * L1: objects held in this process's memory, bounded by bytes (body + an estimate of the
 * metadata). Only small objects (maxObjectBytes) enter. A hit is a Map lookup: no syscall, no
 * index read. Used alone (tests, a cache without disk) or as the upper tier of the TieredStore.
 *
 * Shared fairly between customers (issue 15): each customer's objects are a least-recently-used
 * list of their own, and when room is needed the customer holding the most bytes gives up its
 * least recently used object (max-min fairness). One customer's flood of cold objects thus
 * evicts its own objects once it holds more than any other, never another's whole hot set; a
 * customer alone, or the biggest, is plain LRU.
 */
import { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { dropBody, type CacheStats, type CacheStore, type ObjectMeta, type PutBody, type PutOutcome, type StoredObject } from './cache-store.port';
import { customerOfKey } from './cache-key';

export interface MemoryTierOptions {
  /** Bytes held at most (bodies + metadata estimate). */
  maxBytes: number;
  /** Larger bodies never enter memory. */
  maxObjectBytes: number;
}

/**
 * Parts smaller than this on average are joined at once: each part is a Buffer object (and a
 * view of its own read buffer), so an origin trickling a body in tiny pieces would otherwise
 * hold far more memory than the body's size, which is all the memory tier counts.
 */
const MIN_KEPT_PART_BYTES = 16 * 1024;

/**
 * What memory holds for a key: its metadata and body. A body stored as the parts it arrived in
 * (socket reads of up to 64 KiB) is joined on first use: a miss whose object is never asked for
 * again (most objects of a CDN) never pays for the copy and its fresh memory (~130 µs for
 * 100 KB here, docs/BENCHMARKS.md).
 */
export class Held {
  meta: ObjectMeta;
  /** The body's length in bytes. */
  readonly size: number;
  #body: Buffer | undefined;
  #parts: Buffer[] | undefined;

  constructor(meta: ObjectMeta, body: Buffer | Buffer[]) {
    this.meta = meta;
    if (Buffer.isBuffer(body)) {
      this.#body = body;
      this.size = body.length;
    } else if (body.length === 1) {
      this.#body = body[0]!;
      this.size = this.#body.length;
    } else {
      let size = 0;
      for (const part of body) size += part.length;
      this.size = size;
      if (size / body.length >= MIN_KEPT_PART_BYTES) this.#parts = body;
      else this.#body = Buffer.concat(body, size);
    }
  }

  /** Whether the body is one buffer yet (false: parts kept, to be joined on first use). */
  get joined(): boolean {
    return this.#body !== undefined;
  }

  get body(): Buffer {
    let body = this.#body;
    if (body === undefined) {
      body = this.#body = Buffer.concat(this.#parts!, this.size);
      this.#parts = undefined;
    }
    return body;
  }
}

/** What an entry costs beyond its body: the key twice (map + meta) and the headers, roughly. */
const META_OVERHEAD_BYTES = 256;

function costOf(key: string, held: Held): number {
  return Math.max(1, held.size + key.length * 2 + META_OVERHEAD_BYTES);
}

export class MemoryTier implements CacheStore {
  readonly maxObjectBytes: number;
  readonly #maxBytes: number;
  /** One recency list per customer; the sizes are enforced across all of them here. */
  readonly #customers = new Map<string, LRUCache<string, Held>>();
  /**
   * Every entry by key, for reads that must not cost a recency update: lru-cache's own peek()
   * pays ~1 µs per call for its diagnostics channel and option objects, which the hit lane pays
   * per request. Kept in step by set() and by each list's dispose (delete, evict, replace).
   */
  readonly #held = new Map<string, Held>();
  #bytes = 0;
  #evictions = 0;

  constructor(options: MemoryTierOptions) {
    this.maxObjectBytes = options.maxObjectBytes;
    this.#maxBytes = Math.max(1, options.maxBytes);
  }

  #list(customerId: string, create: true): LRUCache<string, Held>;
  #list(customerId: string, create: false): LRUCache<string, Held> | undefined;
  // A customer's list, once made, stays until forgetCustomer (one per customer: bounded).
  #list(customerId: string, create: boolean): LRUCache<string, Held> | undefined {
    let list = this.#customers.get(customerId);
    if (list === undefined && create) {
      list = new LRUCache<string, Held>({
        maxSize: this.#maxBytes,
        sizeCalculation: (held, key) => costOf(key, held),
        dispose: (held, key, reason) => {
          if (reason === 'evict') this.#evictions += 1;
          this.#bytes -= costOf(key, held);
          if (this.#held.get(key) === held) this.#held.delete(key);
        },
      });
      this.#customers.set(customerId, list);
    }
    return list;
  }

  /** The held object, marked most recently used; undefined when not in memory. */
  hit(key: string): StoredObject | undefined {
    const held = this.#list(customerOfKey(key), false)?.get(key);
    return held === undefined ? undefined : new MemoryObject(held);
  }

  /** The held object without marking it used and without allocating (the hit lane; see touch). */
  peek(key: string): Held | undefined {
    return this.#held.get(key);
  }

  /** Marks `key` most recently used (the hit lane does it at most once a second per object). */
  touch(key: string): void {
    this.#list(customerOfKey(key), false)?.get(key);
  }

  /**
   * Keeps `body` (one buffer, or the parts it arrived in: joined on first use) for `key` if it
   * fits, replacing what was held; returns whether it does.
   */
  set(key: string, meta: ObjectMeta, body: Buffer | Buffer[]): boolean {
    const held = new Held(meta, body);
    const cost = costOf(key, held);
    if (held.size > this.maxObjectBytes || cost > this.#maxBytes) {
      this.forget(key);
      return false;
    }
    const list = this.#list(customerOfKey(key), true);
    list.set(key, held);
    this.#bytes += cost;
    this.#held.set(key, held);
    this.#makeRoom(key);
    return this.#held.get(key) === held;
  }

  /** Evicts until everything fits: each time the least recently used object of the customer holding the most. */
  #makeRoom(justSet: string): void {
    while (this.#bytes > this.#maxBytes) {
      let biggest: LRUCache<string, Held> | undefined;
      for (const list of this.#customers.values()) if (list.size > 0 && (biggest === undefined || list.calculatedSize > biggest.calculatedSize)) biggest = list;
      if (biggest === undefined) return;
      // The object just stored goes last: the biggest holder's older objects leave first.
      const victim = biggest.rkeys().next().value as string | undefined;
      if (victim === undefined) return;
      if (victim === justSet && biggest.size === 1 && this.#customers.size === 1) return;
      this.#evictions += 1;
      biggest.delete(victim);
    }
  }

  has(key: string): boolean {
    return this.#held.has(key);
  }

  async get(key: string): Promise<StoredObject | undefined> {
    return this.hit(key);
  }

  async put(key: string, meta: Omit<ObjectMeta, 'size' | 'key'>, body: PutBody): Promise<PutOutcome> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size <= this.maxObjectBytes) chunks.push(chunk);
        else chunks.length = 0; // keep draining: the client still gets the body
      }
    } catch {
      dropBody(body);
      return 'aborted';
    }
    if (size > this.maxObjectBytes) return 'too_large';
    this.set(key, { ...meta, key, size }, chunks);
    return 'stored';
  }

  async updateMeta(key: string, meta: Omit<ObjectMeta, 'size' | 'key'>): Promise<boolean> {
    return this.replaceMeta(key, meta);
  }

  /** Synchronous updateMeta for the tiered store; does not change the recency. */
  replaceMeta(key: string, meta: Omit<ObjectMeta, 'size' | 'key'>): boolean {
    const held = this.#held.get(key);
    if (held === undefined) return false;
    held.meta = { ...meta, key, size: held.size };
    return true;
  }

  async delete(key: string): Promise<void> {
    this.forget(key);
  }

  forget(key: string): void {
    this.#list(customerOfKey(key), false)?.delete(key);
  }

  async deleteCustomer(customerId: string): Promise<void> {
    this.forgetCustomer(customerId);
  }

  forgetCustomer(customerId: string): void {
    this.#list(customerId, false)?.clear();
    this.#customers.delete(customerId);
  }

  /** Drops every object `test` picks (a purge's sweep of this process's memory); returns how many. */
  forgetWhere(test: (key: string, meta: ObjectMeta) => boolean): number {
    const doomed: string[] = [];
    for (const [key, held] of this.#held) if (test(key, held.meta)) doomed.push(key);
    for (const key of doomed) this.forget(key);
    return doomed.length;
  }

  async idle(): Promise<void> {}

  stats(): CacheStats {
    const customers: CacheStats['customers'] = {};
    let bytes = 0;
    for (const [key, held] of this.#held) {
      const c = (customers[customerOfKey(key)] ??= { objects: 0, bytes: 0 });
      c.objects += 1;
      c.bytes += held.size;
      bytes += held.size;
    }
    return {
      objects: this.#held.size,
      bytes,
      customers,
      evictions: { quota: 0, capacity: 0, memory: this.#evictions },
      memory: { objects: this.#held.size, bytes: this.#bytes },
    };
  }

  /** Evictions for lack of room since start (cheap, for the tiered store's stats). */
  evictions(): number {
    return this.#evictions;
  }

  summary(): { objects: number; bytes: number } {
    return { objects: this.#held.size, bytes: this.#bytes };
  }
}

export class MemoryObject implements StoredObject {
  readonly meta: ObjectMeta;
  readonly body: Buffer;

  constructor(held: { readonly meta: ObjectMeta; readonly body: Buffer }) {
    this.meta = held.meta;
    this.body = held.body;
  }

  openBody(): Readable {
    return Readable.from(this.body.length === 0 ? [] : [this.body], { objectMode: false });
  }

  async release(): Promise<void> {}
}
