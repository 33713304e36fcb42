/** The migrations on a fresh PostgreSQL database: up, down, up again, and the tables they promise. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDataSource, migrate } from '../../src/api/db/data-source';
import { createTestDatabase } from '../support/services';

async function tables(query: (sql: string) => Promise<Array<{ table_name: string }>>): Promise<string[]> {
  const rows = await query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'migrations' ORDER BY 1`);
  return rows.map((r) => r.table_name);
}

const ALL = ['InitialSchema1732400000000', 'CustomerCacheOptions1795530000000', 'CustomerStaleIfError1795540000000'];

async function customerColumns(query: (sql: string) => Promise<Array<Record<string, string | null>>>): Promise<Record<string, string>> {
  const rows = await query(
    `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
      WHERE table_name = 'customer' AND column_name IN ('cache_quota_bytes', 'query_string_mode', 'query_string_allow') ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.column_name!, `${r.data_type} ${r.is_nullable === 'YES' ? 'NULL' : 'NOT NULL'} ${r.column_default ?? ''}`.trim()]));
}

test('migrate applies every migration; down then up runs cleanly', async () => {
  const database = await createTestDatabase('edgeplane_api_migrations');
  const ds = createDataSource({ databaseUrl: database.url, dataDir: '/nonexistent' });
  await ds.initialize();
  try {
    const q = (sql: string) => ds.query(sql);
    assert.deepEqual(await migrate(ds), ALL);
    assert.deepEqual(await tables(q), ['change_log', 'customer', 'domain']);
    assert.deepEqual(await migrate(ds), [], 'a second run applies nothing');

    const indexes: Array<{ indexname: string }> = await ds.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'domain' ORDER BY 1`);
    assert.deepEqual(indexes.map((i) => i.indexname), ['idx_domain_customer_id', 'pk_domain']);

    for (let i = 0; i < ALL.length; i++) await ds.undoLastMigration({ transaction: 'all' });
    assert.deepEqual(await tables(q), []);
    assert.deepEqual(await migrate(ds), ALL);
    assert.deepEqual(await tables(q), ['change_log', 'customer', 'domain']);

    // The cascade the service relies on: deleting a customer deletes its domains.
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('m', 'M', 'https://m.example', 60)`);
    await ds.query(`INSERT INTO domain (hostname, customer_id) VALUES ('m.example', 'm')`);
    await ds.query(`DELETE FROM customer WHERE id = 'm'`);
    assert.deepEqual(await ds.query('SELECT * FROM domain'), []);
  } finally {
    await ds.destroy();
    await database.drop();
  }
});

test('the cache-options migration: existing customers get the defaults; down removes the columns, up restores them', async () => {
  const database = await createTestDatabase('edgeplane_api_migrations');
  const ds = createDataSource({ databaseUrl: database.url, dataDir: '/nonexistent' });
  await ds.initialize();
  try {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    assert.deepEqual(await customerColumns(q), {
      cache_quota_bytes: 'bigint NULL',
      query_string_allow: "jsonb NOT NULL '[]'::jsonb",
      query_string_mode: "character varying NOT NULL 'keep'::character varying",
    });

    await ds.undoLastMigration({ transaction: 'all' }); // stale-if-error
    await ds.undoLastMigration({ transaction: 'all' });
    assert.deepEqual(await customerColumns(q), {});
    // A customer written before the migration, as by the previous release.
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('old', 'Old', 'https://old.example', 60)`);

    assert.deepEqual(await migrate(ds), ['CustomerCacheOptions1795530000000', 'CustomerStaleIfError1795540000000']);
    assert.deepEqual(await ds.query(`SELECT cache_quota_bytes, query_string_mode, query_string_allow FROM customer WHERE id = 'old'`), [
      { cache_quota_bytes: null, query_string_mode: 'keep', query_string_allow: [] },
    ]);
    // 64-bit values fit; an unknown mode is refused by the database too.
    await ds.query(`UPDATE customer SET cache_quota_bytes = 1125899906842624 WHERE id = 'old'`);
    assert.deepEqual(await ds.query(`SELECT cache_quota_bytes FROM customer WHERE id = 'old'`), [{ cache_quota_bytes: '1125899906842624' }]);
    await assert.rejects(ds.query(`UPDATE customer SET query_string_mode = 'KEEP' WHERE id = 'old'`), /chk_customer_query_string_mode/);
  } finally {
    await ds.destroy();
    await database.drop();
  }
});

test('the stale-if-error migration: existing customers get NULL (off); down removes the column, up restores it', async () => {
  const database = await createTestDatabase('edgeplane_api_migrations');
  const ds = createDataSource({ databaseUrl: database.url, dataDir: '/nonexistent' });
  await ds.initialize();
  try {
    const column = async (): Promise<unknown[]> =>
      ds.query(`SELECT data_type, is_nullable, column_default FROM information_schema.columns WHERE table_name = 'customer' AND column_name = 'stale_if_error_seconds'`);
    await migrate(ds);
    assert.deepEqual(await column(), [{ data_type: 'integer', is_nullable: 'YES', column_default: null }]);

    await ds.undoLastMigration({ transaction: 'all' });
    assert.deepEqual(await column(), []);
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('old', 'Old', 'https://old.example', 60)`);

    assert.deepEqual(await migrate(ds), ['CustomerStaleIfError1795540000000']);
    assert.deepEqual(await ds.query(`SELECT stale_if_error_seconds FROM customer WHERE id = 'old'`), [{ stale_if_error_seconds: null }]);
  } finally {
    await ds.destroy();
    await database.drop();
  }
});
