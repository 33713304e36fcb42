/**
 * The purge queries: rows in, PurgeRecord / PurgeAckRecord out (purge.mapper.ts). Among
 * them those that need SQL rather than a repository call: the acks' batched, idempotent
 * insert and the relay's per-customer purge seqs; the once-only completion stamp and the
 * newest-first page are fleet-request.queries.ts, shared with warms. Table names stay in db/.
 */
import { In, IsNull, MoreThanOrEqual } from 'typeorm';
import type { PurgeAck } from '../../core/fleet.port';
import type { PurgeAckRecord, PurgeRecord } from '../domain/purge.types';
import type { Tx } from './database';
import { markRequestCompleted, readRequestPage } from './fleet-request.queries';
import { PurgeEdgeEntity } from './purge-edge.entity';
import { toPurgeAckRecord, toPurgeRecord } from './purge.mapper';
import { PurgeEntity } from './purge.entity';

/** Longest edge id the `purge_edge` table holds. */
export const EDGE_ID_MAX_CHARS = 200;

/**
 * Inserts acks, skipping those already stored (another api replica, or this one before a
 * restart, stored them first) and those of purges that do not exist (customer deleted).
 * Returns how many rows were new.
 */
export async function insertPurgeAcks(m: Tx, acks: readonly PurgeAck[]): Promise<number> {
  if (acks.length === 0) return 0;
  const rows: unknown[] = await m.query(
    `INSERT INTO "purge_edge" ("purge_id", "edge_id", "applied_at", "objects_removed")
     SELECT a."purge_id", a."edge_id", a."applied_at", a."objects_removed"
       FROM unnest($1::uuid[], $2::varchar[], $3::timestamptz[], $4::bigint[]) AS a("purge_id", "edge_id", "applied_at", "objects_removed")
      WHERE EXISTS (SELECT 1 FROM "purge" p WHERE p."id" = a."purge_id")
     ON CONFLICT ("purge_id", "edge_id") DO NOTHING
     RETURNING "purge_id"`,
    [acks.map((a) => a.purgeId), acks.map((a) => a.edgeId), acks.map((a) => a.appliedAt), acks.map((a) => String(a.objectsRemoved))],
  );
  return rows.length;
}

/** The ids among `ids` that name a stored purge. */
export async function existingPurgeIds(m: Tx, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await m.getRepository(PurgeEntity).find({ where: { id: In([...ids]) }, select: { id: true } });
  return rows.map((r) => r.id);
}

/**
 * Locks the customer's row against deletion (and key changes) until the transaction ends;
 * false when there is no such customer.
 */
export async function lockCustomerRow(m: Tx, customerId: string): Promise<boolean> {
  const rows: unknown[] = await m.query(`SELECT 1 FROM "customer" WHERE "id" = $1 FOR KEY SHARE`, [customerId]);
  return rows.length > 0;
}

/** Stamps completion unless already stamped; returns the stamp that stands (null: purge gone). */
export function markPurgeCompleted(m: Tx, id: string, at: Date): Promise<Date | null> {
  return markRequestCompleted(m, PurgeEntity, id, at);
}

/** Every ack stored for these purges, by purge id then edge id. */
export async function readPurgeAcks(m: Tx, purgeIds: readonly string[]): Promise<PurgeAckRecord[]> {
  if (purgeIds.length === 0) return [];
  const rows = await m.getRepository(PurgeEdgeEntity).find({ where: { purgeId: In([...purgeIds]) }, order: { purgeId: 'ASC', edgeId: 'ASC' } });
  return rows.map(toPurgeAckRecord);
}

/** Per existing customer, the seq of its latest purge (customers never purged are absent). */
export async function latestPurgeSeqs(m: Tx): Promise<Record<string, number>> {
  const rows: Array<{ customer_id: string; seq: string }> = await m.query(
    `SELECT p."customer_id", max(p."seq") AS "seq"
       FROM "purge" p JOIN "customer" c ON c."id" = p."customer_id"
      GROUP BY p."customer_id" ORDER BY p."customer_id"`,
  );
  return Object.fromEntries(rows.map((r) => [r.customer_id, Number(r.seq)]));
}

/** One page of a customer's purges, newest first (ties by id), after the purge `afterId` (fleet-request.queries.ts). */
export async function readPurgePage(m: Tx, customerId: string, afterId: string | null, limit: number): Promise<PurgeRecord[]> {
  return (await readRequestPage(m, PurgeEntity, customerId, afterId, limit)).map(toPurgeRecord);
}

/** How many purges the customer has. */
export function countPurges(m: Tx, customerId: string): Promise<number> {
  return m.getRepository(PurgeEntity).countBy({ customerId });
}

export async function findPurge(m: Tx, id: string): Promise<PurgeRecord | null> {
  const row = await m.getRepository(PurgeEntity).findOne({ where: { id } });
  return row ? toPurgeRecord(row) : null;
}

/** Those of the purges `ids` that are stored and not yet complete. */
export async function readOpenPurges(m: Tx, ids: readonly string[]): Promise<PurgeRecord[]> {
  const rows = await m.getRepository(PurgeEntity).findBy({ id: In([...ids]), completedAt: IsNull() });
  return rows.map(toPurgeRecord);
}

/** Ids of the purges not yet complete that were asked for at or after `since`, oldest first (at most `limit`). */
export async function recentOpenPurgeIds(m: Tx, since: Date, limit: number): Promise<string[]> {
  const rows = await m.getRepository(PurgeEntity).find({ select: { id: true }, where: { completedAt: IsNull(), requestedAt: MoreThanOrEqual(since) }, order: { requestedAt: 'ASC' }, take: limit });
  return rows.map((r) => r.id);
}

export async function insertPurge(m: Tx, purge: PurgeRecord): Promise<void> {
  await m.insert(
    PurgeEntity,
    Object.assign(new PurgeEntity(), {
      id: purge.id,
      customerId: purge.customerId,
      kind: purge.kind,
      value: purge.value,
      soft: purge.soft,
      seq: String(purge.seq),
      requestedAt: purge.requestedAt,
      completedAt: purge.completedAt,
      requestedBy: purge.requestedBy,
    }),
  );
}
