/**
 * What the edge server needs from whoever keeps its customers current: a CustomerSource
 * (lookups by host and id) plus a lifecycle, readiness, the applied change seq and a
 * way to hear about changes (to drop a deleted customer's cache, close unused origin
 * pools). Implementations: the bus sync (sync/bus-sync.ts) and a fixed list
 * (sync/static-feed.ts). The feed never owns the bus; its caller does.
 */
import type { CustomerConfig } from '../core/customer.types';
import type { PurgeAck } from '../core/fleet.port';
import type { PurgeRequest } from '../core/purge.types';
import type { CustomerSource } from '../core/customer-source.port';
import type { WarmRequest } from '../core/warm.types';

export type CustomerFeedEvent =
  | { kind: 'upserted'; customer: CustomerConfig; previous: CustomerConfig | undefined }
  | { kind: 'deleted'; customer: CustomerConfig };

export type CustomerFeedListener = (event: CustomerFeedEvent) => void;

export interface EdgeCustomerFeed extends CustomerSource {
  /** Begins feeding; resolves once started (not once ready: see `ready`). */
  start(): Promise<void>;
  /** Stops feeding; does not close the bus. */
  stop(): Promise<void>;
  /** True once a first configuration (snapshot, file or last-known-good copy) is applied. */
  isReady(): boolean;
  /** Resolves when `isReady()` becomes true. */
  readonly ready: Promise<void>;
  /** The seq of the last change applied (0 when none, or for a static feed). */
  appliedSeq(): number;
  /** Number of customers known, without building a list. */
  count(): number;
  /** Returns the unsubscribe function. */
  subscribe(listener: CustomerFeedListener): () => void;
  /**
   * Feeds that carry purges (the bus) apply them through `applier`, in order, each durable
   * before the feed moves past its seq. startEdge attaches its purge engine before start().
   */
  attachPurges?(applier: PurgeApplier): void;
  /**
   * Feeds that follow a bus: ms since the bus was last read to its end, and whether the
   * process stalled since (readiness, see startEdge). Absent: always current (a fixed list).
   */
  busContact?(): { detachedMs: number; stalled: boolean };
  /** Feeds that follow a bus: seqs the bus holds beyond the applied one, as of the last read (metrics). */
  busLag?(): number;
  /** Hears every purge this process applied (for acks over the fleet channel). Returns the unsubscribe function. */
  onPurgeApplied?(listener: PurgeAppliedListener): () => void;
  /**
   * Feeds that follow a bus: hears every `warm.requested` this process reads, in its place
   * among the changes (edge/warm decides whether it is this edge's to warm). Warms are not in
   * the snapshot: one published before the snapshot a feed loads is never heard. Returns the
   * unsubscribe function.
   */
  onWarmRequested?(listener: (warm: WarmRequest) => void): () => void;
}

/** A purge as this edge process applied it. */
export interface PurgeApplied {
  purgeId: string;
  seq: number;
  /** Edge clock (ms) the purge took effect at (its ban time). */
  appliedAt: number;
  /** Objects removed or marked stale at once by this call (URL purges; 0 for bans and repeats). */
  objectsRemoved: number;
  /** The purge id was already applied on this edge: nothing new happened. */
  duplicate: boolean;
  /** Time this call took, ms (applyMany: the batch it was recorded in). */
  durationMs: number;
}

/** What an applied purge reports; the fleet sender adds its edgeId. */
export type PurgeAppliedAck = Omit<PurgeAck, 'edgeId'>;

export type PurgeAppliedListener = (ack: PurgeAppliedAck) => void;

/** The edge's purge engine as a feed sees it (edge/purge/purge.engine.ts). */
export interface PurgeApplier {
  /** Loads the bans persisted on this edge (idempotent; before the feed reads its first snapshot). */
  restore(): Promise<void>;
  /** In effect (recorded, visible to every process of the edge) when it resolves; idempotent by purge id. */
  apply(purge: PurgeRequest, seq: number): Promise<PurgeApplied>;
  /**
   * Several purges (consecutive ones of one bus read), each exactly as `apply` would, in
   * seq order (ids repeated in the list are applied once, the repeats reported as
   * duplicates), in few index write transactions. One PurgeApplied per item, in seq order.
   */
  applyMany(items: Array<{ purge: PurgeRequest; seq: number }>): Promise<PurgeApplied[]>;
  /** A hard ALL purge of each customer (after a gap: purges may have been missed). */
  purgeAllAfterGap(customerIds: readonly string[], seq: number): Promise<void>;
  /** Resolves when every purge applied so far is flushed to disk (before the feed saves its seq). */
  durable(): Promise<void>;
}
