/** The migrations on a fresh PostgreSQL database: up, down, up again, and the tables they promise. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDataSource, migrate } from '../../src/api/db/data-source';
import { createTestDatabase } from '../support/services';

async function tables(query: (sql: string) => Promise<Array<{ table_name: string }>>): Promise<string[]> {
  const rows = await query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'migrations' ORDER BY 1`);
  return rows.map((r) => r.table_name);
}

test('migrate applies the initial schema; down then up runs cleanly', async () => {
  const database = await createTestDatabase('edgeplane_api_migrations');
  const ds = createDataSource({ databaseUrl: database.url, dataDir: '/nonexistent' });
  await ds.initialize();
  try {
    const q = (sql: string) => ds.query(sql);
    assert.deepEqual(await migrate(ds), ['InitialSchema1732400000000']);
    assert.deepEqual(await tables(q), ['change_log', 'customer', 'domain']);
    assert.deepEqual(await migrate(ds), [], 'a second run applies nothing');

    const indexes: Array<{ indexname: string }> = await ds.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'domain' ORDER BY 1`);
    assert.deepEqual(indexes.map((i) => i.indexname), ['idx_domain_customer_id', 'pk_domain']);

    await ds.undoLastMigration({ transaction: 'all' });
    assert.deepEqual(await tables(q), []);
    assert.deepEqual(await migrate(ds), ['InitialSchema1732400000000']);
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
