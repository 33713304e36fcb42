/**
 * The audit log as the api's GraphQL layer sees it: record that mutations are about to run,
 * then how they ended. Implemented on PostgreSQL (src/api/services/audit.service.ts); the
 * Apollo plugin that calls it (src/api/plugins/audit.plugin.ts) knows nothing of storage.
 */

/** Who ran the mutation, as authenticated. */
export interface AuditActor {
  kind: string;
  role: string;
  tokenId: string | null;
  /** The customer a customer-scoped token is bound to. */
  customerId: string | null;
}

/** One mutation root field about to run. */
export interface AuditStart {
  actor: AuditActor;
  /** The root field, e.g. `createCustomer`. */
  mutation: string;
  /** The client's operation name, if it gave one. */
  operationName: string | null;
  /** The field's arguments, secrets already removed, JSON-safe. */
  arguments: Record<string, unknown>;
  /** The customer it is about, when the arguments say. */
  customerId: string | null;
  requestId: string | null;
  clientIp: string | null;
}

/** How one recorded mutation ended. */
export interface AuditFinish {
  id: string;
  /** `OK`, or the error's GraphQL `extensions.code`. */
  outcome: string;
  /** The customer it was about, learnt from the result; null keeps what the start said. */
  customerId: string | null;
}

export interface AuditSink {
  /** Stores the entries (in one write) and returns their ids in the same order. Throws when it cannot. */
  begin(entries: readonly AuditStart[]): Promise<string[]>;
  /** Completes entries returned by `begin`. Throws when it cannot. */
  finish(outcomes: readonly AuditFinish[]): Promise<void>;
}
