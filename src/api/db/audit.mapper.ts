/** audit_log row → GraphQL AuditEntry. */
import { AuditActor, AuditEntry } from '../graphql/audit.type';
import type { AuditEntity } from './audit.entity';

export function toGraphqlAuditEntry(row: AuditEntity): AuditEntry {
  const actor = Object.assign(new AuditActor(), {
    kind: row.actorKind,
    role: row.actorRole,
    tokenId: row.actorTokenId,
    customerId: row.actorCustomerId,
  });
  return Object.assign(new AuditEntry(), {
    id: String(row.id),
    at: row.at,
    finishedAt: row.finishedAt,
    actor,
    mutation: row.mutation,
    operationName: row.operationName,
    arguments: row.arguments,
    customerId: row.customerId,
    outcome: row.outcome,
    requestId: row.requestId,
    clientIp: row.clientIp,
  });
}
