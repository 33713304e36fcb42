/**
 * Webhook events (issue 16): the facts the api's services report, which webhooks carry to
 * customers' and operators' receivers. Services emit them through `WebhookEvents`
 * (services/webhook-*.ts implements it: each event lands in PostgreSQL, then one delivery per
 * subscribed webhook leaves from that outbox); the webhook parts alone know about receivers.
 */

/** Every event a webhook may subscribe to (GraphQL enum WebhookEventType spells them in capitals, dots as underscores). */
export const WEBHOOK_EVENT_TYPES = [
  'purge.completed',
  'customer.changed',
  'origin.down',
  'origin.up',
  'certificate.issued',
  'certificate.expiring',
  'certificate.failed',
  'alert.fired',
  'alert.resolved',
  'quota.reached',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** One fact, as a service reports it. */
export interface WebhookEventInput {
  type: WebhookEventType;
  /** The customer it is about; null for a fleet-wide fact (only admins' fleet-wide webhooks get those). */
  customerId: string | null;
  /**
   * The same fact reported twice (two api replicas both saw a purge complete, an origin go
   * down) is one event: stored once per key. E.g. `purge.completed:<purge id>`,
   * `origin.down:<customer>:<origin>:<edge>:<since>`, `alert.fired:<rule id>:<fired at>`.
   */
  dedupKey: string;
  /** When it happened (not when it was reported). */
  occurredAt: Date;
  /** The event's own fields, JSON-serialisable, no secrets (it goes to receivers as `data`). */
  data: Record<string, unknown>;
}

/** Where services report webhook events. Resolves once they are stored (durable): never loses one that resolved. */
export interface WebhookEvents {
  emit(events: readonly WebhookEventInput[]): Promise<void>;
}

/** For a role wired without webhooks (tests of other parts): reports go nowhere. */
export const NO_WEBHOOK_EVENTS: WebhookEvents = Object.freeze({ emit: async () => {} });
