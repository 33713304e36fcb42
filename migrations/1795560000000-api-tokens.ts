/**
 * API tokens: only a SHA-256 of each token and its metadata are kept (the token itself is
 * shown once, at creation). A customer role carries its customer (and goes with it, ON
 * DELETE CASCADE); a platform role carries none. Revocation is a timestamp: the row stays,
 * so a revoked token is told apart from one that never existed. Plain SQL for PostgreSQL
 * and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ApiTokens1795560000000 implements MigrationInterface {
  name = 'ApiTokens1795560000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "api_token" (
        "id" uuid NOT NULL,
        "name" varchar(200) NOT NULL,
        "role" varchar(32) NOT NULL,
        "customer_id" varchar(63) NULL,
        "token_sha256" char(64) NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "expires_at" timestamptz NOT NULL,
        "revoked_at" timestamptz NULL,
        "created_by" varchar(200) NULL,
        CONSTRAINT "pk_api_token" PRIMARY KEY ("id"),
        CONSTRAINT "uq_api_token_sha256" UNIQUE ("token_sha256"),
        CONSTRAINT "fk_api_token_customer" FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
        CONSTRAINT "chk_api_token_role" CHECK ("role" IN ('admin', 'operator', 'viewer', 'customer-admin', 'customer-purger', 'customer-viewer')),
        CONSTRAINT "chk_api_token_scope" CHECK (("role" LIKE 'customer-%') = ("customer_id" IS NOT NULL))
      )`);
    await q.query(`CREATE INDEX "idx_api_token_customer" ON "api_token" ("customer_id", "created_at" DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "idx_api_token_customer"`);
    await q.query(`DROP TABLE "api_token"`);
  }
}
