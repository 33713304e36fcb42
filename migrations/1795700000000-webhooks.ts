/**
 * Webhooks (issue 16): `webhook` holds the receivers (a customer's, or fleet-wide when
 * customer_id is null: admins only), their URL, the events they subscribe to and their secret,
 * sealed by the secret box (shown once, at creation). `webhook_event` holds each fact once:
 * the unique dedup_key makes a fact reported by several api replicas (or twice by one) one
 * row. `webhook_delivery` is the outbox: one row per event and webhook subscribed to it when
 * the event was stored, claimed by the dispatcher of any replica (FOR UPDATE SKIP LOCKED plus a
 * lease in next_attempt_at, services/webhook-dispatcher.ts) until it is DELIVERED or, after a
 * day of retries, FAILED. Deliveries go with their webhook or their event. An event has no
 * foreign key to its customer on purpose: `customer.changed` for a deleted customer is stored
 * in the transaction that deletes it, for the fleet-wide webhooks; events go by age
 * (WEBHOOK_EVENT_RETENTION_DAYS, services/webhook-dispatcher.ts). Plain SQL for PostgreSQL
 * and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Webhooks1795700000000 implements MigrationInterface {
  name = 'Webhooks1795700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "webhook" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "customer_id" varchar(63),
        "url" varchar(2048) NOT NULL,
        "events" varchar(40)[] NOT NULL,
        "secret_enc" text NOT NULL,
        "enabled" boolean NOT NULL DEFAULT true,
        "description" varchar(200) NOT NULL DEFAULT '',
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_webhook" PRIMARY KEY ("id"),
        CONSTRAINT "fk_webhook_customer" FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
        CONSTRAINT "chk_webhook_events" CHECK (cardinality("events") > 0)
      )`);
    await q.query(`CREATE INDEX "idx_webhook_customer" ON "webhook" ("customer_id")`);
    await q.query(`
      CREATE TABLE "webhook_event" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "dedup_key" varchar(500) NOT NULL,
        "type" varchar(40) NOT NULL,
        "customer_id" varchar(63),
        "occurred_at" timestamptz NOT NULL,
        "data" jsonb NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_webhook_event" PRIMARY KEY ("id"),
        CONSTRAINT "uq_webhook_event_dedup" UNIQUE ("dedup_key")
      )`);
    await q.query(`CREATE INDEX "idx_webhook_event_created" ON "webhook_event" ("created_at")`);
    await q.query(`
      CREATE TABLE "webhook_delivery" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "webhook_id" uuid NOT NULL,
        "event_id" uuid NOT NULL,
        "status" varchar(10) NOT NULL DEFAULT 'PENDING',
        "attempts" integer NOT NULL DEFAULT 0,
        "next_attempt_at" timestamptz NOT NULL DEFAULT now(),
        "last_attempt_at" timestamptz,
        "last_status" integer,
        "last_error" varchar(500),
        "last_response" varchar(1024),
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "delivered_at" timestamptz,
        CONSTRAINT "pk_webhook_delivery" PRIMARY KEY ("id"),
        CONSTRAINT "fk_webhook_delivery_webhook" FOREIGN KEY ("webhook_id") REFERENCES "webhook" ("id") ON DELETE CASCADE,
        CONSTRAINT "fk_webhook_delivery_event" FOREIGN KEY ("event_id") REFERENCES "webhook_event" ("id") ON DELETE CASCADE,
        CONSTRAINT "chk_webhook_delivery_status" CHECK ("status" IN ('PENDING', 'DELIVERED', 'FAILED'))
      )`);
    // The dispatcher's claim: due pending deliveries, oldest due first (a partial index stays small).
    await q.query(`CREATE INDEX "idx_webhook_delivery_due" ON "webhook_delivery" ("next_attempt_at") WHERE "status" = 'PENDING'`);
    // A webhook's deliveries, newest first (webhookDeliveries).
    await q.query(`CREATE INDEX "idx_webhook_delivery_webhook" ON "webhook_delivery" ("webhook_id", "created_at" DESC, "id" DESC)`);
    await q.query(`CREATE INDEX "idx_webhook_delivery_event" ON "webhook_delivery" ("event_id")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "webhook_delivery"`);
    await q.query(`DROP TABLE "webhook_event"`);
    await q.query(`DROP TABLE "webhook"`);
  }
}
