/** AuditRecord → GraphQL AuditEntry. */
import type { AuditRecord } from '../domain/audit.types';
import { AuditActor, AuditEntry } from './audit.type';

/**
 * `forCustomer`: the reader is a customer's token (its own log). The platform's staff stay
 * anonymous there: of a platform actor it sees the role, not the token id or the IP address.
 */
export function toGraphqlAuditEntry(record: AuditRecord, options: { forCustomer?: boolean } = {}): AuditEntry {
  const staff = options.forCustomer === true && record.actor.customerId == null;
  const actor = Object.assign(new AuditActor(), {
    kind: record.actor.kind,
    role: record.actor.role,
    tokenId: staff ? null : record.actor.tokenId,
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
    clientIp: staff ? null : record.clientIp,
  });
}
