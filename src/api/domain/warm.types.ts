/** A cache warm as the api stores it, and each edge's progress with it as stored. */
import type { WarmTarget } from '../../core/warm.types';

export interface WarmRecord {
  /** UUID, assigned by the api; also the id in the `warm.requested` event. */
  id: string;
  customerId: string;
  /** Distinct targets, in the order given. */
  urls: WarmTarget[];
  /** The one edge (CDN_EDGE_ID) that warms it; null: every edge live when it was requested. */
  edgeId: string | null;
  /** The outbox seq of its `warm.requested` change: an edge past it has seen the warm. */
  seq: number;
  requestedAt: Date;
  /** Set once, when no edge of it was pending or warming any more. */
  completedAt: Date | null;
  /** Who asked: the principal's kind, and its token id when it has one. */
  requestedBy: string | null;
}

/** A `warm_edge` row's state: `pending` until the edge's first report, then the report's state. */
export type WarmEdgeStored = 'pending' | 'warming' | 'stopped' | 'done';

/** One edge's stored progress with one warm. */
export interface WarmEdgeRecord {
  warmId: string;
  /** The machine: CDN_EDGE_ID. */
  edgeId: string;
  state: WarmEdgeStored;
  done: number;
  failed: number;
  /** The fleet id of the process that reported; null before any report. */
  process: string | null;
  processStartedAt: Date | null;
  reportedAt: Date | null;
}
