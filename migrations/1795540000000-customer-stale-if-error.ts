/**
 * Per-customer stale-if-error: seconds past freshness a stored object may answer for a
 * failing origin (NULL = off, only the origin's own stale-if-error applies). Existing
 * customers get NULL, today's behaviour. Plain SQL for PostgreSQL and PGlite.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CustomerStaleIfError1795540000000 implements MigrationInterface {
  name = 'CustomerStaleIfError1795540000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "customer" ADD COLUMN "stale_if_error_seconds" integer NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "customer" DROP COLUMN "stale_if_error_seconds"`);
  }
}
