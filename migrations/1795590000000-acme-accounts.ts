/**
 * ACME accounts: one per ACME directory, its private key as secret-box ciphertext. Kept so
 * that every api replica, and every restart, orders as the same account (the CA's rate limits
 * and its notices are per account). Plain SQL for PostgreSQL and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AcmeAccounts1795590000000 implements MigrationInterface {
  name = 'AcmeAccounts1795590000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "acme_account" (
        "directory_url" text NOT NULL,
        "key_enc" text NOT NULL,
        "email" text NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "pk_acme_account" PRIMARY KEY ("directory_url")
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "acme_account"`);
  }
}
