/** `audit_log` row → the AuditRecord services use. */
import type { AuditRecord } from '../domain/audit.types';
import type { AuditEntity } from './audit.entity';

export function toAuditRecord(row: AuditEntity): AuditRecord {
  return {
    // bigint: pg hands it back as a string.
    id: String(row.id),
    at: row.at,
    finishedAt: row.finishedAt,
    actor: { kind: row.actorKind, role: row.actorRole, tokenId: row.actorTokenId, customerId: row.actorCustomerId },
    mutation: row.mutation,
    operationName: row.operationName,
    arguments: row.arguments,
    customerId: row.customerId,
    outcome: row.outcome,
    requestId: row.requestId,
    clientIp: row.clientIp,
  };
}
