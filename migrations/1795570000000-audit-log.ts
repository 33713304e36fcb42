/**
 * The audit log: one row per mutation root field an authenticated caller ran. A row is
 * written before the mutation runs (outcome NULL) and completed after it; a row left with
 * outcome NULL is a mutation whose end the api never saw (it stopped, or the update failed).
 * No foreign keys: entries outlive the customers and tokens they name. The id is the order
 * (newest first); `at` is for the retention sweep. Plain SQL for PostgreSQL and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AuditLog1795570000000 implements MigrationInterface {
  name = 'AuditLog1795570000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "audit_log" (
        "id" bigserial NOT NULL,
        "at" timestamptz NOT NULL DEFAULT now(),
        "finished_at" timestamptz NULL,
        "actor_kind" varchar(32) NOT NULL,
        "actor_role" varchar(32) NOT NULL,
        "actor_token_id" varchar(64) NULL,
        "actor_customer_id" varchar(63) NULL,
        "operation_name" varchar(200) NULL,
        "mutation" varchar(100) NOT NULL,
        "arguments" jsonb NOT NULL DEFAULT '{}'::jsonb,
        "customer_id" varchar(63) NULL,
        "outcome" varchar(64) NULL,
        "request_id" varchar(100) NULL,
        "client_ip" varchar(64) NULL,
        CONSTRAINT "pk_audit_log" PRIMARY KEY ("id")
      )`);
    // The `auditLog(customerId)` page: one customer's entries, newest first.
    await q.query(`CREATE INDEX "idx_audit_log_customer" ON "audit_log" ("customer_id", "id" DESC)`);
    // The retention sweep finds expired rows without reading the live ones.
    await q.query(`CREATE INDEX "idx_audit_log_at" ON "audit_log" ("at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "idx_audit_log_at"`);
    await q.query(`DROP INDEX "idx_audit_log_customer"`);
    await q.query(`DROP TABLE "audit_log"`);
  }
}
