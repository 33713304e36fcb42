/**
 * HTTPS: each customer's certificates (uploaded, or issued by ACME), the ACME HTTP-01
 * challenges in progress, and the customer's redirect and HSTS options. A certificate's key
 * is stored as secret-box ciphertext (`key_enc`), never in clear. ISSUED and RENEWING rows
 * hold a certificate and its key (a renewal keeps serving the current one). Both tables go
 * with their customer (ON DELETE CASCADE), and a challenge with its certificate. The
 * (status, renew_at) index is for the renewal scheduler. Plain SQL for PostgreSQL and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Certificates1795580000000 implements MigrationInterface {
  name = 'Certificates1795580000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "certificate" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "customer_id" varchar(63) NOT NULL,
        "domains" text[] NOT NULL,
        "source" varchar(16) NOT NULL,
        "status" varchar(16) NOT NULL,
        "cert_pem" text NULL,
        "key_enc" text NULL,
        "not_before" timestamptz NULL,
        "not_after" timestamptz NULL,
        "issuer" text NULL,
        "last_error" text NULL,
        "renew_at" timestamptz NULL,
        "attempts" integer NOT NULL DEFAULT 0,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_certificate" PRIMARY KEY ("id"),
        CONSTRAINT "fk_certificate_customer" FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
        CONSTRAINT "chk_certificate_source" CHECK ("source" IN ('ACME', 'UPLOADED')),
        CONSTRAINT "chk_certificate_status" CHECK ("status" IN ('PENDING', 'ISSUED', 'RENEWING', 'FAILED', 'EXPIRED')),
        CONSTRAINT "chk_certificate_material" CHECK ("status" NOT IN ('ISSUED', 'RENEWING') OR ("cert_pem" IS NOT NULL AND "key_enc" IS NOT NULL AND "not_after" IS NOT NULL))
      )`);
    await q.query(`CREATE INDEX "idx_certificate_customer" ON "certificate" ("customer_id")`);
    await q.query(`CREATE INDEX "idx_certificate_status_renew" ON "certificate" ("status", "renew_at")`);
    await q.query(`
      CREATE TABLE "acme_challenge" (
        "token" varchar(255) NOT NULL,
        "customer_id" varchar(63) NOT NULL,
        "certificate_id" uuid NOT NULL,
        "domain" varchar(253) NOT NULL,
        "key_authorization" text NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_acme_challenge" PRIMARY KEY ("token"),
        CONSTRAINT "fk_acme_challenge_customer" FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
        CONSTRAINT "fk_acme_challenge_certificate" FOREIGN KEY ("certificate_id") REFERENCES "certificate" ("id") ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX "idx_acme_challenge_customer" ON "acme_challenge" ("customer_id")`);
    await q.query(`CREATE INDEX "idx_acme_challenge_certificate" ON "acme_challenge" ("certificate_id")`);
    await q.query(`
      ALTER TABLE "customer"
        ADD COLUMN "https_redirect" boolean NULL,
        ADD COLUMN "hsts_max_age" integer NULL,
        ADD COLUMN "hsts_include_subdomains" boolean NOT NULL DEFAULT false,
        ADD COLUMN "hsts_preload" boolean NOT NULL DEFAULT false,
        ADD CONSTRAINT "chk_customer_hsts_max_age" CHECK ("hsts_max_age" IS NULL OR "hsts_max_age" >= 0)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE "customer"
        DROP CONSTRAINT "chk_customer_hsts_max_age",
        DROP COLUMN "hsts_preload",
        DROP COLUMN "hsts_include_subdomains",
        DROP COLUMN "hsts_max_age",
        DROP COLUMN "https_redirect"`);
    await q.query(`DROP INDEX "idx_acme_challenge_certificate"`);
    await q.query(`DROP INDEX "idx_acme_challenge_customer"`);
    await q.query(`DROP TABLE "acme_challenge"`);
    await q.query(`DROP INDEX "idx_certificate_status_renew"`);
    await q.query(`DROP INDEX "idx_certificate_customer"`);
    await q.query(`DROP TABLE "certificate"`);
  }
}
