/**
 * What the edge runs: the memory tier (L1) over the disk tier (L2, files + LMDB index).
 *
 * - get: memory first. A memory hit does no syscall and no index read (only notes the
 *   access in a Map, written to the index later in a batch). A disk hit of a small object
 *   reads the body once and keeps it in memory.
 * - put: streams to disk; a body small enough is collected on the way and enters memory
 *   once its index entry is queued for commit (this process answers with it at once; the
 *   commit comes in a batch, metadata.index.ts), and leaves memory if the commit refuses it
 *   (a purge or a dropped customer since the fetch began), so memory keeps nothing the disk
 *   refused.
 * - updateMeta / delete / deleteCustomer: both tiers.
 *
 * Memory is per process: a delete or purge made by one worker reaches another worker's
 * memory through forget()/forgetCustomer() (the caller broadcasts; see docs/EDGE.md).
 */
import type { Readable } from 'node:stream';
import type { PurgeCapable, PurgeTarget } from '../purge/purge-index.port';
import type { CacheStats, CacheStore, ObjectMeta, PutBody, PutOptions, PutOutcome, StoredObject } from './cache-store.port';
import type { DiskTier } from './disk.tier';
import type { MemoryTier } from './memory.tier';
import { MemoryObject } from './memory.tier';

type Meta = Omit<ObjectMeta, 'size' | 'key'>;

export class TieredStore implements CacheStore, PurgeCapable {
  readonly memory: MemoryTier;
  readonly disk: DiskTier;

  constructor(memory: MemoryTier, disk: DiskTier) {
    this.memory = memory;
    this.disk = disk;
    disk.onEviction((key) => memory.forget(key));
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const hit = this.memory.hit(key);
    if (hit !== undefined) {
      this.disk.touch(key);
      return hit;
    }
    const found = await this.disk.lookup(key, this.memory.maxObjectBytes);
    if (found === undefined) return undefined;
    if (found.fh !== undefined) return this.disk.objectOf(found.meta, found.fh);
    const body = found.body!;
    this.memory.set(key, found.meta, body);
    return new MemoryObject({ meta: found.meta, body });
  }

  async put(key: string, meta: Meta, body: PutBody, options?: PutOptions): Promise<PutOutcome> {
    // A body small enough for memory is held there while its index entry waits for its batch's
    // commit, so this process already answers with it; a commit that refuses it takes it out again.
    let early: ObjectMeta | undefined;
    const result = await this.disk.store(key, meta, body, this.memory.maxObjectBytes, (queuedMeta, queuedBody) => {
      if (queuedBody === undefined || !this.memory.set(key, queuedMeta, queuedBody)) return;
      early = queuedMeta;
      options?.readable?.();
    });
    if (result.outcome === 'stored') {
      if (early === undefined) this.memory.forget(key);
    } else if (early !== undefined && this.memory.peek(key)?.meta === early) {
      this.memory.forget(key);
    }
    return result.outcome;
  }

  async updateMeta(key: string, meta: Meta): Promise<boolean> {
    const updated = await this.disk.updateMeta(key, meta);
    if (updated) this.memory.replaceMeta(key, meta);
    else this.memory.forget(key);
    return updated;
  }

  async delete(key: string): Promise<void> {
    this.memory.forget(key);
    await this.disk.delete(key);
  }

  async deleteCustomer(customerId: string): Promise<void> {
    this.memory.forgetCustomer(customerId);
    await this.disk.deleteCustomer(customerId);
  }

  /** Drops `key` from this process's memory only (another worker changed it). */
  forget(key: string): void {
    this.memory.forget(key);
  }

  /** Drops a customer from this process's memory only. */
  forgetCustomer(customerId: string): void {
    this.memory.forgetCustomer(customerId);
  }

  /** What the purge engine works on: the index's purge records (shared by every process), this process's memory tier. */
  purgeTarget(): PurgeTarget {
    return { index: this.disk.purges, memory: this.memory };
  }

  /** Objects of a customer whose `path?query` starts with `prefix`, in key order. */
  scanPrefix(customerId: string, prefix: string): Generator<{ key: string; meta: ObjectMeta }> {
    return this.disk.scanPrefix(customerId, prefix);
  }

  stats(): CacheStats {
    const disk = this.disk.stats();
    return { ...disk, evictions: { ...disk.evictions, memory: this.memory.evictions() }, memory: this.memory.summary() };
  }

  async idle(): Promise<void> {
    await this.disk.idle();
  }

  async close(): Promise<void> {
    await this.disk.close();
  }
}
