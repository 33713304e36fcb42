/** Webhooks in GraphQL: receivers, their deliveries, and the event types (the secret appears once, in NewWebhook). */
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType as CoreEventType } from '../domain/webhook.types';
import type { WebhookDeliveryRecord, WebhookRecord } from '../domain/webhook.types';
import { PageInfo } from './customer-connection.type';

/** WEBHOOK_EVENT_TYPES in capitals, dots as underscores. */
export enum WebhookEventType {
  PURGE_COMPLETED = 'PURGE_COMPLETED',
  CUSTOMER_CHANGED = 'CUSTOMER_CHANGED',
  ORIGIN_DOWN = 'ORIGIN_DOWN',
  ORIGIN_UP = 'ORIGIN_UP',
  CERTIFICATE_ISSUED = 'CERTIFICATE_ISSUED',
  CERTIFICATE_EXPIRING = 'CERTIFICATE_EXPIRING',
  CERTIFICATE_FAILED = 'CERTIFICATE_FAILED',
  ALERT_FIRED = 'ALERT_FIRED',
  ALERT_RESOLVED = 'ALERT_RESOLVED',
  QUOTA_REACHED = 'QUOTA_REACHED',
}

registerEnumType(WebhookEventType, {
  name: 'WebhookEventType',
  description: 'What a webhook may subscribe to; receivers see the `type` in its dotted form (`purge.completed`). docs/API.md, "Webhooks", lists each payload.',
  valuesConfig: {
    PURGE_COMPLETED: { description: 'purge.completed: every live edge has applied a purge.' },
    CUSTOMER_CHANGED: { description: 'customer.changed: the customer was created, updated (which fields) or deleted.' },
    ORIGIN_DOWN: { description: 'origin.down: an edge process stopped sending requests to one of the origins (failed checks or requests).' },
    ORIGIN_UP: { description: 'origin.up: an edge process uses that origin again.' },
    CERTIFICATE_ISSUED: { description: 'certificate.issued: the ACME CA issued or renewed a certificate.' },
    CERTIFICATE_EXPIRING: { description: 'certificate.expiring: a certificate in use expires within the warning window and no renewal has replaced it.' },
    CERTIFICATE_FAILED: { description: 'certificate.failed: an ACME order failed.' },
    ALERT_FIRED: { description: 'alert.fired: an alert rule of the customer fired.' },
    ALERT_RESOLVED: { description: 'alert.resolved: it resolved.' },
    QUOTA_REACHED: { description: 'quota.reached: an edge process began evicting objects of the customer to keep it within its disk quota (once per spell; docs/API.md, "Webhooks").' },
  },
});

export function toCoreEventType(e: WebhookEventType): CoreEventType {
  return e.toLowerCase().replace('_', '.') as CoreEventType;
}

export function toGraphqlEventType(e: string): WebhookEventType {
  return e.toUpperCase().replace('.', '_') as WebhookEventType;
}

// Both spellings list the same events.
if (WEBHOOK_EVENT_TYPES.some((t) => !(toGraphqlEventType(t) in WebhookEventType))) throw new Error('WebhookEventType and WEBHOOK_EVENT_TYPES disagree');

export enum WebhookDeliveryStatus {
  PENDING = 'PENDING',
  DELIVERED = 'DELIVERED',
  FAILED = 'FAILED',
}

registerEnumType(WebhookDeliveryStatus, {
  name: 'WebhookDeliveryStatus',
  valuesConfig: {
    PENDING: { description: 'Not sent yet, or failed and retried later (nextAttemptAt).' },
    DELIVERED: { description: 'The receiver answered 2xx.' },
    FAILED: { description: 'No 2xx for the whole retry window (a day by default): not retried again; redeliverWebhook sends it again.' },
  },
});

@ObjectType({ description: 'A receiver of events: its URL gets a signed POST for each event it subscribes to (docs/API.md, "Webhooks"). Its secret is never returned after creation.' })
export class Webhook {
  @Field(() => ID)
  id!: string;

  @Field(() => ID, { nullable: true, description: 'The customer whose events it gets; null: fleet-wide (every customer\'s events; admins only).' })
  customerId!: string | null;

