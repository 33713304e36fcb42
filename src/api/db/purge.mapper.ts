/** `purge` and `purge_edge` rows → the PurgeRecord and PurgeAckRecord services use. */
import type { PurgeAckRecord, PurgeRecord } from '../domain/purge.types';
import type { PurgeEdgeEntity } from './purge-edge.entity';
import type { PurgeEntity } from './purge.entity';

export function toPurgeRecord(row: PurgeEntity): PurgeRecord {
  return {
    id: row.id,
    customerId: row.customerId,
    kind: row.kind,
    value: row.value,
    soft: row.soft,
    // bigint: a string from pg; outbox seqs stay far below 2^53.
    seq: Number(row.seq),
    requestedAt: row.requestedAt,
    completedAt: row.completedAt,
    requestedBy: row.requestedBy,
  };
}

export function toPurgeAckRecord(row: PurgeEdgeEntity): PurgeAckRecord {
  return { purgeId: row.purgeId, edgeId: row.edgeId, appliedAt: row.appliedAt, objectsRemoved: Number(row.objectsRemoved) };
}
