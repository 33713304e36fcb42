/**
 * Appends one outbox row inside the caller's transaction. The transaction-scoped
 * advisory lock is taken just before the insert and held until commit, so rows commit
 * in seq order: a reader that sees seq N has also seen every committed seq below N,
 * which is what lets the relay publish in seq order without skipping a late commit.
 */
import type { EntityManager } from 'typeorm';
import { eventCustomerId, type BusEvent } from '../../core/bus.events';
import { ChangeLogEntity } from './change-log.entity';

/** Arbitrary constant shared by every api replica; see change-relay.service.ts for the other. */
export const OUTBOX_ORDER_LOCK_KEY = 0x65_64_67_02;

export async function appendChange(m: EntityManager, event: BusEvent): Promise<number> {
  await m.query('SELECT pg_advisory_xact_lock($1)', [OUTBOX_ORDER_LOCK_KEY]);
  const customerId = eventCustomerId(event);
  const rows: Array<{ seq: string }> = await m.query(
    'INSERT INTO "change_log" ("kind", "customer_id", "payload") VALUES ($1, $2, $3) RETURNING "seq"',
    [event.kind, customerId, JSON.stringify(event)],
  );
  return Number(rows[0]!.seq);
}

export async function readChangesAfter(m: EntityManager, afterSeq: number, limit: number): Promise<ChangeLogEntity[]> {
  return m
    .getRepository(ChangeLogEntity)
    .createQueryBuilder('c')
    .where('c.seq > :after', { after: afterSeq })
    .orderBy('c.seq', 'ASC')
    .limit(limit)
    .getMany();
}

export async function maxChangeSeq(m: EntityManager): Promise<number> {
  const rows: Array<{ max: string | null }> = await m.query('SELECT max("seq") AS "max" FROM "change_log"');
  return rows[0]?.max == null ? 0 : Number(rows[0].max);
}
