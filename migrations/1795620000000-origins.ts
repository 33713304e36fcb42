/**
 * Several origins per customer (core/origin.types.ts): `customer_origin` holds one row per
 * origin (its name unique within the customer, the Basic Auth password as secret-box
 * ciphertext, the health check as one jsonb value, NULL for passive checks only), and
 * `customer.origin_policy` how they are used (jsonb, NULL: every edge default). The customer's
 * own `origin_url` and Basic Auth columns stay, kept by the api as the preferred origin's.
 *
 * Every existing customer gets one origin, `primary` (core PRIMARY_ORIGIN_NAME), made of its
 * origin_url and Basic Auth, priority 1, weight 1, no health check: what it had, so nothing
 * changes for it. Down drops both; origin_url already holds the preferred origin. Plain SQL for
 * PostgreSQL and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Origins1795620000000 implements MigrationInterface {
  name = 'Origins1795620000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "customer_origin" (
        "customer_id" varchar(63) NOT NULL,
        "name" varchar(63) NOT NULL,
        "url" varchar(2048) NOT NULL,
        "basic_auth_username" varchar(255) NULL,
        "basic_auth_password_enc" text NULL,
        "priority" integer NOT NULL DEFAULT 1,
        "weight" integer NOT NULL DEFAULT 1,
        "host_header" varchar(259) NULL,
        "tls_server_name" varchar(253) NULL,
        "health_check" jsonb NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_customer_origin" PRIMARY KEY ("customer_id", "name"),
        CONSTRAINT "fk_customer_origin_customer" FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
        CONSTRAINT "chk_customer_origin_priority" CHECK ("priority" BETWEEN 1 AND 100),
        CONSTRAINT "chk_customer_origin_weight" CHECK ("weight" BETWEEN 1 AND 1000),
        CONSTRAINT "chk_customer_origin_basic_auth" CHECK (("basic_auth_username" IS NULL) = ("basic_auth_password_enc" IS NULL))
      )`);
    await q.query(`ALTER TABLE "customer" ADD COLUMN "origin_policy" jsonb NULL`);
    // Basic Auth counts only with both halves, as the api has always read it (db/customer.mapper.ts).
    await q.query(`
      INSERT INTO "customer_origin" ("customer_id", "name", "url", "basic_auth_username", "basic_auth_password_enc", "priority", "weight", "created_at", "updated_at")
      SELECT "id", 'primary', "origin_url",
             CASE WHEN "basic_auth_password_enc" IS NOT NULL THEN "basic_auth_username" END,
             CASE WHEN "basic_auth_username" IS NOT NULL THEN "basic_auth_password_enc" END,
             1, 1, "created_at", "updated_at"
        FROM "customer"`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "customer" DROP COLUMN "origin_policy"`);
    await q.query(`DROP TABLE "customer_origin"`);
  }
}
