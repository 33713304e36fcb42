/**
 * The webhook queries (migrations/1795700000000-webhooks.ts): receivers, events stored once
 * by their dedup key with one delivery per subscribed webhook (the outbox), the dispatcher's
 * claim (FOR UPDATE SKIP LOCKED, then a lease in next_attempt_at) and its outcomes, and the
 * deliveries' pages. Services call them inside their own unit of work; table names stay here.
 */
import type { WebhookEventInput, WebhookEventType } from '../domain/webhook.types';
import type { ClaimedDelivery, WebhookDeliveryRecord, WebhookDeliveryStatus, WebhookRecord } from '../domain/webhook.types';
import type { Tx } from './database';

/** The part of a receiver's answer kept (the column's width). */
export const WEBHOOK_RESPONSE_MAX_CHARS = 1024;
export const WEBHOOK_ERROR_MAX_CHARS = 500;
/** Arbitrary constant: serialises webhook creation per customer (the per-customer limit). */
const CREATE_LOCK_KEY = 0x65_64_67_16;

const WEBHOOK_COLUMNS = `w."id", w."customer_id", w."url", w."events", w."enabled", w."description", w."created_at", w."updated_at"`;

interface WebhookRow {
  id: string;
  customer_id: string | null;
  url: string;
  events: string[] | string;
  enabled: boolean;
  description: string;
  created_at: Date | string;
  updated_at: Date | string;
}

export interface NewWebhookRow {
  customerId: string | null;
  url: string;
  events: readonly WebhookEventType[];
  secretEnc: string;
  enabled: boolean;
  description: string;
}

export interface WebhookPatch {
  url?: string;
  events?: readonly WebhookEventType[];
  enabled?: boolean;
  description?: string;
}

/** Holds creations for one customer (or the fleet-wide ones) until this transaction ends, so the limit holds under concurrent creates. */
export async function lockWebhookScope(m: Tx, customerId: string | null): Promise<void> {
  await m.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [CREATE_LOCK_KEY, customerId ?? '']);
}

export async function countWebhooks(m: Tx, customerId: string | null): Promise<number> {
  const rows: Array<{ n: number }> = await m.query(`SELECT count(*)::int AS "n" FROM "webhook" WHERE "customer_id" IS NOT DISTINCT FROM $1`, [customerId]);
  return rows[0]!.n;
}

export async function insertWebhook(m: Tx, row: NewWebhookRow): Promise<WebhookRecord> {
  const rows: WebhookRow[] = await m.query(
    `INSERT INTO "webhook" AS w ("customer_id", "url", "events", "secret_enc", "enabled", "description")
     VALUES ($1, $2, $3::varchar[], $4, $5, $6) RETURNING ${WEBHOOK_COLUMNS}`,
    [row.customerId, row.url, [...row.events], row.secretEnc, row.enabled, row.description],
  );
  return toWebhook(rows[0]!);
}

/** Null when there is no such webhook. */
export async function updateWebhook(m: Tx, id: string, patch: WebhookPatch): Promise<WebhookRecord | null> {
  const rows: WebhookRow[] = await m.query(
    // Wrapped in a SELECT: TypeORM answers a bare UPDATE or DELETE with [rows, count] instead of rows.
    `WITH w AS (
       UPDATE "webhook" AS u SET
          "url" = COALESCE($2::varchar, u."url"),
          "events" = COALESCE($3::varchar[], u."events"),
          "enabled" = COALESCE($4::boolean, u."enabled"),
          "description" = COALESCE($5::varchar, u."description"),
          "updated_at" = now()
        WHERE u."id" = $1 RETURNING *)
     SELECT ${WEBHOOK_COLUMNS} FROM w`,
    [id, patch.url ?? null, patch.events ? [...patch.events] : null, patch.enabled ?? null, patch.description ?? null],
  );
  return rows[0] ? toWebhook(rows[0]) : null;
}

