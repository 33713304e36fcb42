/** ApiTokenRecord → GraphQL ApiToken (its status as of `now`). */
import type { ApiTokenRecord } from '../domain/token.types';
import { TokenStatus, toGraphqlRole, type ApiToken } from './token.type';

export function toGraphqlToken(record: ApiTokenRecord, now: number = Date.now()): ApiToken {
  const status = record.revokedAt !== null ? TokenStatus.REVOKED : record.expiresAt.getTime() <= now ? TokenStatus.EXPIRED : TokenStatus.ACTIVE;
  return {
    id: record.id,
    name: record.name,
    role: toGraphqlRole(record.role),
    customerId: record.customerId,
    status,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    revokedAt: record.revokedAt,
    createdBy: record.createdBy,
  };
}
