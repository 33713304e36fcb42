/** A purge as the api stores it, and the acks edges sent for it. */
import type { PurgeKind } from '../../core/purge.types';

export interface PurgeRecord {
  /** UUID, assigned by the api; also the id in the `purge.requested` event. */
  id: string;
  customerId: string;
  kind: PurgeKind;
  /** Path, prefix or tag; null for ALL. */
  value: string | null;
  soft: boolean;
  /** The outbox seq of its `purge.requested` change: an edge at or past it has applied the purge. */
  seq: number;
  requestedAt: Date;
  /** Set once, when every live edge had applied it. */
  completedAt: Date | null;
  /** Who asked: the principal's kind, and its token id when it has one. */
  requestedBy: string | null;
}

/** One edge's stored acknowledgement of one purge. */
export interface PurgeAckRecord {
  purgeId: string;
  edgeId: string;
  appliedAt: Date;
  objectsRemoved: number;
}
