/** `api_token` row → the ApiTokenRecord services use (the token's hash stays here). */
import type { ApiTokenRecord } from '../domain/token.types';
import type { ApiTokenEntity } from './api-token.entity';

export function toApiTokenRecord(row: ApiTokenEntity): ApiTokenRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    customerId: row.customerId,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    createdBy: row.createdBy,
  };
}