  @Field()
  url!: string;

  @Field(() => [WebhookEventType])
  events!: WebhookEventType[];

  @Field({ description: 'False: no delivery is queued for it (events meanwhile are not sent later); those already queued, tests included, wait until it is enabled again, and still fail after their retry window.' })
  enabled!: boolean;

  @Field()
  description!: string;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;
}

@ObjectType({ description: 'A webhook just created: its secret is shown this once; the receiver verifies Edgeplane-Signature with it.' })
export class NewWebhook {
  @Field(() => Webhook)
  webhook!: Webhook;

  @Field({ description: 'The HMAC-SHA256 key, as the UTF-8 bytes of this string.' })
  secret!: string;
}

@ObjectType({ description: 'One event on its way to one webhook (the outbox), with its attempts so far.' })
export class WebhookDelivery {
  @Field(() => ID)
  id!: string;

  @Field(() => ID)
  webhookId!: string;

  @Field(() => ID, { description: 'The event\'s id: the body\'s `id` and the Edgeplane-Webhook-Id header, the same on every attempt and redelivery.' })
  eventId!: string;

  @Field({ description: 'Dotted, as receivers see it: `purge.completed`, `webhook.test`...' })
  eventType!: string;

  @Field(() => ID, { nullable: true, description: "The customer the event is about; null for the fleet's own." })
  customerId!: string | null;

  @Field()
  occurredAt!: Date;

  @Field(() => WebhookDeliveryStatus)
  status!: WebhookDeliveryStatus;

  @Field(() => Int)
  attempts!: number;

  @Field({ description: 'PENDING: when it is tried next.' })
  nextAttemptAt!: Date;

  @Field(() => Date, { nullable: true })
  lastAttemptAt!: Date | null;

  @Field(() => Int, { nullable: true, description: "The receiver's HTTP status at the last attempt; null when it did not answer." })
  lastStatus!: number | null;

  @Field(() => String, { nullable: true, description: 'Why the last attempt failed: a status, a timeout, a refused address...' })
  lastError!: string | null;

  @Field(() => String, { nullable: true, description: "The start of the receiver's last answer (at most 1024 characters)." })
  lastResponse!: string | null;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  deliveredAt!: Date | null;
}

@ObjectType()
export class WebhookDeliveryConnection {
  @Field(() => [WebhookDelivery])
  nodes!: WebhookDelivery[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@InputType()
export class CreateWebhookInput {
  @Field(() => ID, { nullable: true, description: 'The customer whose events it gets; absent or null: fleet-wide (admins only).' })
  customerId?: string | null;

  @Field({ description: 'An absolute http(s) URL at a public address, without credentials.' })
  url!: string;

  @Field(() => [WebhookEventType])
  events!: WebhookEventType[];

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => Boolean, { nullable: true, description: 'Default true.' })
  enabled?: boolean | null;
}

@InputType({ description: 'Absent or null keeps a field.' })
export class UpdateWebhookInput {
  @Field(() => String, { nullable: true })
  url?: string | null;

  @Field(() => [WebhookEventType], { nullable: true, description: 'Replaces the whole list.' })
  events?: WebhookEventType[] | null;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => Boolean, { nullable: true })
  enabled?: boolean | null;
}

export function toGraphqlWebhook(r: WebhookRecord): Webhook {
  return Object.assign(new Webhook(), { ...r, events: r.events.map(toGraphqlEventType) });
}

export function toGraphqlDelivery(r: WebhookDeliveryRecord): WebhookDelivery {
  return Object.assign(new WebhookDelivery(), {
    id: r.id,
    webhookId: r.webhookId,
    eventId: r.eventId,
    eventType: r.eventType,
    customerId: r.customerId,
    occurredAt: r.occurredAt,
    status: r.status as WebhookDeliveryStatus,
    attempts: r.attempts,
    nextAttemptAt: r.nextAttemptAt,
    lastAttemptAt: r.lastAttemptAt,
    lastStatus: r.lastStatus,
    lastError: r.lastError,
    lastResponse: r.lastResponse,
    createdAt: r.createdAt,
    deliveredAt: r.deliveredAt,
  });
}
