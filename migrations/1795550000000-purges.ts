/**
 * Purges and which edges applied them. `purge.seq` is the outbox seq of the purge's
 * `purge.requested` change (same transaction), which is what edges report as applied
 * in their heartbeats. `purge_edge` holds one row per edge that acknowledged a purge.
 * Both go with their customer (ON DELETE CASCADE). Plain SQL for PostgreSQL and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Purges1795550000000 implements MigrationInterface {
  name = 'Purges1795550000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "purge" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "customer_id" varchar(63) NOT NULL,
        "kind" varchar(8) NOT NULL,
        "value" varchar(2048) NULL,
        "soft" boolean NOT NULL DEFAULT false,
        "seq" bigint NOT NULL,
        "requested_at" timestamptz NOT NULL DEFAULT now(),
        "completed_at" timestamptz NULL,
        "requested_by" varchar(200) NULL,
        CONSTRAINT "pk_purge" PRIMARY KEY ("id"),
        CONSTRAINT "fk_purge_customer" FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
        CONSTRAINT "chk_purge_kind" CHECK ("kind" IN ('URL', 'PREFIX', 'TAG', 'ALL')),
        CONSTRAINT "chk_purge_value" CHECK (("kind" = 'ALL') = ("value" IS NULL))
      )`);
    // Newest first per customer, the order of the `purges` query and its cursor.
    await q.query(`CREATE INDEX "idx_purge_customer_requested" ON "purge" ("customer_id", "requested_at" DESC, "id")`);
    await q.query(`
      CREATE TABLE "purge_edge" (
        "purge_id" uuid NOT NULL,
        "edge_id" varchar(200) NOT NULL,
        "applied_at" timestamptz NOT NULL,
        "objects_removed" bigint NOT NULL DEFAULT 0,
        CONSTRAINT "pk_purge_edge" PRIMARY KEY ("purge_id", "edge_id"),
        CONSTRAINT "fk_purge_edge_purge" FOREIGN KEY ("purge_id") REFERENCES "purge" ("id") ON DELETE CASCADE
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "purge_edge"`);
    await q.query(`DROP INDEX "idx_purge_customer_requested"`);
    await q.query(`DROP TABLE "purge"`);
  }
}
