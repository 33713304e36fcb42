/**
 * Encoded copies of stored bodies: brotli or gzip made once per stored object and coding,
 * then kept in the cache beside the identity body (cache-key.ts encodedKey), so a hit is a
 * lookup, never a compression.
 *
 * When: on the first request that wants the coding of an object (a hit that finds no copy,
 * or right after a miss stored the identity, for the coding that miss's client asked for).
 * Not at fill for every coding: a copy nobody asks for would cost CPU and cache space, and
 * the copy must be made from the whole stored body anyway (an object stored by an older
 * edge, or whose copy was evicted, needs one later too).
 *
 * Once: concurrent requests of this process wait on one compression (by key and body), and
 * the processes of one edge share it through the fill locks (fill-locks.ts): the first
 * compresses and stores, the others read the stored copy. The compression runs on libuv's
 * thread pool (zlib's async calls), not on the event loop.
 *
 * A copy names the body it was made from (ObjectMeta.encoded.from = the identity's bodyId):
 * after a refetch (a purge, an expiry answered 200) the old copy no longer matches and is
 * replaced by a new one when it is next asked for. A copy that would not be smaller than the
 * identity is stored as an empty "useless" marker, so that body is never compressed again.
 */
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip, type BrotliOptions, type ZlibOptions } from 'node:zlib';
import type { Logger } from '../../obs/logger.factory';
import { encodedKey } from '../cache/cache-key';
import type { CacheStore, ObjectMeta, StoredObject } from '../cache/cache-store.port';
import { MemoryObject } from '../cache/memory.tier';
import type { CompressionMeter } from '../edge.metrics';
import { bodySourceOf, type CompressionSettings } from './compression.rules';
import { FILL_RETRY, FILL_STORED, type FillLocks } from './fill-locks';

const brotliAsync = promisify<Buffer, BrotliOptions, Buffer>(brotliCompress);
const gzipAsync = promisify<Buffer, ZlibOptions, Buffer>(gzip);

/** What one compression gives every request waiting on it: the copy's metadata and bytes, or that the coding gains nothing. */
type Made = { meta: ObjectMeta; body: Buffer } | 'useless' | undefined;

export interface EncodedVariantsDeps {
  store: CacheStore;
  fills: FillLocks;
  settings: CompressionSettings;
  meter: CompressionMeter;
  logger: Logger;
  clock: { now(): number };
}

export class EncodedVariants {
  readonly settings: CompressionSettings;
  readonly #deps: EncodedVariantsDeps;
  readonly #making = new Map<string, Promise<Made>>();

  constructor(deps: EncodedVariantsDeps) {
    this.#deps = deps;
    this.settings = deps.settings;
  }

