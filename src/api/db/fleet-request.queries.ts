/**
 * The queries purges and warms share — the tables of requests the api hands to every edge
 * and follows to completion (`purge`, `warm`: an id, a customer, `requested_at`,
 * `completed_at`): the newest-first page and the once-only completion stamp. One copy, so
 * a fix to the cursor or to the stamp's race reaches both stores; the stores map the rows.
 */
import type { EntityTarget } from 'typeorm';
import type { Tx } from './database';

/** What these queries read of a request row. */
export interface FleetRequestRow {
  id: string;
  customerId: string;
  requestedAt: Date;
  completedAt: Date | null;
}

/**
 * One page of a customer's requests, newest first (ties by id), after the request `afterId`.
 * The position is read from that request's row, so the cursor is exact whatever the
 * timestamp precision. Returns up to `limit` rows.
 */
export async function readRequestPage<T extends FleetRequestRow>(m: Tx, entity: EntityTarget<T>, customerId: string, afterId: string | null, limit: number): Promise<T[]> {
  const repository = m.getRepository(entity);
  const table = repository.metadata.tableName;
  const qb = repository.createQueryBuilder('r').where('r.customer_id = :customerId', { customerId });
  if (afterId !== null) {
    qb.andWhere(
      `(r.requested_at < (SELECT a.requested_at FROM "${table}" a WHERE a.id = :afterId)
        OR (r.requested_at = (SELECT a.requested_at FROM "${table}" a WHERE a.id = :afterId) AND r.id > :afterId))`,
      { afterId },
    );
  }
  return qb.orderBy('r.requested_at', 'DESC').addOrderBy('r.id', 'ASC').limit(limit).getMany();
}

/**
 * Stamps completion unless already stamped; returns the stamp that stands (null: request
 * gone). Api replicas race to stamp: the one whose update found `completed_at` empty wins,
 * the others read its stamp back.
 */
export async function markRequestCompleted(m: Tx, entity: EntityTarget<FleetRequestRow>, id: string, at: Date): Promise<Date | null> {
  const result = await m.createQueryBuilder().update(entity).set({ completedAt: at }).where('id = :id AND completed_at IS NULL', { id }).execute();
  if (result.affected) return at;
  const row = await m.getRepository(entity).findOne({ where: { id }, select: { id: true, completedAt: true } });
  return row?.completedAt ?? null;
}
