/**
 * What the edge server needs from whoever keeps its customers current: a TenantSource
 * (lookups by host and id) plus a lifecycle, readiness, the applied change seq and a
 * way to hear about changes (to drop a deleted customer's cache, close unused origin
 * pools). Implementations: the bus sync (sync/bus-sync.ts) and a fixed list
 * (sync/static-feed.ts). The feed never owns the bus; its caller does.
 */
import type { CustomerConfig } from '../core/customer.types';
import type { TenantSource } from '../core/tenant.port';

export type TenantFeedEvent =
  | { kind: 'upserted'; customer: CustomerConfig; previous: CustomerConfig | undefined }
  | { kind: 'deleted'; customer: CustomerConfig };

export type TenantFeedListener = (event: TenantFeedEvent) => void;

export interface EdgeTenantFeed extends TenantSource {
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
  subscribe(listener: TenantFeedListener): () => void;
}
