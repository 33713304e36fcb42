/**
 * Top URLs and status codes (issue 16): each edge process ships, once per minute and per
 * customer, a Space-Saving summary of that minute's paths and its exact status code counts
 * (core/stats.port.ts, MinuteTop). `traffic_top_summary` holds one row per (customer, minute,
 * edge process) — the requests the summary counted and its floor (the count a path left out
 * may have had) — and `traffic_top_entry` its rows: kind 'path' (count, error) or 'status'
 * (count; key is the code). Every api replica reads every report and inserts what it reads;
 * the primary keys make a summary one row however many replicas, or restarts, read it.
 * Rows go with their customer (ON DELETE CASCADE, entries through their summary) and, past
 * CDN_API_TOP_RETENTION_HOURS (services/traffic-top.service.ts), by age — hence the index on
 * "minute". Plain SQL for PostgreSQL and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class TrafficTop1795720000000 implements MigrationInterface {
  name = 'TrafficTop1795720000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "traffic_top_summary" (
        "customer_id" varchar(63) NOT NULL,
        "minute" timestamptz NOT NULL,
        "edge_id" varchar(200) NOT NULL,
        "requests" bigint NOT NULL,
        "floor" bigint NOT NULL,
        "recorded_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_traffic_top_summary" PRIMARY KEY ("customer_id", "minute", "edge_id"),
        CONSTRAINT "fk_traffic_top_summary_customer" FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
        CONSTRAINT "chk_traffic_top_summary_counts" CHECK ("requests" >= 0 AND "floor" >= 0)
      )`);
    // The retention's batched delete, oldest first.
    await q.query(`CREATE INDEX "idx_traffic_top_summary_minute" ON "traffic_top_summary" ("minute")`);
    await q.query(`
      CREATE TABLE "traffic_top_entry" (
        "customer_id" varchar(63) NOT NULL,
        "minute" timestamptz NOT NULL,
        "edge_id" varchar(200) NOT NULL,
        "kind" varchar(6) NOT NULL,
        "key" varchar(520) NOT NULL,
        "count" bigint NOT NULL,
        "error" bigint NOT NULL DEFAULT 0,
        CONSTRAINT "pk_traffic_top_entry" PRIMARY KEY ("customer_id", "minute", "edge_id", "kind", "key"),
        CONSTRAINT "fk_traffic_top_entry_summary" FOREIGN KEY ("customer_id", "minute", "edge_id")
          REFERENCES "traffic_top_summary" ("customer_id", "minute", "edge_id") ON DELETE CASCADE,
        CONSTRAINT "chk_traffic_top_entry_kind" CHECK ("kind" IN ('path', 'status')),
        CONSTRAINT "chk_traffic_top_entry_counts" CHECK ("count" >= 0 AND "error" >= 0 AND "error" <= "count")
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "traffic_top_entry"`);
    await q.query(`DROP TABLE "traffic_top_summary"`);
  }
}
