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

// Webhooks as the api keeps them: the receivers, and their deliveries from the outbox.

/** A receiver. Its secret stays sealed here; only createWebhook's answer shows it. */
export interface WebhookRecord {
  id: string;
  /** null: fleet-wide (every customer's events and the fleet's own), admins only. */
  customerId: string | null;
  url: string;
  events: WebhookEventType[];
  enabled: boolean;
  description: string;
  createdAt: Date;
  updatedAt: Date;
}

export type WebhookDeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED';

export interface WebhookDeliveryRecord {
  id: string;
  webhookId: string;
  eventId: string;
  /** `webhook.test` for testWebhook's deliveries. */
  eventType: string;
  customerId: string | null;
  occurredAt: Date;
  status: WebhookDeliveryStatus;
  attempts: number;
  /** PENDING: when it is tried next (or, while an api is sending it, when its lease ends). */
  nextAttemptAt: Date;
  lastAttemptAt: Date | null;
  /** The receiver's HTTP status of the last attempt; null when it never answered. */
  lastStatus: number | null;
  /** Why the last attempt failed (timeout, refused address, status...); null after success. */
  lastError: string | null;
  /** The start of the receiver's last answer body (bounded). */
  lastResponse: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** What the dispatcher sends: one claimed delivery with its event and its webhook. */
export interface ClaimedDelivery {
  deliveryId: string;
  attempts: number;
  createdAt: Date;
  webhook: { id: string; url: string; secretCiphertext: string };
  event: { id: string; type: string; customerId: string | null; occurredAt: Date; data: Record<string, unknown> };
}
