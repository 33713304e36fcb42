/**
 * Builds the store the edge runs (memory over disk + index) from configuration values.
 * server.ts calls it; tests may build the tiers themselves.
 */
import { DiskTier } from './disk.tier';
import { MemoryTier } from './memory.tier';
import { TieredStore } from './tiered.store';

export interface CacheStoreSettings {
  /** CDN_CACHE_DIR: files, plus the LMDB index in `.index`. */
  dir: string;
  /** CDN_EDGE_MAX_OBJECT_BYTES: larger bodies are passed through. */
  maxObjectBytes: number;
  /** CDN_CACHE_MAX_BYTES: bodies on disk, all customers together. */
  maxBytes: number;
  /** CDN_EDGE_MEMORY_BYTES: memory tier size. */
  memoryBytes: number;
  /** CDN_EDGE_MEMORY_MAX_OBJECT_BYTES: larger bodies stay on disk only. */
  memoryMaxObjectBytes: number;
  /** Bodies up to this size live in the index instead of a file (default INDEX_BODY_MAX; see DiskTierOptions). */
  indexBodyMax?: number;
  /** The customer's cache quota (CustomerConfig.cacheQuotaBytes). */
  quotaOf?: (customerId: string) => number | null | undefined;
  /** Run start-up recovery in this process (default true; one process per edge claims it). */
  recover?: boolean;
  onError?: (err: unknown, what: string) => void;
  onEvict?: (customerId: string, cause: 'quota' | 'capacity', bytes: number) => void;
}

export function createCacheStore(settings: CacheStoreSettings): TieredStore {
  const memory = new MemoryTier({ maxBytes: settings.memoryBytes, maxObjectBytes: Math.min(settings.memoryMaxObjectBytes, settings.maxObjectBytes) });
  const disk = new DiskTier({
    dir: settings.dir,
    maxObjectBytes: settings.maxObjectBytes,
    indexBodyMax: settings.indexBodyMax,
    maxBytes: settings.maxBytes,
    quotaOf: settings.quotaOf,
    recover: settings.recover,
    onError: settings.onError,
    onEvict: settings.onEvict,
  });
  return new TieredStore(memory, disk);
}
