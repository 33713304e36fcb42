/**
 * Origin health events (issue 15): `origin_event` holds one row per transition of one origin
 * on one edge process (down or up, why, when by the edge's clock), as edges report them on
 * the fleet's origin-health stream. Every api replica reads that stream and inserts what it
 * reads; the unique (edge, customer, origin, at) makes a transition one row however many
 * replicas, or restarts, read it. Rows go with their customer (ON DELETE CASCADE) and, past
 * the retention (services/origin-health.collector.ts), by age — hence the index on "at".
 * What webhooks (issue 16) will deliver from. Plain SQL for PostgreSQL and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class OriginEvents1795630000000 implements MigrationInterface {
  name = 'OriginEvents1795630000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "origin_event" (
        "id" bigserial NOT NULL,
        "edge_id" varchar(200) NOT NULL,
        "customer_id" varchar(63) NOT NULL,
        "origin" varchar(63) NOT NULL,
        "state" varchar(4) NOT NULL,
        "reason" varchar(500) NOT NULL,
        "at" timestamptz NOT NULL,
        "recorded_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_origin_event" PRIMARY KEY ("id"),
        CONSTRAINT "uq_origin_event" UNIQUE ("edge_id", "customer_id", "origin", "at"),
        CONSTRAINT "fk_origin_event_customer" FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
        CONSTRAINT "chk_origin_event_state" CHECK ("state" IN ('up', 'down'))
      )`);
    // A customer's latest events (originHealth) and its history, newest first.
    await q.query(`CREATE INDEX "idx_origin_event_customer_at" ON "origin_event" ("customer_id", "at" DESC)`);
    await q.query(`CREATE INDEX "idx_origin_event_at" ON "origin_event" ("at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "origin_event"`);
  }
}