/** The webhook deleted (its deliveries with it); null when there was none. */
export async function deleteWebhook(m: Tx, id: string): Promise<WebhookRecord | null> {
  const rows: WebhookRow[] = await m.query(`WITH w AS (DELETE FROM "webhook" WHERE "id" = $1 RETURNING *) SELECT ${WEBHOOK_COLUMNS} FROM w`, [id]);
  return rows[0] ? toWebhook(rows[0]) : null;
}

export async function findWebhook(m: Tx, id: string): Promise<WebhookRecord | null> {
  const rows: WebhookRow[] = await m.query(`SELECT ${WEBHOOK_COLUMNS} FROM "webhook" w WHERE w."id" = $1`, [id]);
  return rows[0] ? toWebhook(rows[0]) : null;
}

/** A customer's webhooks (null: the fleet-wide ones), oldest first. */
export async function listWebhooks(m: Tx, customerId: string | null): Promise<WebhookRecord[]> {
  const rows: WebhookRow[] = await m.query(
    `SELECT ${WEBHOOK_COLUMNS} FROM "webhook" w WHERE w."customer_id" IS NOT DISTINCT FROM $1 ORDER BY w."created_at", w."id"`,
    [customerId],
  );
  return rows.map(toWebhook);
}

/**
 * Stores the events not stored before (by dedup key) and, for each, one delivery per enabled
 * webhook subscribed to its type: the customer's own and every fleet-wide one. Returns how many
 * deliveries were queued. One statement: the events and their deliveries commit together with
 * whatever else the caller's transaction holds.
 */
export async function insertWebhookEvents(m: Tx, events: readonly WebhookEventInput[]): Promise<number> {
  if (events.length === 0) return 0;
  const rows: Array<{ n: number }> = await m.query(
    `WITH e AS (
       INSERT INTO "webhook_event" ("dedup_key", "type", "customer_id", "occurred_at", "data")
       SELECT x."dedup_key", x."type", x."customer_id", x."occurred_at", x."data"
         FROM jsonb_to_recordset($1::jsonb) AS x("dedup_key" varchar, "type" varchar, "customer_id" varchar, "occurred_at" timestamptz, "data" jsonb)
       ON CONFLICT ("dedup_key") DO NOTHING
       RETURNING "id", "type", "customer_id"
     ), d AS (
       INSERT INTO "webhook_delivery" ("webhook_id", "event_id")
       SELECT w."id", e."id" FROM e JOIN "webhook" w
         ON w."enabled" AND e."type" = ANY (w."events") AND (w."customer_id" IS NULL OR w."customer_id" = e."customer_id")
       RETURNING 1
     )
     SELECT count(*)::int AS "n" FROM d`,
    [
      JSON.stringify(
        events.map((e) => ({ dedup_key: e.dedupKey, type: e.type, customer_id: e.customerId, occurred_at: e.occurredAt.toISOString(), data: e.data })),
      ),
    ],
  );
  return rows[0]!.n;
}

/** One event for one webhook only, whatever it subscribes to (testWebhook). Returns the delivery's id. */
export async function insertDirectDelivery(m: Tx, webhookId: string, event: { dedupKey: string; type: string; customerId: string | null; occurredAt: Date; data: Record<string, unknown> }): Promise<string> {
  const rows: Array<{ id: string }> = await m.query(
    `WITH e AS (
       INSERT INTO "webhook_event" ("dedup_key", "type", "customer_id", "occurred_at", "data") VALUES ($2, $3, $4, $5, $6::jsonb) RETURNING "id"
     )
     INSERT INTO "webhook_delivery" ("webhook_id", "event_id") SELECT $1, e."id" FROM e RETURNING "id"`,
    [webhookId, event.dedupKey, event.type, event.customerId, event.occurredAt, JSON.stringify(event.data)],
  );
  return rows[0]!.id;
}

/** A new pending delivery of the same event to the same webhook (redeliverWebhook); null when the delivery is unknown. */
export async function copyDelivery(m: Tx, deliveryId: string): Promise<string | null> {
  const rows: Array<{ id: string }> = await m.query(
    `INSERT INTO "webhook_delivery" ("webhook_id", "event_id")
     SELECT d."webhook_id", d."event_id" FROM "webhook_delivery" d WHERE d."id" = $1 RETURNING "id"`,
    [deliveryId],
  );
  return rows[0]?.id ?? null;
}

