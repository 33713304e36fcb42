/**
 * Alerts (issue 16): `alert_rule` holds a customer's rules (kind, threshold, `for`, window,
 * minimum requests, enabled), one row each, named uniquely within the customer and kept in
 * the order they were given; `alert_state` the rule's current state (OK, PENDING, FIRING),
 * since when, the last value and when it was last evaluated — one row per rule, written by the
 * api replicas' evaluators with a compare-and-set on (state, since), so each transition is
 * recorded by exactly one replica; `alert_event` the history of transitions, kept 30 days
 * (services/alert-evaluator.service.ts sweeps it like origin_event). History rows keep the
 * rule's name and kind and carry no foreign key to the rule, so they outlive it; they go with
 * their customer. `notified_at` says when the webhook event of a FIRING/OK transition was
 * handed to WebhookEvents (null until then). Plain SQL for PostgreSQL and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Alerts1795710000000 implements MigrationInterface {
  name = 'Alerts1795710000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "alert_rule" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "customer_id" varchar(63) NOT NULL,
        "name" varchar(63) NOT NULL,
        "position" integer NOT NULL,
        "kind" varchar(32) NOT NULL,
        "threshold" double precision,
        "for_seconds" integer NOT NULL,
        "window_seconds" integer NOT NULL,
        "min_requests" integer NOT NULL,
        "enabled" boolean NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_alert_rule" PRIMARY KEY ("id"),
        CONSTRAINT "uq_alert_rule_name" UNIQUE ("customer_id", "name"),
        CONSTRAINT "fk_alert_rule_customer" FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
        CONSTRAINT "chk_alert_rule_kind" CHECK ("kind" IN ('HIT_RATIO_BELOW', 'ERROR_5XX_SHARE_ABOVE', 'ORIGIN_LATENCY_P95_ABOVE', 'ORIGIN_DOWN', 'BANDWIDTH_ABOVE'))
      )`);
    await q.query(`
      CREATE TABLE "alert_state" (
        "rule_id" uuid NOT NULL,
        "state" varchar(7) NOT NULL DEFAULT 'OK',
        "since" timestamptz NOT NULL DEFAULT now(),
        "value" double precision,
        "evaluated_at" timestamptz,
        CONSTRAINT "pk_alert_state" PRIMARY KEY ("rule_id"),
        CONSTRAINT "fk_alert_state_rule" FOREIGN KEY ("rule_id") REFERENCES "alert_rule" ("id") ON DELETE CASCADE,
        CONSTRAINT "chk_alert_state_state" CHECK ("state" IN ('OK', 'PENDING', 'FIRING'))
      )`);
    await q.query(`
      CREATE TABLE "alert_event" (
        "id" bigserial NOT NULL,
        "rule_id" uuid NOT NULL,
        "customer_id" varchar(63) NOT NULL,
        "rule_name" varchar(63) NOT NULL,
        "kind" varchar(32) NOT NULL,
        "from_state" varchar(7) NOT NULL,
        "to_state" varchar(7) NOT NULL,
        "value" double precision,
        "threshold" double precision,
        "firing_since" timestamptz,
        "reason" varchar(200) NOT NULL,
        "at" timestamptz NOT NULL,
        "notified_at" timestamptz,
        CONSTRAINT "pk_alert_event" PRIMARY KEY ("id"),
        CONSTRAINT "fk_alert_event_customer" FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
        CONSTRAINT "chk_alert_event_from" CHECK ("from_state" IN ('OK', 'PENDING', 'FIRING')),
        CONSTRAINT "chk_alert_event_to" CHECK ("to_state" IN ('OK', 'PENDING', 'FIRING'))
      )`);
    // alertHistory pages a customer's events newest first; the retention sweep deletes by age.
    await q.query(`CREATE INDEX "idx_alert_event_customer_id" ON "alert_event" ("customer_id", "id" DESC)`);
    await q.query(`CREATE INDEX "idx_alert_event_at" ON "alert_event" ("at")`);
    // The evaluators' retry of webhook hand-overs looks for the few fired/resolved rows not handed over.
    await q.query(`CREATE INDEX "idx_alert_event_unnotified" ON "alert_event" ("id") WHERE "notified_at" IS NULL AND "firing_since" IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "alert_event"`);
    await q.query(`DROP TABLE "alert_state"`);
    await q.query(`DROP TABLE "alert_rule"`);
  }
}
