/**
 * Delivery rules (an ordered list per customer, validated as a whole and replaced as a
 * whole, so one jsonb column rather than a table of rows to reorder), the customer's extra
 * compressible media types, and the keys of signed URLs (at most two per customer, the
 * secret as secret-box ciphertext). Existing customers get no rules: their cacheTtl,
 * queryString and staleIfErrorSeconds are the implicit first rule, `default`, so they behave
 * exactly as before. Plain SQL for PostgreSQL and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class DeliveryRules1795600000000 implements MigrationInterface {
  name = 'DeliveryRules1795600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "customer" ADD COLUMN "delivery_rules" jsonb NOT NULL DEFAULT '[]'`);
    await q.query(`ALTER TABLE "customer" ADD COLUMN "compress_types" jsonb NOT NULL DEFAULT '[]'`);
    await q.query(`
      CREATE TABLE "signing_key" (
        "customer_id" varchar(63) NOT NULL,
        "id" varchar(8) NOT NULL,
        "secret_enc" text NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_signing_key" PRIMARY KEY ("customer_id", "id"),
        CONSTRAINT "fk_signing_key_customer" FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "signing_key"`);
    await q.query(`ALTER TABLE "customer" DROP COLUMN "compress_types"`);
    await q.query(`ALTER TABLE "customer" DROP COLUMN "delivery_rules"`);
  }
}