/**
 * Claims up to `limit` due pending deliveries of enabled webhooks: rows another replica is
 * claiming at this moment are skipped (SKIP LOCKED), and each claimed row's next_attempt_at
 * moves `leaseMs` ahead, so no other replica takes it while this one sends it, and any replica
 * takes it again once the lease has passed (its sender died). Counts the attempt.
 */
export async function claimDueDeliveries(m: Tx, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  if (limit <= 0) return [];
  const rows: Array<{
    id: string;
    attempts: number;
    created_at: Date | string;
    webhook_id: string;
    url: string;
    secret_enc: string;
    event_id: string;
    type: string;
    customer_id: string | null;
    occurred_at: Date | string;
    data: Record<string, unknown>;
  }> = await m.query(
    `WITH due AS (
       SELECT d."id" FROM "webhook_delivery" d JOIN "webhook" w ON w."id" = d."webhook_id" AND w."enabled"
        WHERE d."status" = 'PENDING' AND d."next_attempt_at" <= now()
        ORDER BY d."next_attempt_at"
        LIMIT $1
        FOR UPDATE OF d SKIP LOCKED
     ), claimed AS (
       UPDATE "webhook_delivery" d SET "attempts" = d."attempts" + 1, "last_attempt_at" = now(),
              "next_attempt_at" = now() + $2 * interval '1 millisecond'
         FROM due WHERE d."id" = due."id"
       RETURNING d."id", d."attempts", d."created_at", d."webhook_id", d."event_id"
     )
     SELECT c."id", c."attempts", c."created_at", c."webhook_id", w."url", w."secret_enc",
            e."id" AS "event_id", e."type", e."customer_id", e."occurred_at", e."data"
       FROM claimed c JOIN "webhook" w ON w."id" = c."webhook_id" JOIN "webhook_event" e ON e."id" = c."event_id"`,
    [limit, leaseMs],
  );
  return rows.map((r) => ({
    deliveryId: r.id,
    attempts: r.attempts,
    createdAt: new Date(r.created_at),
    webhook: { id: r.webhook_id, url: r.url, secretCiphertext: r.secret_enc },
    event: { id: r.event_id, type: r.type, customerId: r.customer_id, occurredAt: new Date(r.occurred_at), data: r.data },
  }));
}

export interface AttemptOutcome {
  status: WebhookDeliveryStatus;
  /** PENDING: when to try again. */
  nextAttemptAt?: Date;
  httpStatus: number | null;
  error: string | null;
  response: string | null;
}

/** Records an attempt's outcome on a delivery still pending (a redelivered or deleted one is left alone). */
export async function recordAttempt(m: Tx, deliveryId: string, outcome: AttemptOutcome): Promise<void> {
  await m.query(
    `UPDATE "webhook_delivery" SET "status" = $2::varchar, "next_attempt_at" = COALESCE($3::timestamptz, "next_attempt_at"), "last_status" = $4::int,
            "last_error" = $5::varchar, "last_response" = $6::varchar, "delivered_at" = CASE WHEN $2::varchar = 'DELIVERED' THEN now() ELSE NULL END
      WHERE "id" = $1 AND "status" = 'PENDING'`,
    [
      deliveryId,
      outcome.status,
      outcome.nextAttemptAt ?? null,
      outcome.httpStatus,
      outcome.error === null ? null : outcome.error.slice(0, WEBHOOK_ERROR_MAX_CHARS),
      outcome.response === null ? null : outcome.response.slice(0, WEBHOOK_RESPONSE_MAX_CHARS),
    ],
  );
}

/** Pending deliveries (of every webhook): the queue's depth. */
export async function countPendingDeliveries(m: Tx): Promise<number> {
  const rows: Array<{ n: number }> = await m.query(`SELECT count(*)::int AS "n" FROM "webhook_delivery" WHERE "status" = 'PENDING'`);
  return rows[0]!.n;
}

