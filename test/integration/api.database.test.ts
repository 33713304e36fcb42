/**
 * The api's Database on a real PostgreSQL, for what a restart or failover looks like from
 * inside: a unit of work that gets no answer (here: blocked by another session's lock, as
 * it would be by a pooler waiting for a server) fails with the retryable error at its
 * deadline, its connection closed so that PostgreSQL rolls its transaction back, and the
 * pool goes on with fresh connections. The restarts themselves are in
 * test/e2e/postgres-failover.e2e.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { createDataSource, migrate } from '../../src/api/db/data-source';
import { Database } from '../../src/api/db/database';
import { isDatabaseUnavailable } from '../../src/api/db/pg-errors';
import { isCdnError } from '../../src/core/errors';
import { eventually } from '../support/processes';
import { createTestDatabase, type TestDatabase } from '../support/services';

const DEADLINE_MS = 500;

let database: TestDatabase;
let ds: DataSource;
let db: Database;

before(async () => {
  database = await createTestDatabase('edgeplane_database');
  ds = createDataSource({ databaseUrl: database.url, dataDir: '/nonexistent' });
  await ds.initialize();
  await migrate(ds);
  db = new Database(ds, { deadlineMs: DEADLINE_MS });
});

after(async () => {
  await ds?.destroy();
  await database?.drop();
});

/** Another session holding an exclusive lock on change_log until release(). */
async function lockChangeLog(): Promise<{ release(): Promise<void> }> {
  const blocker = new Client({ connectionString: database.url });
  await blocker.connect();
  await blocker.query('BEGIN');
  await blocker.query('LOCK TABLE "change_log" IN ACCESS EXCLUSIVE MODE');
  return {
    async release() {
      await blocker.query('COMMIT');
      await blocker.end();
    },
  };
}

function assertUnavailable(err: unknown, message: RegExp): true {
  assert.ok(isCdnError(err), `a CdnError, not ${String(err)}`);
  assert.equal(err.code, 'CDN_ERR_DATABASE_UNAVAILABLE');
  assert.equal(err.graphqlCode, 'SERVICE_UNAVAILABLE');
  assert.match(err.message, message);
  assert.match(err.message, /Retry in a few seconds/);
  return true;
}

/** Backends of this database other than ours that are waiting for a lock. */
async function waitingBackends(): Promise<number> {
  const rows: Array<{ n: string }> = await ds.query(
    `SELECT count(*) AS "n" FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
  );
  return Number(rows[0]!.n);
}

test('a transaction with no answer by its deadline fails with CDN_ERR_DATABASE_UNAVAILABLE, and PostgreSQL rolls it back', async () => {
  const lock = await lockChangeLog();
  let released = false;
  try {
    const started = Date.now();
    await assert.rejects(
      db.transaction(async (m) => {
        await m.query(`INSERT INTO "change_log" ("kind", "customer_id", "payload") VALUES ('customer.deleted', 'never', '{}')`);
      }),
      (err) => assertUnavailable(err, /no answer within 0\.5 s; the change in progress was rolled back/),
    );
    const took = Date.now() - started;
    assert.ok(took >= DEADLINE_MS && took < DEADLINE_MS + 1500, `failed at the deadline, after ${took} ms`);
    await lock.release();
    released = true;
    // The abandoned backend gets the lock, runs the insert, finds its client gone and aborts.
    await eventually(async () => (await waitingBackends()) === 0, 10_000, 'the abandoned backend is gone');
    const rows: unknown[] = await ds.query(`SELECT 1 FROM "change_log" WHERE "customer_id" = 'never'`);
    assert.deepEqual(rows, [], 'the abandoned transaction did not commit');
  } finally {
    if (!released) await lock.release();
  }
  // The pool dropped the closed connection: the next units of work run.
  const ok = await db.transaction(async (m) => (await m.query('SELECT 1 AS "one"')) as Array<{ one: number }>);
  assert.deepEqual(ok, [{ one: 1 }]);
});

test('a read and a ping with no answer fail at their deadlines; probes share one ping', async () => {
  const lock = await lockChangeLog();
  try {
    await assert.rejects(
      db.read((m) => m.query('SELECT count(*) FROM "change_log"')),
      (err) => assertUnavailable(err, /\(no answer within 0\.5 s\)/),
    );
    // Many readiness probes at once: one connection waits, not one each.
    const pings = [db.ping(), db.ping(), db.ping(), db.ping()];
    assert.equal(new Set(pings).size, 1, 'concurrent pings share one promise');
    // The ping itself is not blocked by the lock: it answers.
    await Promise.all(pings);
  } finally {
    await lock.release();
  }
  assert.deepEqual(await db.read((m) => m.query('SELECT 2 AS "two"')), [{ two: 2 }]);
});

test('errors of the query itself pass through unchanged', async () => {
  await assert.rejects(
    db.read((m) => m.query('SELECT * FROM "no_such_table"')),
    (err: unknown) => !isCdnError(err) && !isDatabaseUnavailable(err) && /no_such_table/.test(String((err as Error).message)),
  );
  await assert.rejects(
    db.transaction(async (m) => {
      await m.query('SELECT 1/0');
    }),
    (err: unknown) => !isCdnError(err) && /division by zero/.test(String((err as Error).message)),
  );
});

test('a pooled connection the server terminates while no one listens on it does not end the process', async () => {
  // Checked out of the pool with no query runner holding it: the pool's own listener is off.
  const pool = (ds.driver as unknown as { master: { connect(): Promise<Client & { release(err?: Error | boolean): void }> } }).master;
  const client = await pool.connect();
  try {
    const [{ pid }] = (await client.query('SELECT pg_backend_pid() AS "pid"')).rows as Array<{ pid: number }>;
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    await ds.query('SELECT pg_terminate_backend($1)', [pid]);
    // Without a listener of the client's own, its 'error' event would be an uncaught exception here.
    await ended;
    await assert.rejects(client.query('SELECT 1'), (err: unknown) => isDatabaseUnavailable(err));
  } finally {
    client.release(true);
  }
  assert.deepEqual(await db.read((m) => m.query('SELECT 3 AS "three"')), [{ three: 3 }]);
});

test('isDatabaseUnavailable: connection and server-state failures yes, query errors no', () => {
  const yes = [
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
    Object.assign(new Error('server login has been failing, try again later (server_login_retry)'), { code: '08P01' }),
    new Error('Connection terminated unexpectedly'),
    new Error('timeout exceeded when trying to connect'),
    new Error('Client has encountered a connection error and is not queryable'),
  ];
  const no = [Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' }), new Error('boom'), null, 'Connection terminated'];
  for (const err of yes) assert.equal(isDatabaseUnavailable(err), true, String(err));
  for (const err of no) assert.equal(isDatabaseUnavailable(err), false, String(err));
});
