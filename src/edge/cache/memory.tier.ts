/**
 * L1: objects held in this process's memory, least recently used out first, bounded by
 * bytes (body + an estimate of the metadata). Only small objects (maxObjectBytes) enter.
 * A hit is a Map lookup: no syscall, no index read. Used alone (tests, a cache without
 * disk) or as the upper tier of the TieredStore.
 */
import { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { CacheStats, CacheStore, ObjectMeta, PutOutcome, StoredObject } from './cache-store.port';
import { customerOfKey } from './cache-key';

export interface MemoryTierOptions {
  /** Bytes held at most (bodies + metadata estimate). */
  maxBytes: number;
  /** Larger bodies never enter memory. */
  maxObjectBytes: number;
}

/** What memory holds for a key. */
export interface Held {
  meta: ObjectMeta;
  body: Buffer;
}

/** What an entry costs beyond its body: the key twice (map + meta) and the headers, roughly. */
const META_OVERHEAD_BYTES = 256;

export class MemoryTier implements CacheStore {
  readonly maxObjectBytes: number;
  readonly #lru: LRUCache<string, Held>;
  /**
   * The same entries as #lru, for reads that must not cost a recency update: lru-cache's own
   * peek() pays ~1 µs per call for its diagnostics channel and option objects, which the hit
   * lane pays per request. Kept in step by set() and by #lru's dispose (delete, evict, replace).
   */
  readonly #held = new Map<string, Held>();
  #evictions = 0;

  constructor(options: MemoryTierOptions) {
    this.maxObjectBytes = options.maxObjectBytes;
    this.#lru = new LRUCache<string, Held>({
      maxSize: Math.max(1, options.maxBytes),
      sizeCalculation: (held, key) => Math.max(1, held.body.length + key.length * 2 + META_OVERHEAD_BYTES),
      dispose: (held, key, reason) => {
        if (reason === 'evict') this.#evictions += 1;
        if (this.#held.get(key) === held) this.#held.delete(key);
      },
    });
  }

  /** The held object, marked most recently used; undefined when not in memory. */
  hit(key: string): StoredObject | undefined {
    const held = this.#lru.get(key);
    return held === undefined ? undefined : new MemoryObject(held);
  }

  /** The held object without marking it used and without allocating (the hit lane; see touch). */
  peek(key: string): Held | undefined {
    return this.#held.get(key);
  }

  /** Marks `key` most recently used (the hit lane does it at most once a second per object). */
  touch(key: string): void {
    this.#lru.get(key);
  }

  /** Keeps `body` for `key` if it fits (replacing what was held); returns whether it does. */
  set(key: string, meta: ObjectMeta, body: Buffer): boolean {
    if (body.length > this.maxObjectBytes) {
      this.#lru.delete(key);
      return false;
    }
    const held = { meta, body };
    this.#lru.set(key, held);
    if (!this.#lru.has(key)) return false;
    this.#held.set(key, held);
    return true;
  }

  has(key: string): boolean {
    return this.#lru.has(key);
  }

  async get(key: string): Promise<StoredObject | undefined> {
    return this.hit(key);
  }

  async put(key: string, meta: Omit<ObjectMeta, 'size' | 'key'>, body: Readable): Promise<PutOutcome> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size <= this.maxObjectBytes) chunks.push(chunk);
        else chunks.length = 0; // keep draining: the client still gets the body
      }
    } catch {
      body.destroy();
      return 'aborted';
    }
    if (size > this.maxObjectBytes) return 'too_large';
    this.set(key, { ...meta, key, size }, Buffer.concat(chunks, size));
    return 'stored';
  }

  async updateMeta(key: string, meta: Omit<ObjectMeta, 'size' | 'key'>): Promise<boolean> {
    return this.replaceMeta(key, meta);
  }

  /** Synchronous updateMeta for the tiered store; does not change the recency. */
  replaceMeta(key: string, meta: Omit<ObjectMeta, 'size' | 'key'>): boolean {
    const held = this.#lru.peek(key);
    if (held === undefined) return false;
    held.meta = { ...meta, key, size: held.body.length };
    return true;
  }

  async delete(key: string): Promise<void> {
    this.#lru.delete(key);
  }

  forget(key: string): void {
    this.#lru.delete(key);
  }

  async deleteCustomer(customerId: string): Promise<void> {
    this.forgetCustomer(customerId);
  }

  forgetCustomer(customerId: string): void {
    const prefix = `${customerId}\n`;
    for (const key of [...this.#lru.keys()]) if (key.startsWith(prefix)) this.#lru.delete(key);
  }

  /** Drops every object `test` picks (a purge's sweep of this process's memory); returns how many. */
  forgetWhere(test: (key: string, meta: ObjectMeta) => boolean): number {
    const doomed: string[] = [];
    for (const [key, held] of this.#lru.entries()) if (test(key, held.meta)) doomed.push(key);
    for (const key of doomed) this.#lru.delete(key);
    return doomed.length;
  }

  async idle(): Promise<void> {}

  stats(): CacheStats {
    const customers: CacheStats['customers'] = {};
    let bytes = 0;
    for (const [key, held] of this.#lru.entries()) {
      const c = (customers[customerOfKey(key)] ??= { objects: 0, bytes: 0 });
      c.objects += 1;
      c.bytes += held.body.length;
      bytes += held.body.length;
    }
    return {
      objects: this.#lru.size,
      bytes,
      customers,
      evictions: { quota: 0, capacity: 0, memory: this.#evictions },
      memory: { objects: this.#lru.size, bytes: this.#lru.calculatedSize },
    };
  }

  /** Evictions for lack of room since start (cheap, for the tiered store's stats). */
  evictions(): number {
    return this.#evictions;
  }

  summary(): { objects: number; bytes: number } {
    return { objects: this.#lru.size, bytes: this.#lru.calculatedSize };
  }
}

export class MemoryObject implements StoredObject {
  readonly meta: ObjectMeta;
  readonly body: Buffer;

  constructor(held: Held) {
    this.meta = held.meta;
    this.body = held.body;
  }

  openBody(): Readable {
    return Readable.from(this.body.length === 0 ? [] : [this.body], { objectMode: false });
  }

  async release(): Promise<void> {}
}
