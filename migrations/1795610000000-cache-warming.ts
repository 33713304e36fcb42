/**
 * Cache warming. `warm` holds one row per warm: its URLs (distinct `{host, path}` pairs, one
 * jsonb list: written once, read whole), the edge it is for (NULL: every edge), the outbox seq
 * of its `warm.requested` change (same transaction) and, once every edge is through with it,
 * when it completed. `warm_edge` holds one row per edge (machine, `CDN_EDGE_ID`) taking part:
 * written `pending` for each edge live when the warm was requested, then moved forward by the
 * edge's reports (`warming`, `done`, `stopped`) with its counts. Both go with their customer
 * (ON DELETE CASCADE). Plain SQL for PostgreSQL and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CacheWarming1795610000000 implements MigrationInterface {
  name = 'CacheWarming1795610000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "warm" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "customer_id" varchar(63) NOT NULL,
        "edge_id" varchar(200) NULL,
        "urls" jsonb NOT NULL,
        "url_count" integer NOT NULL,
        "seq" bigint NOT NULL,
        "requested_at" timestamptz NOT NULL DEFAULT now(),
        "completed_at" timestamptz NULL,
        "requested_by" varchar(200) NULL,
        CONSTRAINT "pk_warm" PRIMARY KEY ("id"),
        CONSTRAINT "fk_warm_customer" FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
        CONSTRAINT "chk_warm_url_count" CHECK ("url_count" >= 1)
      )`);
    // Newest first per customer, the order of the `warms` query and its cursor.
    await q.query(`CREATE INDEX "idx_warm_customer_requested" ON "warm" ("customer_id", "requested_at" DESC, "id")`);
    await q.query(`
      CREATE TABLE "warm_edge" (
        "warm_id" uuid NOT NULL,
        "edge_id" varchar(200) NOT NULL,
        "state" varchar(8) NOT NULL DEFAULT 'pending',
        "urls_done" integer NOT NULL DEFAULT 0,
        "urls_failed" integer NOT NULL DEFAULT 0,
        "process_id" varchar(200) NULL,
        "process_started_at" timestamptz NULL,
        "reported_at" timestamptz NULL,
        CONSTRAINT "pk_warm_edge" PRIMARY KEY ("warm_id", "edge_id"),
        CONSTRAINT "fk_warm_edge_warm" FOREIGN KEY ("warm_id") REFERENCES "warm" ("id") ON DELETE CASCADE,
        CONSTRAINT "chk_warm_edge_state" CHECK ("state" IN ('pending', 'warming', 'stopped', 'done'))
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "warm_edge"`);
    await q.query(`DROP INDEX "idx_warm_customer_requested"`);
    await q.query(`DROP TABLE "warm"`);
  }
}
