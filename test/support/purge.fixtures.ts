/**
 * Purges for end-to-end tests: the GraphQL shapes of a purge, its `purgeStatus`
 * subscription over graphql-ws (subscriptions.ts), and purges written straight into PostgreSQL exactly as
 * the api's purge service writes them (for "committed, never published" and bursts).
 */
import assert from 'node:assert/strict';
import { Client as PgClient } from 'pg';
import { OUTBOX_ORDER_LOCK_KEY } from '../../src/api/db/change-log.writer';
import type { TestDatabase } from './services';
import { followSubscription, type Followed } from './subscriptions';

export const PURGE_FIELDS = 'id seq kind value completedAt edgesTotal edgesApplied edges { edgeId live appliedAt objectsRemoved }';

export type PurgeEdge = { edgeId: string; live: boolean; appliedAt: string | null; objectsRemoved: number | null };
export type Purge = { id: string; seq: number; kind: string; value: string | null; completedAt: string | null; edgesTotal: number; edgesApplied: number; edges: PurgeEdge[] };
export type StatusEvent = { edge: PurgeEdge | null; purge: Pick<Purge, 'completedAt' | 'edgesApplied' | 'edgesTotal' | 'edges'> };

/** purgeStatus over graphql-ws: the events so far, and `ended` once the server completes it. */
export function followPurge(apiUrl: string, token: string, id: string): Followed<StatusEvent> {
  return followSubscription<StatusEvent>(
    apiUrl,
    token,
    `subscription($id: ID!) { purgeStatus(id: $id) { edge { edgeId live appliedAt objectsRemoved } purge { completedAt edgesApplied edgesTotal edges { edgeId live appliedAt objectsRemoved } } } }`,
    { id },
    'purgeStatus',
  );
}

/**
 * Writes purges as the api's purge service does, straight into PostgreSQL, in one
 * transaction: the outbox order lock, the customer row locked against deletion, one
 * `purge.requested` change per path and its purge row keeping the change's seq. Returns
 * them in seq order. Nothing is published: that is the relay's job.
 */
export async function insertPurgesInSql(database: TestDatabase, customerId: string, paths: string[]): Promise<Array<{ id: string; seq: number; value: string }>> {
  const pg = new PgClient({ connectionString: database.url });
  await pg.connect();
  try {
    await pg.query('BEGIN');
    const requestedAt = new Date().toISOString();
    const locked = await pg.query('SELECT 1 FROM "customer" WHERE "id" = $1 FOR KEY SHARE', [customerId]);
    assert.equal(locked.rowCount, 1, `customer ${customerId} exists`);
    await pg.query('SELECT pg_advisory_xact_lock($1)', [OUTBOX_ORDER_LOCK_KEY]);
    const { rows } = await pg.query<{ id: string; seq: string; value: string }>(
      `WITH input AS (
         SELECT gen_random_uuid() AS id, v.value, v.ord FROM unnest($2::text[]) WITH ORDINALITY AS v(value, ord)
       ), changes AS (
         INSERT INTO "change_log" ("kind", "customer_id", "payload")
         SELECT 'purge.requested', $1::varchar,
                jsonb_build_object('kind', 'purge.requested', 'v', 1, 'purge',
                  jsonb_build_object('id', i.id, 'customerId', $1::text, 'kind', 'URL', 'value', i.value, 'soft', false, 'requestedAt', $3::text))
           FROM input i ORDER BY i.ord
         RETURNING "seq", "payload"
       )
       INSERT INTO "purge" ("id", "customer_id", "kind", "value", "soft", "seq", "requested_at", "requested_by")
       SELECT (c."payload"->'purge'->>'id')::uuid, $1, 'URL', c."payload"->'purge'->>'value', false, c."seq", $3::timestamptz, 'e2e-sql'
         FROM changes c
       RETURNING "id", "seq", "value"`,
      [customerId, paths, requestedAt],
    );
    await pg.query('COMMIT');
    return rows.map((r) => ({ id: r.id, seq: Number(r.seq), value: r.value })).sort((a, b) => a.seq - b.seq);
  } catch (err) {
    await pg.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    await pg.end();
  }
}

/** One query on its own connection. */
export async function sql<T extends Record<string, unknown>>(database: TestDatabase, text: string, params: unknown[] = []): Promise<T[]> {
  const pg = new PgClient({ connectionString: database.url });
  await pg.connect();
  try {
    return (await pg.query<T>(text, params)).rows;
  } finally {
    await pg.end();
  }
}
