/**
 * The origin_event queries (migrations/1795630000000-origin-events.ts): the batched insert that
 * stores each transition once however many api replicas read it, a customer's latest event
 * per edge and origin, and the retention's batched delete. Table names stay in db/.
 */
import type { OriginHealthEvent } from '../../core/fleet.port';
import type { Tx } from './database';

/** Longer reasons are cut to this (the column's width). */
export const ORIGIN_EVENT_REASON_MAX_CHARS = 500;

/**
 * Inserts the events of customers that exist, skipping those already stored (same edge,
 * customer, origin and time); returns the ones this call inserted.
 */
export async function insertOriginEvents(m: Tx, events: readonly OriginHealthEvent[]): Promise<OriginHealthEvent[]> {
  if (events.length === 0) return [];
  const rows: Array<{ edge_id: string; customer_id: string; origin: string; state: 'up' | 'down'; reason: string; at: Date }> = await m.query(
    `INSERT INTO "origin_event" ("edge_id", "customer_id", "origin", "state", "reason", "at")
     SELECT e."edge_id", e."customer_id", e."origin", e."state", e."reason", e."at"
       FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[], $6::timestamptz[])
         AS e("edge_id", "customer_id", "origin", "state", "reason", "at")
      WHERE EXISTS (SELECT 1 FROM "customer" c WHERE c."id" = e."customer_id")
     ON CONFLICT ("edge_id", "customer_id", "origin", "at") DO NOTHING
     RETURNING "edge_id", "customer_id", "origin", "state", "reason", "at"`,
    [
      events.map((e) => e.edgeId),
      events.map((e) => e.customerId),
      events.map((e) => e.origin),
      events.map((e) => e.state),
      events.map((e) => e.reason.slice(0, ORIGIN_EVENT_REASON_MAX_CHARS)),
      events.map((e) => e.at),
    ],
  );
  return rows.map(toEvent);
}

/** The newest event of each (edge, origin) of one customer. */
export async function readLatestOriginEvents(m: Tx, customerId: string): Promise<OriginHealthEvent[]> {
  const rows = await m.query(
    `SELECT DISTINCT ON ("edge_id", "origin") "edge_id", "customer_id", "origin", "state", "reason", "at"
       FROM "origin_event" WHERE "customer_id" = $1
      ORDER BY "edge_id", "origin", "at" DESC`,
    [customerId],
  );
  return rows.map(toEvent);
}

/** Deletes up to `batch` events older than `cutoff`; returns how many. */
export async function deleteOriginEventsBefore(m: Tx, cutoff: Date, batch: number): Promise<number> {
  // Wrapped in a SELECT: TypeORM answers a bare DELETE with [rows, count] instead of rows.
  const rows: Array<{ n: number }> = await m.query(
    `WITH d AS (DELETE FROM "origin_event" WHERE "id" IN (SELECT "id" FROM "origin_event" WHERE "at" < $1 ORDER BY "at" LIMIT $2) RETURNING 1)
     SELECT count(*)::int AS "n" FROM d`,
    [cutoff, batch],
  );
  return rows[0]!.n;
}

function toEvent(row: { edge_id: string; customer_id: string; origin: string; state: 'up' | 'down'; reason: string; at: Date | string }): OriginHealthEvent {
  return { edgeId: row.edge_id, customerId: row.customer_id, origin: row.origin, state: row.state, reason: row.reason, at: new Date(row.at).toISOString() };
}
