/**
 * Customers, their domains and the change_log outbox. Plain SQL so it runs unchanged on
 * PostgreSQL 15 and PGlite. Constraint names are fixed because the api maps unique
 * violations (23505) to CONFLICT errors by constraint name.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialSchema1732400000000 implements MigrationInterface {
  name = 'InitialSchema1732400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "customer" (
        "id" varchar(63) NOT NULL,
        "name" varchar(200) NOT NULL,
        "origin_url" varchar(2048) NOT NULL,
        "cache_ttl" integer NOT NULL,
        "basic_auth_username" varchar(255) NULL,
        "basic_auth_password_enc" text NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        "version" integer NOT NULL DEFAULT 1,
        CONSTRAINT "pk_customer" PRIMARY KEY ("id")
      )`);
    await q.query(`
      CREATE TABLE "domain" (
        "hostname" varchar(253) NOT NULL,
        "customer_id" varchar(63) NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_domain" PRIMARY KEY ("hostname"),
        CONSTRAINT "fk_domain_customer" FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX "idx_domain_customer_id" ON "domain" ("customer_id")`);
    await q.query(`
      CREATE TABLE "change_log" (
        "seq" bigserial NOT NULL,
        "kind" varchar(64) NOT NULL,
        "customer_id" varchar(63) NULL,
        "payload" jsonb NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_change_log" PRIMARY KEY ("seq")
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "change_log"`);
    await q.query(`DROP INDEX "idx_domain_customer_id"`);
    await q.query(`DROP TABLE "domain"`);
    await q.query(`DROP TABLE "customer"`);
  }
}