const DELIVERY_SELECT = `SELECT d."id", d."webhook_id", d."event_id", e."type", e."customer_id", e."occurred_at", d."status", d."attempts",
        d."next_attempt_at", d."last_attempt_at", d."last_status", d."last_error", d."last_response", d."created_at", d."delivered_at"
   FROM "webhook_delivery" d JOIN "webhook_event" e ON e."id" = d."event_id"`;

export async function findDelivery(m: Tx, id: string): Promise<WebhookDeliveryRecord | null> {
  const rows: DeliveryRow[] = await m.query(`${DELIVERY_SELECT} WHERE d."id" = $1`, [id]);
  return rows[0] ? toDelivery(rows[0]) : null;
}

/** One page of a webhook's deliveries, newest first (ties by id), after the delivery `afterId`. */
export async function readDeliveryPage(m: Tx, webhookId: string, status: WebhookDeliveryStatus | null, afterId: string | null, limit: number): Promise<WebhookDeliveryRecord[]> {
  const rows: DeliveryRow[] = await m.query(
    `${DELIVERY_SELECT}
      WHERE d."webhook_id" = $1 AND ($2::varchar IS NULL OR d."status" = $2)
        AND ($3::uuid IS NULL OR (d."created_at", d."id") < (SELECT a."created_at", a."id" FROM "webhook_delivery" a WHERE a."id" = $3))
      ORDER BY d."created_at" DESC, d."id" DESC LIMIT $4`,
    [webhookId, status, afterId, limit],
  );
  return rows.map(toDelivery);
}

/** Deletes up to `batch` events stored before `cutoff` with nothing pending (their deliveries go with them); returns how many. */
export async function deleteWebhookEventsBefore(m: Tx, cutoff: Date, batch: number): Promise<number> {
  const rows: Array<{ n: number }> = await m.query(
    `WITH d AS (
       DELETE FROM "webhook_event" WHERE "id" IN (
         SELECT e."id" FROM "webhook_event" e WHERE e."created_at" < $1
            AND NOT EXISTS (SELECT 1 FROM "webhook_delivery" p WHERE p."event_id" = e."id" AND p."status" = 'PENDING')
          ORDER BY e."created_at" LIMIT $2)
       RETURNING 1)
     SELECT count(*)::int AS "n" FROM d`,
    [cutoff, batch],
  );
  return rows[0]!.n;
}

interface DeliveryRow {
  id: string;
  webhook_id: string;
  event_id: string;
  type: string;
  customer_id: string | null;
  occurred_at: Date | string;
  status: WebhookDeliveryStatus;
  attempts: number;
  next_attempt_at: Date | string;
  last_attempt_at: Date | string | null;
  last_status: number | null;
  last_error: string | null;
  last_response: string | null;
  created_at: Date | string;
  delivered_at: Date | string | null;
}

function toDelivery(r: DeliveryRow): WebhookDeliveryRecord {
  return {
    id: r.id,
    webhookId: r.webhook_id,
    eventId: r.event_id,
    eventType: r.type,
    customerId: r.customer_id,
    occurredAt: new Date(r.occurred_at),
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: new Date(r.next_attempt_at),
    lastAttemptAt: r.last_attempt_at === null ? null : new Date(r.last_attempt_at),
    lastStatus: r.last_status,
    lastError: r.last_error,
    lastResponse: r.last_response,
    createdAt: new Date(r.created_at),
    deliveredAt: r.delivered_at === null ? null : new Date(r.delivered_at),
  };
}

/** PostgreSQL arrays come back parsed from node-postgres, but as `{a,b}` text from PGlite for varchar[]. */
function parseArray(value: string[] | string): string[] {
  if (Array.isArray(value)) return value;
  const inner = value.replace(/^\{|\}$/g, '');
  return inner === '' ? [] : inner.split(',').map((s) => s.replace(/^"|"$/g, ''));
}

function toWebhook(r: WebhookRow): WebhookRecord {
  return {
    id: r.id,
    customerId: r.customer_id,
    url: r.url,
    events: parseArray(r.events) as WebhookEventType[],
    enabled: r.enabled,
    description: r.description,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}
