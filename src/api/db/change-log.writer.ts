/**
 * The `change_log` outbox. `appendChange` adds one row inside the caller's transaction. The
 * transaction-scoped advisory lock is taken just before the insert and held until commit, so
 * rows commit in seq order: a reader that sees seq N has also seen every committed seq below
 * N, which is what lets the relay publish in seq order without skipping a late commit. The
 * relay's side: its own lock (one pass at a time across replicas), the rows after a seq, the
 * newest seq.
 */
import { eventCustomerId, type BusEvent, type Change } from '../../core/bus.events';
import { ChangeLogEntity } from './change-log.entity';
import type { Tx } from './database';

/** Arbitrary constant shared by every api replica. */
export const OUTBOX_ORDER_LOCK_KEY = 0x65_64_67_02;
/** Arbitrary constant, distinct from the outbox order lock. */
export const RELAY_LOCK_KEY = 0x65_64_67_03;

export async function appendChange(m: Tx, event: BusEvent): Promise<number> {
  await m.query('SELECT pg_advisory_xact_lock($1)', [OUTBOX_ORDER_LOCK_KEY]);
  const customerId = eventCustomerId(event);
  const rows: Array<{ seq: string }> = await m.query(
    'INSERT INTO "change_log" ("kind", "customer_id", "payload") VALUES ($1, $2, $3) RETURNING "seq"',
    [event.kind, customerId, JSON.stringify(event)],
  );
  return Number(rows[0]!.seq);
}

/** Up to `limit` committed changes after `afterSeq`, in seq order (their prevSeq is the relay's to link). */
export async function readChangesAfter(m: Tx, afterSeq: number, limit: number): Promise<Array<Omit<Change, 'prevSeq'>>> {
  const rows = await m
    .getRepository(ChangeLogEntity)
    .createQueryBuilder('c')
    .where('c.seq > :after', { after: afterSeq })
    .orderBy('c.seq', 'ASC')
    .limit(limit)
    .getMany();
  return rows.map((row) => ({ seq: Number(row.seq), at: row.createdAt.toISOString(), event: row.payload }));
}

export async function maxChangeSeq(m: Tx): Promise<number> {
  const rows: Array<{ max: string | null }> = await m.query('SELECT max("seq") AS "max" FROM "change_log"');
  return rows[0]?.max == null ? 0 : Number(rows[0].max);
}

/**
 * Takes the relay's lock for the rest of the transaction, without waiting: false when
 * another pass (on any replica) holds it.
 */
export async function tryRelayLock(m: Tx): Promise<boolean> {
  const [row] = (await m.query('SELECT pg_try_advisory_xact_lock($1) AS "locked"', [RELAY_LOCK_KEY])) as Array<{ locked: boolean }>;
  return Boolean(row?.locked);
}
