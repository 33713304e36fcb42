/** One entry of the audit log as stored: a mutation root field, who ran it, how it ended. */
import type { AuditActor } from '../../core/audit.port';

export interface AuditRecord {
  /** Decimal; also the newest-first order. */
  id: string;
  /** When the mutation was about to run. */
  at: Date;
  /** When its outcome was recorded; null: never seen to end. */
  finishedAt: Date | null;
  actor: AuditActor;
  mutation: string;
  operationName: string | null;
  /** Redacted before it was stored (plugins/audit.plugin.ts). */
  arguments: Record<string, unknown>;
  customerId: string | null;
  /** `OK` or a GraphQL error code; null until finished. */
  outcome: string | null;
  requestId: string | null;
  clientIp: string | null;
}
