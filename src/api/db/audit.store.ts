/**
 * The audit log's queries: the start and end of each recorded mutation, the newest-first
 * page (optionally one customer's) and the retention sweep in batches. Table names stay in db/.
 */
import type { AuditFinish, AuditStart } from '../../core/audit.port';
import type { AuditRecord } from '../domain/audit.types';
import { AuditEntity } from './audit.entity';
import { toAuditRecord } from './audit.mapper';
import type { Tx } from './database';

/** Inserts one row per entry, outcome NULL; returns the ids in the entries' order. */
export async function insertAuditStarts(m: Tx, entries: readonly AuditStart[]): Promise<string[]> {
  const ids: string[] = [];
  // One statement per entry keeps ids and entries paired without relying on RETURNING order;
  // an operation has one root field almost always, and a few at most (audit.plugin.ts caps them).
  for (const e of entries) {
    const rows: Array<{ id: string }> = await m.query(
      `INSERT INTO "audit_log" ("actor_kind", "actor_role", "actor_token_id", "actor_customer_id", "operation_name",
                                "mutation", "arguments", "customer_id", "request_id", "client_ip")
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10) RETURNING "id"`,
      [
        e.actor.kind,
        e.actor.role,
        e.actor.tokenId,
        e.actor.customerId,
        e.operationName,
        e.mutation,
        JSON.stringify(e.arguments),
        e.customerId,
        e.requestId,
        e.clientIp,
      ],
    );
    ids.push(String(rows[0]!.id));
  }
  return ids;
}

/** Records outcomes; a customer id learnt from the result fills one the start did not know. */
export async function updateAuditOutcomes(m: Tx, outcomes: readonly AuditFinish[]): Promise<void> {
  for (const o of outcomes) {
    await m.query(
      `UPDATE "audit_log" SET "outcome" = $2, "finished_at" = now(), "customer_id" = COALESCE("customer_id", $3) WHERE "id" = $1`,
      [o.id, o.outcome, o.customerId],
    );
  }
}

/** Up to `limit` entries, newest first, after the entry `afterId`, of one customer or all. */
export async function readAuditPage(m: Tx, customerId: string | null, afterId: string | null, limit: number): Promise<AuditRecord[]> {
  const qb = m.getRepository(AuditEntity).createQueryBuilder('a');
  if (customerId !== null) qb.andWhere('a.customer_id = :customerId', { customerId });
  if (afterId !== null) qb.andWhere('a.id < :afterId', { afterId });
  return (await qb.orderBy('a.id', 'DESC').limit(limit).getMany()).map(toAuditRecord);
}

/** Deletes up to `batch` entries that started before `cutoff`; returns how many it deleted. */
export async function deleteAuditBefore(m: Tx, cutoff: Date, batch: number): Promise<number> {
  // Wrapped in a SELECT: TypeORM answers a bare DELETE with [rows, count] instead of rows.
  const rows: Array<{ n: number }> = await m.query(
    `WITH d AS (DELETE FROM "audit_log" WHERE "id" IN (SELECT "id" FROM "audit_log" WHERE "at" < $1 ORDER BY "at" LIMIT $2) RETURNING 1)
     SELECT count(*)::int AS "n" FROM d`,
    [cutoff, batch],
  );
  return rows[0]!.n;
}
