/** `warm` and `warm_edge` rows → the WarmRecord and WarmEdgeRecord services use. */
import type { WarmEdgeRecord, WarmRecord } from '../domain/warm.types';
import type { WarmEdgeEntity } from './warm-edge.entity';
import type { WarmEntity } from './warm.entity';

export function toWarmRecord(row: WarmEntity): WarmRecord {
  return {
    id: row.id,
    customerId: row.customerId,
    urls: row.urls,
    edgeId: row.edgeId,
    // bigint: a string from pg; outbox seqs stay far below 2^53.
    seq: Number(row.seq),
    requestedAt: row.requestedAt,
    completedAt: row.completedAt,
    requestedBy: row.requestedBy,
  };
}

export function toWarmEdgeRecord(row: WarmEdgeEntity): WarmEdgeRecord {
  return {
    warmId: row.warmId,
    edgeId: row.edgeId,
    state: row.state,
    done: row.urlsDone,
    failed: row.urlsFailed,
    process: row.processId,
    processStartedAt: row.processStartedAt,
    reportedAt: row.reportedAt,
  };
}
