/**
 * Per-customer cache options: a disk quota (bytes, NULL = only the edge's global cap) and
 * the query-string policy of the cache key. Defaults give existing customers today's
 * behaviour (no quota, whole query string kept). Plain SQL for PostgreSQL and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CustomerCacheOptions1795530000000 implements MigrationInterface {
  name = 'CustomerCacheOptions1795530000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE "customer"
        ADD COLUMN "cache_quota_bytes" bigint NULL,
        ADD COLUMN "query_string_mode" varchar(16) NOT NULL DEFAULT 'keep',
        ADD COLUMN "query_string_allow" jsonb NOT NULL DEFAULT '[]',
        ADD CONSTRAINT "chk_customer_query_string_mode" CHECK ("query_string_mode" IN ('keep', 'ignore', 'allowlist'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE "customer"
        DROP CONSTRAINT "chk_customer_query_string_mode",
        DROP COLUMN "query_string_allow",
        DROP COLUMN "query_string_mode",
        DROP COLUMN "cache_quota_bytes"`);
  }
}
