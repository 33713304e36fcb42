/**
 * A cache tier as the pipeline sees it: operations on whole objects, keyed by cacheKey().
 * Implementations: the memory tier, the disk tier (files + LMDB index) and the tiered
 * store (memory over disk) the edge runs; one contract suite runs against each
 * (test/integration/cache-store.contract.test.ts).
 */
import type { Readable } from 'node:stream';

export type StoredHeaders = Record<string, string | string[]>;

/** What a store keeps beside the body. */
export interface ObjectMeta {
  key: string;
  status: number;
  /** End-to-end response headers to replay (hop-by-hop already removed). */
  headers: StoredHeaders;
  /** Milliseconds since the epoch (from the edge's Clock). */
  storedAt: number;
  /**
   * When the origin request that produced this object (or last revalidated it) was sent,
   * ms since the epoch (edge Clock). A purge applied at or after this time covers the
   * object, even when the response arrived after the purge. Absent on objects stored by
   * an older edge: storedAt stands in.
   */
  fetchedAt?: number;
  /**
   * Set by a soft purge: the object is stale (revalidated before reuse) while fetchedAt is
   * at or before this time; a revalidation moves fetchedAt past it.
   */
  softPurgedAt?: number;
  /** Seconds the object is fresh after storedAt. */
  ttl: number;
  /** Body bytes. */
  size: number;
  /**
   * RFC 9111 state owned by the pipeline's freshness rules (http-cache-semantics
   * `CachePolicy.toObject()`); stores keep it as opaque JSON.
   */
  policy?: Record<string, unknown>;
  /**
   * Set on a Vary marker: an object with no body stored under the URL's key, naming the
   * request headers its variants vary on (lower-case). Variants live under variantKey().
   */
  vary?: string[];
  /** `Surrogate-Key` / `Cache-Tag` values, for tag purges. */
  tags?: string[];
  /**
   * Names the body stored by one fill (set when the origin's answer is stored; a 304
   * revalidation keeps it, since the body is the same). Encoded copies name the body they
   * were made from, so a copy of an older body is never served for a newer one.
   */
  bodyId?: string;
  /** Set on an encoded copy (cache-key.ts encodedKey): its coding and the bodyId it was made from. */
  encoded?: EncodedCopy;
}

/** What an encoded copy records of itself (pipeline/encoded-variants.ts makes them). */
export interface EncodedCopy {
  coding: 'br' | 'gzip';
  /** The identity object's bodyId (or its stand-in for objects stored before bodyIds). */
  from: string;
  /** The coding did not make the body smaller: the copy is empty and the identity is sent. */
  useless?: boolean;
}

export interface StoredObject {
  readonly meta: ObjectMeta;
  /**
   * The whole body, when the object is held in memory: a caller may write it directly
   * instead of opening a stream (then it need not call openBody or release).
   */
  readonly body?: Buffer;
  /** The body; takes over the object's resources (call at most once, or call release). */
  openBody(): Readable;
  /** Frees the object without reading its body. */
  release(): Promise<void>;
}

export type PutOutcome = 'stored' | 'too_large' | 'aborted';

export interface PutOptions {
  /**
   * Called once this process can read the object back through the store, when that comes
   * before the put settles: the tiered store holds a small body in memory while its index
   * entry waits for its batch's commit (a put refused there leaves memory again). Not called
   * otherwise: then the settled put is the moment.
   */
  readable?: () => void;
}

/** A body to store: a stream, or one already complete as the parts it arrived in (no stream needed). */
export type PutBody = Readable | readonly Buffer[];

/** Stops a streamed body a store gives up on (a complete one has nothing to stop). */
export function dropBody(body: PutBody): void {
  if (!Array.isArray(body)) (body as Readable).destroy();
}

export interface CacheStore {
  get(key: string): Promise<StoredObject | undefined>;
  /**
   * Consumes `body` completely and stores it under `key` only if it ends normally and
   * stays within the size limit; a failing or aborted body stores nothing. Never rejects
   * for a body problem (that is the outcome).
   */
  put(key: string, meta: Omit<ObjectMeta, 'size' | 'key'>, body: PutBody, options?: PutOptions): Promise<PutOutcome>;
  /**
   * Replaces the metadata of a stored object and keeps its body (a 304 revalidation
   * refreshes headers and freshness). Returns false when the object is gone.
   */
  updateMeta(key: string, meta: Omit<ObjectMeta, 'size' | 'key'>): Promise<boolean>;
  /** Removes the object stored under `key` (a URL's variants are separate keys). */
  delete(key: string): Promise<void>;
  /** Drops `key` from this process's memory only (another process deleted it). */
  forget?(key: string): void;
  /** Forgets every object of a customer at once (the files go in the background). */
  deleteCustomer(customerId: string): Promise<void>;
  /** Waits for background work (tests, shutdown). */
  idle(): Promise<void>;
  /** Objects, bytes and evictions, per customer where the store knows them (metrics). */
  stats?(): CacheStats;
  /** Finishes background work and releases files and handles; the store is unusable after. */
  close?(): Promise<void>;
}

export interface CacheStats {
  objects: number;
  bytes: number;
  customers: Record<string, { objects: number; bytes: number }>;
  /** Objects removed to make room, since this process started, by cause. */
  evictions: { quota: number; capacity: number; memory: number };
  memory?: { objects: number; bytes: number };
}