  /**
   * The `coding` copy of the identity object stored under `objectKey` (`identity`, which
   * stays the caller's: it is neither read nor released here): a stored object the caller
   * releases, 'useless' when the coding does not make this body smaller, undefined when no
   * copy could be had (the identity changed or went away meanwhile, a read failed).
   */
  async get(objectKey: string, identity: StoredObject, coding: 'br' | 'gzip'): Promise<StoredObject | 'useless' | undefined> {
    const key = encodedKey(objectKey, coding);
    const from = bodySourceOf(identity.meta);
    const found = await this.#stored(key, from, coding);
    if (found !== undefined) return found;
    const id = `${key}\u0000${from}`;
    let making = this.#making.get(id);
    if (making === undefined) {
      making = this.#make(key, objectKey, identity, coding, from).catch((err: unknown) => {
        this.#deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'cannot make an encoded copy');
        return undefined;
      });
      this.#making.set(id, making);
      void making.finally(() => this.#making.delete(id));
    }
    const made = await making;
    if (made === undefined || made === 'useless') return made;
    return new MemoryObject(made);
  }

  /**
   * Makes the `coding` copy of the object under `objectKey` now, if there is none (after a
   * miss stored it: the next hit finds the copy ready). Errors are logged, never thrown.
   */
  async warm(objectKey: string, coding: 'br' | 'gzip'): Promise<void> {
    const identity = await this.#deps.store.get(objectKey).catch(() => undefined);
    if (identity === undefined) return;
    try {
      const copy = await this.get(objectKey, identity, coding);
      if (copy !== undefined && copy !== 'useless') await copy.release();
    } finally {
      await identity.release();
    }
  }

  /** The stored copy under `key` when it was made from body `from`; undefined otherwise. */
  async #stored(key: string, from: string, coding: 'br' | 'gzip'): Promise<StoredObject | 'useless' | undefined> {
    const found = await this.#deps.store.get(key);
    if (found === undefined) return undefined;
    const encoded = found.meta.encoded;
    if (encoded === undefined || encoded.from !== from || encoded.coding !== coding) {
      await found.release();
      return undefined;
    }
    if (encoded.useless === true) {
      await found.release();
      return 'useless';
    }
    return found;
  }

  async #make(key: string, objectKey: string, identity: StoredObject, coding: 'br' | 'gzip', from: string): Promise<Made> {
    const grant = await this.#deps.fills.acquire(key);
    if (!grant.lead) {
      // Another process of this edge compresses it: read its copy once stored (or compress here if it gave up).
      const outcome = await grant.done;
      if (outcome.kind === 'stored') {
        const stored = await this.#stored(key, from, coding);
        if (stored === 'useless') return 'useless';
        if (stored !== undefined) return { meta: stored.meta, body: await readWhole(stored) };
      }
      return this.#compressAndStore(key, objectKey, identity, coding, from, undefined);
    }
    return this.#compressAndStore(key, objectKey, identity, coding, from, grant.release);
  }

  async #compressAndStore(key: string, objectKey: string, identity: StoredObject, coding: 'br' | 'gzip', from: string, release: ((outcome: typeof FILL_STORED) => void) | undefined): Promise<Made> {
    let stored = false;
    try {
      const body = await this.#identityBody(objectKey, identity, from);
      if (body === undefined) return undefined;
      const started = performance.now();
      const encoded = coding === 'br' ? await brotliAsync(body, this.#brotliOptions(body.length)) : await gzipAsync(body, { level: this.settings.gzipLevel });
      const useless = encoded.length >= body.length;
      this.#deps.meter.encoded(coding, (performance.now() - started) / 1000);
      const meta = copyMeta(identity.meta, coding, from, useless, this.#deps.clock.now());
      const outcome = await this.#deps.store.put(key, meta, useless ? [] : [encoded]);
      stored = outcome === 'stored';
      return useless ? 'useless' : { meta: { ...meta, key, size: encoded.length }, body: encoded };
    } finally {
      release?.(stored ? FILL_STORED : FILL_RETRY);
    }
  }

  /** The identity's bytes: held in memory already, or read from a fresh lookup (the caller keeps its own handle). */
  async #identityBody(objectKey: string, identity: StoredObject, from: string): Promise<Buffer | undefined> {
    if (identity.body !== undefined) return identity.body;
    const again = await this.#deps.store.get(objectKey);
    if (again === undefined) return undefined;
    if (bodySourceOf(again.meta) !== from) {
      await again.release();
      return undefined;
    }
    return readWhole(again);
  }

  /**
   * Quality from the settings (5 by default: docs/EDGE.md, "Compression", why), text mode,
   * and the input size as a hint so small bodies get a small window (less memory, same ratio).
   */
  #brotliOptions(size: number): BrotliOptions {
    return {
      params: {
        [zlib.BROTLI_PARAM_QUALITY]: this.settings.brotliQuality,
        [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT,
        [zlib.BROTLI_PARAM_SIZE_HINT]: size,
      },
    };
  }
}

/**
 * An encoded copy's metadata: what purges judge (fetchedAt and tags of the identity, so a
 * ban covering one covers the other) and what it was made from. Its answer's fields are
 * built from the identity's metadata when it is served (compression.rules.ts encodedHeaders).
 */
function copyMeta(identity: ObjectMeta, coding: 'br' | 'gzip', from: string, useless: boolean, now: number): Omit<ObjectMeta, 'size' | 'key'> {
  const meta: Omit<ObjectMeta, 'size' | 'key'> = {
    status: identity.status,
    headers: { 'content-encoding': coding },
    storedAt: now,
    fetchedAt: identity.fetchedAt ?? identity.storedAt,
    ttl: identity.ttl,
    encoded: useless ? { coding, from, useless: true } : { coding, from },
  };
  if (identity.tags !== undefined) meta.tags = identity.tags;
  return meta;
}

async function readWhole(object: StoredObject): Promise<Buffer> {
  if (object.body !== undefined) return object.body;
  const chunks: Buffer[] = [];
  for await (const chunk of object.openBody() as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
