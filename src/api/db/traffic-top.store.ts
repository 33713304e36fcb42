/**
 * The top URL queries (migrations/1795720000000-traffic-top.ts): the batched insert that stores
 * each edge process's minute summary once however many api replicas read it, the merge of a
 * customer's summaries over a window (in SQL: a day of minutes from many edges is too many rows
 * to fetch), and the retention's batched delete. Table names stay in db/.
 */
import type { Tx } from './database';

/** One edge process's summary of one customer's minute, as the stats report carried it. */
export interface TrafficTopRow {
  customerId: string;
  edgeId: string;
  /** ISO start of the minute. */
  minute: string;
  requests: number;
  floor: number;
  paths: ReadonlyArray<{ key: string; count: number; error: number }>;
  statuses: ReadonlyArray<{ status: number; count: number }>;
}

export interface MergedPathRow {
  path: string;
  count: number;
  error: number;
  missing: number;
}

export interface TrafficTopWindow {
  /** Summaries in the window (edge processes × minutes). */
  summaries: number;
  requests: number;
  /** The sum of every summary's floor: what a path in none of them may have had at most. */
  floors: number;
  paths: MergedPathRow[];
  statuses: Array<{ status: number; count: number }>;
}

/**
 * Inserts the summaries of customers that exist, skipping those already stored (same customer,
 * minute and edge), and the entries of the ones this call inserted; returns how many summaries
 * it inserted. Entries of a summary another replica stored are its entries already.
 */
export async function insertTrafficTops(m: Tx, rows: readonly TrafficTopRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const inserted: Array<{ customer_id: string; minute: Date | string; edge_id: string }> = await m.query(
    `INSERT INTO "traffic_top_summary" ("customer_id", "minute", "edge_id", "requests", "floor")
     SELECT s."customer_id", s."minute", s."edge_id", s."requests", s."floor"
       FROM unnest($1::varchar[], $2::timestamptz[], $3::varchar[], $4::bigint[], $5::bigint[])
         AS s("customer_id", "minute", "edge_id", "requests", "floor")
      WHERE EXISTS (SELECT 1 FROM "customer" c WHERE c."id" = s."customer_id")
     ON CONFLICT ("customer_id", "minute", "edge_id") DO NOTHING
     RETURNING "customer_id", "minute", "edge_id"`,
    [rows.map((r) => r.customerId), rows.map((r) => r.minute), rows.map((r) => r.edgeId), rows.map((r) => r.requests), rows.map((r) => r.floor)],
  );
  if (inserted.length === 0) return 0;
  const mine = new Set(inserted.map((r) => summaryKey(r.customer_id, new Date(r.minute).toISOString(), r.edge_id)));
  const c: string[] = [];
  const mi: string[] = [];
  const e: string[] = [];
  const kind: string[] = [];
  const key: string[] = [];
  const count: number[] = [];
  const error: number[] = [];
  const push = (r: TrafficTopRow, k: 'path' | 'status', entryKey: string, n: number, err: number): void => {
    c.push(r.customerId);
    mi.push(r.minute);
    e.push(r.edgeId);
    kind.push(k);
    key.push(entryKey);
    count.push(n);
    error.push(err);
  };
  for (const r of rows) {
    if (!mine.delete(summaryKey(r.customerId, new Date(r.minute).toISOString(), r.edgeId))) continue;
    for (const p of r.paths) push(r, 'path', p.key, p.count, p.error);
    for (const s of r.statuses) push(r, 'status', String(s.status), s.count, 0);
  }
  if (c.length > 0) {
    await m.query(
      `INSERT INTO "traffic_top_entry" ("customer_id", "minute", "edge_id", "kind", "key", "count", "error")
       SELECT * FROM unnest($1::varchar[], $2::timestamptz[], $3::varchar[], $4::varchar[], $5::varchar[], $6::bigint[], $7::bigint[])
       ON CONFLICT DO NOTHING`,
      [c, mi, e, kind, key, count, error],
    );
  }
  return inserted.length;
}

/**
 * One customer's summaries with a minute in [from, to), merged: requests, the `first` paths by
 * summed count (ties by path, byte order) with their summed error and `missing` — the floors of
 * the summaries that did not list the path (core/top-k.ts mergeTop, the same rule) — and the
 * exact status counts, most first.
 */
export async function readTrafficTop(m: Tx, customerId: string, from: Date, to: Date, first: number): Promise<TrafficTopWindow> {
  const totals: Array<{ summaries: number; requests: string | null; floors: string | null }> = await m.query(
    `SELECT count(*)::int AS "summaries", sum("requests")::text AS "requests", sum("floor")::text AS "floors"
       FROM "traffic_top_summary" WHERE "customer_id" = $1 AND "minute" >= $2 AND "minute" < $3`,
    [customerId, from, to],
  );
  const total = totals[0]!;
  if (total.summaries === 0) return { summaries: 0, requests: 0, floors: 0, paths: [], statuses: [] };
  const floors = Number(total.floors ?? 0);
  const paths: Array<{ key: string; count: string; error: string; floors: string }> = await m.query(
    `SELECT e."key", sum(e."count")::text AS "count", sum(e."error")::text AS "error", sum(s."floor")::text AS "floors"
       FROM "traffic_top_entry" e
       JOIN "traffic_top_summary" s USING ("customer_id", "minute", "edge_id")
      WHERE e."customer_id" = $1 AND e."minute" >= $2 AND e."minute" < $3 AND e."kind" = 'path'
      GROUP BY e."key"
      ORDER BY sum(e."count") DESC, e."key" COLLATE "C"
      LIMIT $4`,
    [customerId, from, to, first],
  );
  const statuses: Array<{ key: string; count: string }> = await m.query(
    `SELECT "key", sum("count")::text AS "count"
       FROM "traffic_top_entry"
      WHERE "customer_id" = $1 AND "minute" >= $2 AND "minute" < $3 AND "kind" = 'status'
      GROUP BY "key"
      ORDER BY sum("count") DESC, "key"`,
    [customerId, from, to],
  );
  return {
    summaries: total.summaries,
    requests: Number(total.requests ?? 0),
    floors,
    paths: paths.map((p) => ({ path: p.key, count: Number(p.count), error: Number(p.error), missing: floors - Number(p.floors) })),
    statuses: statuses.map((s) => ({ status: Number(s.key), count: Number(s.count) })),
  };
}

/** Deletes up to `batch` summaries (their entries with them) of minutes before `cutoff`; returns how many. */
export async function deleteTrafficTopsBefore(m: Tx, cutoff: Date, batch: number): Promise<number> {
  // Wrapped in a SELECT: TypeORM answers a bare DELETE with [rows, count] instead of rows.
  const rows: Array<{ n: number }> = await m.query(
    `WITH d AS (
       DELETE FROM "traffic_top_summary" WHERE ("customer_id", "minute", "edge_id") IN (
         SELECT "customer_id", "minute", "edge_id" FROM "traffic_top_summary" WHERE "minute" < $1 ORDER BY "minute" LIMIT $2)
       RETURNING 1)
     SELECT count(*)::int AS "n" FROM d`,
    [cutoff, batch],
  );
  return rows[0]!.n;
}

function summaryKey(customerId: string, minute: string, edgeId: string): string {
  return `${customerId}\u0000${minute}\u0000${edgeId}`;
}
