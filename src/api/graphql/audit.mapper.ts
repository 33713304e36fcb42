/** AuditRecord → GraphQL AuditEntry. */
import type { AuditRecord } from '../domain/audit.types';
import { AuditActor, AuditEntry } from './audit.type';

export function toGraphqlAuditEntry(record: AuditRecord): AuditEntry {
  const actor = Object.assign(new AuditActor(), {
    kind: record.actor.kind,
    role: record.actor.role,
    tokenId: record.actor.tokenId,
    customerId: record.actor.customerId,
  });
  return Object.assign(new AuditEntry(), {
    id: record.id,
    at: record.at,
    finishedAt: record.finishedAt,
    actor,
    mutation: record.mutation,
    operationName: record.operationName,
    arguments: record.arguments,
    customerId: record.customerId,
    outcome: record.outcome,
    requestId: record.requestId,
    clientIp: record.clientIp,
  });
}
