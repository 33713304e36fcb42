/**
 * The `api_token` queries: rows in, ApiTokenRecord out (token.mapper.ts). A token's hash
 * leaves db/ only through `readTokenCheck`, for the verifier. Table names stay in db/.
 */
import type { Role } from '../../core/roles';
import type { ApiTokenRecord } from '../domain/token.types';
import { ApiTokenEntity } from './api-token.entity';
import type { Tx } from './database';
import { toApiTokenRecord } from './token.mapper';

/** Most tokens a list returns. */
export const TOKEN_LIST_MAX = 1000;

export async function insertToken(m: Tx, token: ApiTokenRecord & { tokenSha256: string }): Promise<ApiTokenRecord> {
  const repo = m.getRepository(ApiTokenEntity);
  const row = repo.create({
    id: token.id,
    name: token.name,
    role: token.role,
    customerId: token.customerId,
    tokenSha256: token.tokenSha256,
    createdAt: token.createdAt,
    expiresAt: token.expiresAt,
    revokedAt: token.revokedAt,
    createdBy: token.createdBy,
  });
  return toApiTokenRecord(await repo.save(row));
}

/** Newest first (ties by id), at most TOKEN_LIST_MAX: every token, or (`customerId`) one customer's. */
export async function readTokens(m: Tx, customerId: string | undefined): Promise<ApiTokenRecord[]> {
  const rows = await m
    .getRepository(ApiTokenEntity)
    .find({ where: customerId === undefined ? {} : { customerId }, order: { createdAt: 'DESC', id: 'ASC' }, take: TOKEN_LIST_MAX });
  return rows.map(toApiTokenRecord);
}

/** The token, its row locked until the transaction ends (revocations of one token queue); null: none. */
export async function lockToken(m: Tx, id: string): Promise<ApiTokenRecord | null> {
  const row = await m.getRepository(ApiTokenEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  return row ? toApiTokenRecord(row) : null;
}

export async function markTokenRevoked(m: Tx, id: string, at: Date): Promise<void> {
  await m.getRepository(ApiTokenEntity).update({ id }, { revokedAt: at });
}

/** What verifying a presented token needs of its row; null: no such token. */
export async function readTokenCheck(m: Tx, id: string): Promise<{ tokenSha256: string; name: string; expiresAt: Date; revokedAt: Date | null } | null> {
  const row = await m.getRepository(ApiTokenEntity).findOne({ where: { id }, select: { id: true, name: true, tokenSha256: true, expiresAt: true, revokedAt: true } });
  return row === null ? null : { tokenSha256: row.tokenSha256, name: row.name, expiresAt: row.expiresAt, revokedAt: row.revokedAt };
}

/** Live tokens (not revoked, not expired at `now`) per role and customer (null: platform roles). */
export async function countLiveTokens(m: Tx, now: Date): Promise<Array<{ role: Role; customerId: string | null; count: number }>> {
  const rows: Array<{ role: Role; customer_id: string | null; n: number }> = await m.query(
    `SELECT role, customer_id, count(*)::int AS n FROM api_token
      WHERE revoked_at IS NULL AND expires_at > $1 GROUP BY role, customer_id`,
    [now],
  );
  return rows.map((r) => ({ role: r.role, customerId: r.customer_id, count: r.n }));
}
