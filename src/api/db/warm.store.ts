/**
 * The warm queries: rows in, WarmRecord / WarmEdgeRecord out (warm.mapper.ts). Among them
 * those that need SQL rather than a repository call: the reports' batched upsert that only
 * ever moves an edge's row forward; the once-only completion stamp and the newest-first page
 * are fleet-request.queries.ts, shared with purges. Table names stay in db/.
 */
import { In, IsNull } from 'typeorm';
import type { WarmReport } from '../../core/fleet.port';
import type { WarmEdgeRecord, WarmRecord } from '../domain/warm.types';
import type { Tx } from './database';
import { markRequestCompleted, readRequestPage } from './fleet-request.queries';
import { WarmEdgeEntity } from './warm-edge.entity';
import { toWarmEdgeRecord, toWarmRecord } from './warm.mapper';
import { WarmEntity } from './warm.entity';

/** How far a row is: its state first, then the URLs it has been through. */
const RANK = `CASE %s WHEN 'pending' THEN 0 WHEN 'warming' THEN 1 WHEN 'stopped' THEN 2 ELSE 3 END`;

export async function insertWarm(m: Tx, warm: WarmRecord, edgeIds: readonly string[]): Promise<void> {
  await m.insert(
    WarmEntity,
    Object.assign(new WarmEntity(), {
      id: warm.id,
      customerId: warm.customerId,
      edgeId: warm.edgeId,
      urls: warm.urls,
      urlCount: warm.urls.length,
      seq: String(warm.seq),
      requestedAt: warm.requestedAt,
      completedAt: warm.completedAt,
      requestedBy: warm.requestedBy,
    }),
  );
  if (edgeIds.length === 0) return;
  await m.insert(
    WarmEdgeEntity,
    edgeIds.map((edgeId) =>
      Object.assign(new WarmEdgeEntity(), { warmId: warm.id, edgeId, state: 'pending', urlsDone: 0, urlsFailed: 0, processId: null, processStartedAt: null, reportedAt: null }),
    ),
  );
}

/**
 * Stores reports (at most one per warm and edge: the caller keeps the furthest of a batch),
 * each only if it is further than what is stored (state, then URLs through), skipping those
 * of warms that do not exist (customer deleted). Returns the ids of the warms whose rows moved.
 */
export async function upsertWarmReports(m: Tx, reports: readonly WarmReport[]): Promise<string[]> {
  if (reports.length === 0) return [];
  const rows: Array<{ warm_id: string }> = await m.query(
    `INSERT INTO "warm_edge" ("warm_id", "edge_id", "state", "urls_done", "urls_failed", "process_id", "process_started_at", "reported_at")
     SELECT r."warm_id", r."edge_id", r."state", r."urls_done", r."urls_failed", r."process_id", r."process_started_at", r."reported_at"
       FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::integer[], $5::integer[], $6::varchar[], $7::timestamptz[], $8::timestamptz[])
         AS r("warm_id", "edge_id", "state", "urls_done", "urls_failed", "process_id", "process_started_at", "reported_at")
      WHERE EXISTS (SELECT 1 FROM "warm" w WHERE w."id" = r."warm_id")
     ON CONFLICT ("warm_id", "edge_id") DO UPDATE
        SET "state" = EXCLUDED."state", "urls_done" = EXCLUDED."urls_done", "urls_failed" = EXCLUDED."urls_failed",
            "process_id" = EXCLUDED."process_id", "process_started_at" = EXCLUDED."process_started_at", "reported_at" = EXCLUDED."reported_at"
      WHERE (${RANK.replace('%s', 'EXCLUDED."state"')}, EXCLUDED."urls_done" + EXCLUDED."urls_failed")
          > (${RANK.replace('%s', '"warm_edge"."state"')}, "warm_edge"."urls_done" + "warm_edge"."urls_failed")
     RETURNING "warm_id"`,
    [
      reports.map((r) => r.warmId),
      reports.map((r) => r.edgeId),
      reports.map((r) => r.state),
      reports.map((r) => r.done),
      reports.map((r) => r.failed),
      reports.map((r) => r.process),
      reports.map((r) => r.processStartedAt),
      reports.map((r) => r.at),
    ],
  );
  return [...new Set(rows.map((r) => r.warm_id))];
}

/** Every edge row of these warms, by warm id then edge id. */
export async function readWarmEdges(m: Tx, warmIds: readonly string[]): Promise<WarmEdgeRecord[]> {
  if (warmIds.length === 0) return [];
  const rows = await m.getRepository(WarmEdgeEntity).find({ where: { warmId: In([...warmIds]) }, order: { warmId: 'ASC', edgeId: 'ASC' } });
  return rows.map(toWarmEdgeRecord);
}

/** Stamps completion unless already stamped; returns the stamp that stands (null: warm gone). */
export function markWarmCompleted(m: Tx, id: string, at: Date): Promise<Date | null> {
  return markRequestCompleted(m, WarmEntity, id, at);
}

/** Those of the warms `ids` that are stored and not yet complete. */
export async function readOpenWarms(m: Tx, ids: readonly string[]): Promise<WarmRecord[]> {
  if (ids.length === 0) return [];
  const rows = await m.getRepository(WarmEntity).findBy({ id: In([...ids]), completedAt: IsNull() });
  return rows.map(toWarmRecord);
}

export async function findWarm(m: Tx, id: string): Promise<WarmRecord | null> {
  const row = await m.getRepository(WarmEntity).findOne({ where: { id } });
  return row ? toWarmRecord(row) : null;
}

/** One page of a customer's warms, newest first (ties by id), after the warm `afterId` (fleet-request.queries.ts). */
export async function readWarmPage(m: Tx, customerId: string, afterId: string | null, limit: number): Promise<WarmRecord[]> {
  return (await readRequestPage(m, WarmEntity, customerId, afterId, limit)).map(toWarmRecord);
}

export function countWarms(m: Tx, customerId: string): Promise<number> {
  return m.getRepository(WarmEntity).countBy({ customerId });
}
