/** The migrations on a fresh PostgreSQL database: up, down, up again, and the tables they promise. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDataSource, migrate } from '../../src/api/db/data-source';
import { createTestDatabase } from '../support/services';

async function tables(query: (sql: string) => Promise<Array<{ table_name: string }>>): Promise<string[]> {
  const rows = await query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'migrations' ORDER BY 1`);
  return rows.map((r) => r.table_name);
}

const ALL = [
  'InitialSchema1732400000000',
  'CustomerCacheOptions1795530000000',
  'CustomerStaleIfError1795540000000',
  'Purges1795550000000',
  'ApiTokens1795560000000',
  'AuditLog1795570000000',
  'Certificates1795580000000',
  'AcmeAccounts1795590000000',
  'DeliveryRules1795600000000',
  'CacheWarming1795610000000',
  'Origins1795620000000',
  'OriginEvents1795630000000',
  'Webhooks1795700000000',
  'Alerts1795710000000',
  'TrafficTop1795720000000',
];
const TABLES = ['acme_account', 'acme_challenge', 'alert_event', 'alert_rule', 'alert_state', 'api_token', 'audit_log', 'certificate', 'change_log', 'customer', 'customer_origin', 'domain', 'origin_event', 'purge', 'purge_edge', 'signing_key', 'traffic_top_entry', 'traffic_top_summary', 'warm', 'warm_edge', 'webhook', 'webhook_delivery', 'webhook_event'];
/** The tables of the certificates and ACME accounts migrations, newer than every other. */
const TLS_TABLES = ['acme_account', 'acme_challenge', 'certificate'];
/** The table of the delivery-rules migration. */
const RULES_TABLES = ['signing_key'];
/** The tables of the cache-warming migration. */
const WARM_TABLES = ['warm', 'warm_edge'];
/** The tables of the origins migration and of the origin events one, the newest. */
const ORIGIN_TABLES = ['customer_origin', 'origin_event'];
/** The tables of the alerts migration (older than the top URLs one). */
const ALERT_TABLES = ['alert_event', 'alert_rule', 'alert_state'];
/** The tables of the top URLs migration, the newest. */
const TOP_TABLES = ['traffic_top_entry', 'traffic_top_summary'];
/** The tables of the webhooks migration (older than the alerts one). */
const WEBHOOK_TABLES = ['webhook', 'webhook_delivery', 'webhook_event'];

/** Undoes the newest migrations until `name` is no longer applied (the ones after it go first). */
async function undoThrough(ds: { undoLastMigration(o: { transaction: 'all' }): Promise<void> }, name: string): Promise<void> {
  for (let i = ALL.length - 1; i >= ALL.indexOf(name); i--) await ds.undoLastMigration({ transaction: 'all' });
}

async function customerColumns(query: (sql: string) => Promise<Array<Record<string, string | null>>>): Promise<Record<string, string>> {
  const rows = await query(
    `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
      WHERE table_name = 'customer' AND column_name IN ('cache_quota_bytes', 'query_string_mode', 'query_string_allow') ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.column_name!, `${r.data_type} ${r.is_nullable === 'YES' ? 'NULL' : 'NOT NULL'} ${r.column_default ?? ''}`.trim()]));
}

/** A fresh, empty database and a data source on it (migrations not run yet), dropped afterwards. */
async function withDatabase(body: (ds: ReturnType<typeof createDataSource>) => Promise<void>): Promise<void> {
  const database = await createTestDatabase('edgeplane_api_migrations');
  const ds = createDataSource({ databaseUrl: database.url, dataDir: '/nonexistent' });
  await ds.initialize();
  try {
    await body(ds);
  } finally {
    await ds.destroy();
    await database.drop();
  }
}

test('migrate applies every migration; down then up runs cleanly', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    assert.deepEqual(await migrate(ds), ALL);
    assert.deepEqual(await tables(q), TABLES);
    assert.deepEqual(await migrate(ds), [], 'a second run applies nothing');

    const indexes: Array<{ indexname: string }> = await ds.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'domain' ORDER BY 1`);
    assert.deepEqual(indexes.map((i) => i.indexname), ['idx_domain_customer_id', 'pk_domain']);

    for (let i = 0; i < ALL.length; i++) await ds.undoLastMigration({ transaction: 'all' });
    assert.deepEqual(await tables(q), []);
    assert.deepEqual(await migrate(ds), ALL);
    assert.deepEqual(await tables(q), TABLES);

    // The cascade the service relies on: deleting a customer deletes its domains.
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('m', 'M', 'https://m.example', 60)`);
    await ds.query(`INSERT INTO domain (hostname, customer_id) VALUES ('m.example', 'm')`);
    await ds.query(`DELETE FROM customer WHERE id = 'm'`);
    assert.deepEqual(await ds.query('SELECT * FROM domain'), []);
  }));

test('the cache-options migration: existing customers get the defaults; down removes the columns, up restores them', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    assert.deepEqual(await customerColumns(q), {
      cache_quota_bytes: 'bigint NULL',
      query_string_allow: "jsonb NOT NULL '[]'::jsonb",
      query_string_mode: "character varying NOT NULL 'keep'::character varying",
    });

    await undoThrough(ds, 'CustomerCacheOptions1795530000000');
    assert.deepEqual(await customerColumns(q), {});
    // A customer written before the migration, as by the previous release.
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('old', 'Old', 'https://old.example', 60)`);

    assert.deepEqual(await migrate(ds), ALL.slice(ALL.indexOf('CustomerCacheOptions1795530000000')));
    assert.deepEqual(await ds.query(`SELECT cache_quota_bytes, query_string_mode, query_string_allow FROM customer WHERE id = 'old'`), [
      { cache_quota_bytes: null, query_string_mode: 'keep', query_string_allow: [] },
    ]);
    // 64-bit values fit; an unknown mode is refused by the database too.
    await ds.query(`UPDATE customer SET cache_quota_bytes = 1125899906842624 WHERE id = 'old'`);
    assert.deepEqual(await ds.query(`SELECT cache_quota_bytes FROM customer WHERE id = 'old'`), [{ cache_quota_bytes: '1125899906842624' }]);
    await assert.rejects(ds.query(`UPDATE customer SET query_string_mode = 'KEEP' WHERE id = 'old'`), /chk_customer_query_string_mode/);
  }));

test('the stale-if-error migration: existing customers get NULL (off); down removes the column, up restores it', () =>
  withDatabase(async (ds) => {
    const column = async (): Promise<unknown[]> =>
      ds.query(`SELECT data_type, is_nullable, column_default FROM information_schema.columns WHERE table_name = 'customer' AND column_name = 'stale_if_error_seconds'`);
    await migrate(ds);
    assert.deepEqual(await column(), [{ data_type: 'integer', is_nullable: 'YES', column_default: null }]);

    await undoThrough(ds, 'CustomerStaleIfError1795540000000');
    assert.deepEqual(await column(), []);
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('old', 'Old', 'https://old.example', 60)`);

    assert.deepEqual(await migrate(ds), ALL.slice(ALL.indexOf('CustomerStaleIfError1795540000000')));
    assert.deepEqual(await ds.query(`SELECT stale_if_error_seconds FROM customer WHERE id = 'old'`), [{ stale_if_error_seconds: null }]);
  }));

test('the purges migration: the paging index, kinds and values checked, purges and acks go with their customer; down drops both tables', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    const indexes: Array<{ indexname: string; indexdef: string }> = await ds.query(
      `SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('purge', 'purge_edge') ORDER BY 1`,
    );
    assert.deepEqual(indexes.map((i) => i.indexname), ['idx_purge_customer_requested', 'pk_purge', 'pk_purge_edge']);
    assert.match(indexes[0]!.indexdef, /\(customer_id, requested_at DESC, id\)/);

    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('m', 'M', 'https://m.example', 60)`);
    const [{ id }] = (await ds.query(`INSERT INTO purge (customer_id, kind, value, seq) VALUES ('m', 'URL', '/a', 7) RETURNING id`)) as Array<{ id: string }>;
    await ds.query(`INSERT INTO purge_edge (purge_id, edge_id, applied_at) VALUES ($1, 'edge-1', now())`, [id]);
    assert.deepEqual(await ds.query(`SELECT soft, completed_at, requested_by, seq FROM purge`), [{ soft: false, completed_at: null, requested_by: null, seq: '7' }]);
    await assert.rejects(ds.query(`INSERT INTO purge (customer_id, kind, value, seq) VALUES ('m', 'BAN', '/a', 8)`), /chk_purge_kind/);
    await assert.rejects(ds.query(`INSERT INTO purge (customer_id, kind, value, seq) VALUES ('m', 'ALL', '/a', 8)`), /chk_purge_value/);
    await assert.rejects(ds.query(`INSERT INTO purge (customer_id, kind, seq) VALUES ('m', 'URL', 8)`), /chk_purge_value/);
    await assert.rejects(ds.query(`INSERT INTO purge (customer_id, kind, seq) VALUES ('nobody', 'ALL', 8)`), /fk_purge_customer/);
    await assert.rejects(ds.query(`INSERT INTO purge_edge (purge_id, edge_id, applied_at) VALUES ($1, 'edge-1', now())`, [id]), /pk_purge_edge/);

    await ds.query(`DELETE FROM customer WHERE id = 'm'`);
    assert.deepEqual(await ds.query('SELECT * FROM purge'), []);
    assert.deepEqual(await ds.query('SELECT * FROM purge_edge'), []);

    await undoThrough(ds, 'Purges1795550000000');
    assert.deepEqual(await tables(q), ['change_log', 'customer', 'domain']);
    assert.deepEqual(await migrate(ds), ALL.slice(ALL.indexOf('Purges1795550000000')));
    assert.deepEqual(await tables(q), TABLES);
  }));

test('the api tokens migration: a hash per token, customer roles carry their customer and go with it; down drops the table', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('m', 'M', 'https://m.example', 60)`);
    const insert = (id: string, role: string, customer: string | null, sha: string) =>
      ds.query(`INSERT INTO api_token (id, name, role, customer_id, token_sha256, expires_at) VALUES ($1, 'n', $2, $3, $4, now() + interval '1 day')`, [id, role, customer, sha]);
    await insert('00000000-0000-4000-8000-000000000001', 'admin', null, 'a'.repeat(64));
    await insert('00000000-0000-4000-8000-000000000002', 'customer-purger', 'm', 'b'.repeat(64));
    await assert.rejects(insert('00000000-0000-4000-8000-000000000003', 'customer-viewer', null, 'c'.repeat(64)), /chk_api_token_scope/);
    await assert.rejects(insert('00000000-0000-4000-8000-000000000003', 'viewer', 'm', 'c'.repeat(64)), /chk_api_token_scope/);
    await assert.rejects(insert('00000000-0000-4000-8000-000000000003', 'root', null, 'c'.repeat(64)), /chk_api_token_role/);
    await assert.rejects(insert('00000000-0000-4000-8000-000000000003', 'admin', null, 'a'.repeat(64)), /uq_api_token_sha256/);
    await assert.rejects(insert('00000000-0000-4000-8000-000000000003', 'customer-admin', 'nobody', 'c'.repeat(64)), /fk_api_token_customer/);
    await ds.query(`DELETE FROM customer WHERE id = 'm'`);
    assert.deepEqual((await ds.query('SELECT role FROM api_token')) as unknown[], [{ role: 'admin' }], "a customer's tokens go with it");

    await undoThrough(ds, 'ApiTokens1795560000000');
    // The audit log and the certificates, newer, go first.
    assert.deepEqual(await tables(q), TABLES.filter((t) => t !== 'api_token' && t !== 'audit_log' && !TLS_TABLES.includes(t) && !RULES_TABLES.includes(t) && !WARM_TABLES.includes(t) && !ORIGIN_TABLES.includes(t) && !ALERT_TABLES.includes(t) && !WEBHOOK_TABLES.includes(t) && !TOP_TABLES.includes(t)));
    assert.deepEqual(await migrate(ds), ALL.slice(ALL.indexOf('ApiTokens1795560000000')));
  }));

test('the audit-log migration: entries outlive their customer, the paging and retention indexes; down drops the table', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    const indexes: Array<{ indexname: string; indexdef: string }> = await ds.query(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_log' ORDER BY 1`);
    assert.deepEqual(indexes.map((i) => i.indexname), ['idx_audit_log_at', 'idx_audit_log_customer', 'pk_audit_log']);
    assert.match(indexes[1]!.indexdef, /\(customer_id, id DESC\)/);

    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('m', 'M', 'https://m.example', 60)`);
    await ds.query(`INSERT INTO audit_log (actor_kind, actor_role, mutation, customer_id) VALUES ('admin', 'admin', 'deleteCustomer', 'm')`);
    await ds.query(`DELETE FROM customer WHERE id = 'm'`);
    const rows: Array<Record<string, unknown>> = await ds.query(`SELECT id, arguments, outcome, finished_at, customer_id, (now() - at) < interval '1 minute' AS recent FROM audit_log`);
    assert.deepEqual(rows, [{ id: '1', arguments: {}, outcome: null, finished_at: null, customer_id: 'm', recent: true }]);

    await undoThrough(ds, 'AuditLog1795570000000');
    assert.deepEqual(await tables(q), TABLES.filter((t) => t !== 'audit_log' && !TLS_TABLES.includes(t) && !RULES_TABLES.includes(t) && !WARM_TABLES.includes(t) && !ORIGIN_TABLES.includes(t) && !ALERT_TABLES.includes(t) && !WEBHOOK_TABLES.includes(t) && !TOP_TABLES.includes(t)));
    assert.deepEqual(await migrate(ds), ['AuditLog1795570000000', 'Certificates1795580000000', 'AcmeAccounts1795590000000', 'DeliveryRules1795600000000', 'CacheWarming1795610000000', 'Origins1795620000000', 'OriginEvents1795630000000', 'Webhooks1795700000000', 'Alerts1795710000000', 'TrafficTop1795720000000']);
    assert.deepEqual(await tables(q), TABLES);
  }));

test('the certificates migration: statuses and sources checked, served rows hold their material, both tables go with their customer; down restores the customer table', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    const indexes: Array<{ indexname: string; indexdef: string }> = await ds.query(
      `SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('certificate', 'acme_challenge') ORDER BY 1`,
    );
    assert.deepEqual(indexes.map((i) => i.indexname), [
      'idx_acme_challenge_certificate',
      'idx_acme_challenge_customer',
      'idx_certificate_customer',
      'idx_certificate_status_renew',
      'pk_acme_challenge',
      'pk_certificate',
    ]);
    assert.match(indexes[3]!.indexdef, /\(status, renew_at\)/);

    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('m', 'M', 'https://m.example', 60)`);
    assert.deepEqual(await ds.query(`SELECT https_redirect, hsts_max_age, hsts_include_subdomains, hsts_preload FROM customer`), [
      { https_redirect: null, hsts_max_age: null, hsts_include_subdomains: false, hsts_preload: false },
    ]);
    await assert.rejects(ds.query(`UPDATE customer SET hsts_max_age = -1`), /chk_customer_hsts_max_age/);
    const [{ id }] = (await ds.query(
      `INSERT INTO certificate (customer_id, domains, source, status) VALUES ('m', '{m.example}', 'ACME', 'PENDING') RETURNING id`,
    )) as Array<{ id: string }>;
    assert.deepEqual(await ds.query(`SELECT domains, attempts, cert_pem, key_enc FROM certificate`), [{ domains: ['m.example'], attempts: 0, cert_pem: null, key_enc: null }]);
    await assert.rejects(ds.query(`INSERT INTO certificate (customer_id, domains, source, status) VALUES ('m', '{}', 'MANUAL', 'PENDING')`), /chk_certificate_source/);
    await assert.rejects(ds.query(`INSERT INTO certificate (customer_id, domains, source, status) VALUES ('m', '{}', 'ACME', 'VALID')`), /chk_certificate_status/);
    await assert.rejects(ds.query(`UPDATE certificate SET status = 'ISSUED'`), /chk_certificate_material/);
    await assert.rejects(ds.query(`INSERT INTO certificate (customer_id, domains, source, status) VALUES ('nobody', '{}', 'ACME', 'PENDING')`), /fk_certificate_customer/);
    await ds.query(`INSERT INTO acme_challenge (token, customer_id, certificate_id, domain, key_authorization) VALUES ('t', 'm', $1, 'm.example', 't.k')`, [id]);
    await ds.query(`DELETE FROM customer WHERE id = 'm'`);
    assert.deepEqual(await ds.query('SELECT * FROM certificate'), []);
    assert.deepEqual(await ds.query('SELECT * FROM acme_challenge'), []);

    await undoThrough(ds, 'Certificates1795580000000');
    assert.deepEqual(await tables(q), TABLES.filter((t) => !TLS_TABLES.includes(t) && !RULES_TABLES.includes(t) && !WARM_TABLES.includes(t) && !ORIGIN_TABLES.includes(t) && !ALERT_TABLES.includes(t) && !WEBHOOK_TABLES.includes(t) && !TOP_TABLES.includes(t)));
    const columns: unknown[] = await ds.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'customer' AND (column_name LIKE 'hsts%' OR column_name = 'https_redirect')`);
    assert.deepEqual(columns, []);
    assert.deepEqual(await migrate(ds), ['Certificates1795580000000', 'AcmeAccounts1795590000000', 'DeliveryRules1795600000000', 'CacheWarming1795610000000', 'Origins1795620000000', 'OriginEvents1795630000000', 'Webhooks1795700000000', 'Alerts1795710000000', 'TrafficTop1795720000000']);
    assert.deepEqual(await tables(q), TABLES);
  }));

test('the ACME accounts migration: one key per directory; down drops the table alone', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    await ds.query(`INSERT INTO acme_account (directory_url, key_enc) VALUES ('https://ca.example/dir', 'v1.a.b.c')`);
    await assert.rejects(ds.query(`INSERT INTO acme_account (directory_url, key_enc) VALUES ('https://ca.example/dir', 'v1.d.e.f')`), /pk_acme_account/);
    await undoThrough(ds, 'AcmeAccounts1795590000000');
    assert.deepEqual(await tables(q), TABLES.filter((t) => t !== 'acme_account' && !RULES_TABLES.includes(t) && !WARM_TABLES.includes(t) && !ORIGIN_TABLES.includes(t) && !ALERT_TABLES.includes(t) && !WEBHOOK_TABLES.includes(t) && !TOP_TABLES.includes(t)));
    assert.deepEqual(await migrate(ds), ['AcmeAccounts1795590000000', 'DeliveryRules1795600000000', 'CacheWarming1795610000000', 'Origins1795620000000', 'OriginEvents1795630000000', 'Webhooks1795700000000', 'Alerts1795710000000', 'TrafficTop1795720000000']);
    assert.deepEqual(await tables(q), TABLES);
  }));

test('the delivery-rules migration: existing customers keep their behaviour (no rules, their fields are the default rule), keys go with their customer; down restores the customer table', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    await undoThrough(ds, 'DeliveryRules1795600000000');
    // A customer from before the migration, with its cache options.
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl, stale_if_error_seconds, query_string_mode, query_string_allow) VALUES ('m', 'M', 'https://m.example', 60, 30, 'allowlist', '["v"]')`);
    assert.deepEqual(await migrate(ds), ['DeliveryRules1795600000000', 'CacheWarming1795610000000', 'Origins1795620000000', 'OriginEvents1795630000000', 'Webhooks1795700000000', 'Alerts1795710000000', 'TrafficTop1795720000000']);
    assert.deepEqual(await ds.query(`SELECT cache_ttl, stale_if_error_seconds, query_string_mode, query_string_allow, delivery_rules, compress_types FROM customer`), [
      { cache_ttl: 60, stale_if_error_seconds: 30, query_string_mode: 'allowlist', query_string_allow: ['v'], delivery_rules: [], compress_types: [] },
    ]);
    await ds.query(`INSERT INTO signing_key (customer_id, id, secret_enc) VALUES ('m', 'abcd0123', 'v1.a.b.c')`);
    await assert.rejects(ds.query(`INSERT INTO signing_key (customer_id, id, secret_enc) VALUES ('m', 'abcd0123', 'v1.d.e.f')`), /pk_signing_key/);
    await assert.rejects(ds.query(`INSERT INTO signing_key (customer_id, id, secret_enc) VALUES ('nobody', 'abcd0124', 'v1.d.e.f')`), /fk_signing_key_customer/);
    await ds.query(`DELETE FROM customer WHERE id = 'm'`);
    assert.deepEqual(await ds.query('SELECT * FROM signing_key'), []);
    await undoThrough(ds, 'DeliveryRules1795600000000');
    assert.deepEqual(await tables(q), TABLES.filter((t) => !RULES_TABLES.includes(t) && !WARM_TABLES.includes(t) && !ORIGIN_TABLES.includes(t) && !ALERT_TABLES.includes(t) && !WEBHOOK_TABLES.includes(t) && !TOP_TABLES.includes(t)));
    const columns: unknown[] = await ds.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'customer' AND column_name IN ('delivery_rules', 'compress_types')`);
    assert.deepEqual(columns, []);
    assert.deepEqual(await migrate(ds), ['DeliveryRules1795600000000', 'CacheWarming1795610000000', 'Origins1795620000000', 'OriginEvents1795630000000', 'Webhooks1795700000000', 'Alerts1795710000000', 'TrafficTop1795720000000']);
    assert.deepEqual(await tables(q), TABLES);
  }));

test('the cache-warming migration: edge rows go with their warm, warms with their customer, states and counts checked; down drops both tables alone', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    const indexes: Array<{ indexname: string; indexdef: string }> = await ds.query(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('warm', 'warm_edge') ORDER BY 1`);
    assert.deepEqual(indexes.map((i) => i.indexname), ['idx_warm_customer_requested', 'pk_warm', 'pk_warm_edge']);
    assert.match(indexes[0]!.indexdef, /\(customer_id, requested_at DESC, id\)/);
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('m', 'M', 'https://m.example', 60)`);
    const [{ id }] = (await ds.query(`INSERT INTO warm (customer_id, urls, url_count, seq) VALUES ('m', '[{"host":"m.example","path":"/a"}]', 1, 7) RETURNING id`)) as Array<{ id: string }>;
    await assert.rejects(ds.query(`INSERT INTO warm (customer_id, urls, url_count, seq) VALUES ('m', '[]', 0, 8)`), /chk_warm_url_count/);
    await assert.rejects(ds.query(`INSERT INTO warm (customer_id, urls, url_count, seq) VALUES ('nobody', '[]', 1, 8)`), /fk_warm_customer/);
    await ds.query(`INSERT INTO warm_edge (warm_id, edge_id) VALUES ($1, 'edge-1')`, [id]);
    assert.deepEqual(await ds.query(`SELECT state, urls_done, urls_failed, process_id, reported_at FROM warm_edge`), [{ state: 'pending', urls_done: 0, urls_failed: 0, process_id: null, reported_at: null }]);
    await assert.rejects(ds.query(`UPDATE warm_edge SET state = 'lost'`), /chk_warm_edge_state/);
    await assert.rejects(ds.query(`INSERT INTO warm_edge (warm_id, edge_id) VALUES ('00000000-0000-4000-8000-000000000000', 'edge-1')`), /fk_warm_edge_warm/);
    await ds.query(`DELETE FROM customer WHERE id = 'm'`);
    assert.deepEqual(await ds.query('SELECT * FROM warm'), []);
    assert.deepEqual(await ds.query('SELECT * FROM warm_edge'), []);
    await undoThrough(ds, 'CacheWarming1795610000000');
    assert.deepEqual(await tables(q), TABLES.filter((t) => !WARM_TABLES.includes(t) && !ORIGIN_TABLES.includes(t) && !ALERT_TABLES.includes(t) && !WEBHOOK_TABLES.includes(t) && !TOP_TABLES.includes(t)));
    assert.deepEqual(await migrate(ds), ['CacheWarming1795610000000', 'Origins1795620000000', 'OriginEvents1795630000000', 'Webhooks1795700000000', 'Alerts1795710000000', 'TrafficTop1795720000000']);
    assert.deepEqual(await tables(q), TABLES);
  }));

test('the origins migration: every existing customer gets its one origin, primary, as it was (Basic Auth only with both halves); origins go with their customer; down drops them alone', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    await undoThrough(ds, 'Origins1795620000000');
    assert.deepEqual(await tables(q), TABLES.filter((t) => !ORIGIN_TABLES.includes(t) && !ALERT_TABLES.includes(t) && !WEBHOOK_TABLES.includes(t) && !TOP_TABLES.includes(t)));
    // Customers from before the migration: with Basic Auth, without, and a lone username (never read as Basic Auth).
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl, basic_auth_username, basic_auth_password_enc, created_at, updated_at, version)
      VALUES ('a', 'A', 'https://origin.a.example/base', 60, 'user', 'v1.sealed', '2030-01-02T03:04:05Z', '2030-02-03T04:05:06Z', 7)`);
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('b', 'B', 'http://origin.b.example:8080', 60)`);
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl, basic_auth_username) VALUES ('c', 'C', 'https://origin.c.example', 60, 'lonely')`);
    assert.deepEqual(await migrate(ds), ['Origins1795620000000', 'OriginEvents1795630000000', 'Webhooks1795700000000', 'Alerts1795710000000', 'TrafficTop1795720000000']);
    const rows: Array<Record<string, unknown>> = await ds.query(
      `SELECT customer_id, name, url, basic_auth_username, basic_auth_password_enc, priority, weight, host_header, tls_server_name, health_check, created_at = (SELECT created_at FROM customer WHERE id = customer_id) AS same_created
         FROM customer_origin ORDER BY customer_id`,
    );
    const origin = (customer: string, url: string, username: string | null, password: string | null) => ({
      customer_id: customer, name: 'primary', url, basic_auth_username: username, basic_auth_password_enc: password,
      priority: 1, weight: 1, host_header: null, tls_server_name: null, health_check: null, same_created: true,
    });
    assert.deepEqual(rows, [
      origin('a', 'https://origin.a.example/base', 'user', 'v1.sealed'),
      origin('b', 'http://origin.b.example:8080', null, null),
      origin('c', 'https://origin.c.example', null, null),
    ]);
    // Nothing else of the customer changed (no version bump: the edges' copies stay valid).
    assert.deepEqual(await ds.query(`SELECT origin_url, basic_auth_username, version, origin_policy FROM customer WHERE id = 'a'`), [
      { origin_url: 'https://origin.a.example/base', basic_auth_username: 'user', version: 7, origin_policy: null },
    ]);
    await assert.rejects(ds.query(`INSERT INTO customer_origin (customer_id, name, url) VALUES ('a', 'primary', 'https://x.example')`), /pk_customer_origin/);
    await assert.rejects(ds.query(`INSERT INTO customer_origin (customer_id, name, url) VALUES ('nobody', 'x', 'https://x.example')`), /fk_customer_origin_customer/);
    await assert.rejects(ds.query(`INSERT INTO customer_origin (customer_id, name, url, priority) VALUES ('a', 'x', 'https://x.example', 0)`), /chk_customer_origin_priority/);
    await assert.rejects(ds.query(`INSERT INTO customer_origin (customer_id, name, url, weight) VALUES ('a', 'x', 'https://x.example', 1001)`), /chk_customer_origin_weight/);
    await assert.rejects(ds.query(`INSERT INTO customer_origin (customer_id, name, url, basic_auth_username) VALUES ('a', 'x', 'https://x.example', 'u')`), /chk_customer_origin_basic_auth/);
    await ds.query(`DELETE FROM customer WHERE id = 'a'`);
    assert.deepEqual((await ds.query(`SELECT customer_id FROM customer_origin ORDER BY 1`)) as unknown[], [{ customer_id: 'b' }, { customer_id: 'c' }]);

    await undoThrough(ds, 'Origins1795620000000');
    assert.deepEqual(await tables(q), TABLES.filter((t) => !ORIGIN_TABLES.includes(t) && !ALERT_TABLES.includes(t) && !WEBHOOK_TABLES.includes(t) && !TOP_TABLES.includes(t)));
    assert.deepEqual(await ds.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'customer' AND column_name = 'origin_policy'`), []);
    assert.deepEqual(await ds.query(`SELECT id, origin_url FROM customer ORDER BY id`), [
      { id: 'b', origin_url: 'http://origin.b.example:8080' },
      { id: 'c', origin_url: 'https://origin.c.example' },
    ]);
    assert.deepEqual(await migrate(ds), ['Origins1795620000000', 'OriginEvents1795630000000', 'Webhooks1795700000000', 'Alerts1795710000000', 'TrafficTop1795720000000']);
    assert.deepEqual(await tables(q), TABLES);
  }));

test('the origin events migration: one row per (edge, customer, origin, at), up or down only; events go with their customer; down drops the table alone', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('a', 'A', 'https://a.example', 60)`);
    const insert = `INSERT INTO origin_event (edge_id, customer_id, origin, state, reason, at) VALUES ($1, $2, 'primary', $3, 'timeout', '2030-01-01T00:00:00Z')`;
    await ds.query(insert, ['edge-1', 'a', 'down']);
    await assert.rejects(ds.query(insert, ['edge-1', 'a', 'down']), /uq_origin_event/);
    await ds.query(insert, ['edge-2', 'a', 'down']);
    await assert.rejects(ds.query(insert, ['edge-3', 'a', 'sick']), /chk_origin_event_state/);
    await assert.rejects(ds.query(insert, ['edge-3', 'nobody', 'down']), /fk_origin_event_customer/);
    const indexes: Array<{ indexname: string }> = await ds.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'origin_event' ORDER BY 1`);
    assert.deepEqual(indexes.map((i) => i.indexname), ['idx_origin_event_at', 'idx_origin_event_customer_at', 'pk_origin_event', 'uq_origin_event']);
    await ds.query(`DELETE FROM customer WHERE id = 'a'`);
    assert.deepEqual(await ds.query('SELECT * FROM origin_event'), []);

    await undoThrough(ds, 'OriginEvents1795630000000');
    assert.deepEqual(await tables(q), TABLES.filter((t) => t !== 'origin_event' && !ALERT_TABLES.includes(t) && !WEBHOOK_TABLES.includes(t) && !TOP_TABLES.includes(t)));
    assert.deepEqual(await migrate(ds), ['OriginEvents1795630000000', 'Webhooks1795700000000', 'Alerts1795710000000', 'TrafficTop1795720000000']);
    assert.deepEqual(await tables(q), TABLES);
  }));

test('the webhooks migration: one event per dedup key, known delivery statuses only, a webhook needs an event type; deliveries go with their webhook or their event, webhooks with their customer, events stay (no customer key: a deleted customer\'s last event); down drops the three tables alone', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('a', 'A', 'https://a.example', 60)`);
    const webhook = `INSERT INTO webhook (customer_id, url, events, secret_enc) VALUES ($1, 'https://hooks.example/x', $2::varchar[], 'v1.sealed') RETURNING id`;
    const [{ id: hook }] = (await ds.query(webhook, ['a', ['purge.completed']])) as Array<{ id: string }>;
    const [{ id: fleetHook }] = (await ds.query(webhook, [null, ['origin.down']])) as Array<{ id: string }>;
    await assert.rejects(ds.query(webhook, ['a', []]), /chk_webhook_events/);
    await assert.rejects(ds.query(webhook, ['nobody', ['origin.up']]), /fk_webhook_customer/);
    const event = `INSERT INTO webhook_event (dedup_key, type, customer_id, occurred_at, data) VALUES ($1, 'purge.completed', $2, now(), '{}') RETURNING id`;
    const [{ id: eventId }] = (await ds.query(event, ['purge.completed:1', 'a'])) as Array<{ id: string }>;
    await assert.rejects(ds.query(event, ['purge.completed:1', 'a']), /uq_webhook_event_dedup/);
    await ds.query(event, ['purge.completed:2', 'gone-customer']);
    const delivery = `INSERT INTO webhook_delivery (webhook_id, event_id, status) VALUES ($1, $2, $3)`;
    await ds.query(delivery, [hook, eventId, 'PENDING']);
    await ds.query(delivery, [fleetHook, eventId, 'DELIVERED']);
    await assert.rejects(ds.query(delivery, [hook, eventId, 'LOST']), /chk_webhook_delivery_status/);
    assert.deepEqual(await ds.query(`SELECT status, attempts, last_status, delivered_at FROM webhook_delivery WHERE webhook_id = $1`, [hook]), [{ status: 'PENDING', attempts: 0, last_status: null, delivered_at: null }]);
    const indexes: Array<{ indexname: string }> = await ds.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'webhook_delivery' ORDER BY 1`);
    assert.deepEqual(indexes.map((i) => i.indexname), ['idx_webhook_delivery_due', 'idx_webhook_delivery_event', 'idx_webhook_delivery_webhook', 'pk_webhook_delivery']);
    await ds.query(`DELETE FROM customer WHERE id = 'a'`);
    assert.deepEqual((await ds.query(`SELECT id FROM webhook`)) as unknown[], [{ id: fleetHook }]);
    assert.equal(((await ds.query(`SELECT count(*)::int AS n FROM webhook_event`)) as Array<{ n: number }>)[0]!.n, 2);
    assert.equal(((await ds.query(`SELECT count(*)::int AS n FROM webhook_delivery`)) as Array<{ n: number }>)[0]!.n, 1);
    await ds.query(`DELETE FROM webhook_event`);
    assert.deepEqual(await ds.query('SELECT * FROM webhook_delivery'), []);

    await undoThrough(ds, 'Webhooks1795700000000');
    assert.deepEqual(await tables(q), TABLES.filter((t) => !WEBHOOK_TABLES.includes(t) && !ALERT_TABLES.includes(t) && !TOP_TABLES.includes(t)));
    assert.deepEqual(await migrate(ds), ['Webhooks1795700000000', 'Alerts1795710000000', 'TrafficTop1795720000000']);
    assert.deepEqual(await tables(q), TABLES);
  }));

test('the alerts migration: rules named once per customer, known kinds and states only; a state per rule goes with it; rules and history go with their customer, history outlives its rule; down drops the three tables alone', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('a', 'A', 'https://a.example', 60)`);
    const rule = `INSERT INTO alert_rule (customer_id, name, position, kind, threshold, for_seconds, window_seconds, min_requests, enabled) VALUES ($1, $2, 0, $3, 0.5, 60, 60, 100, true) RETURNING id`;
    const [{ id }] = (await ds.query(rule, ['a', 'hits', 'HIT_RATIO_BELOW'])) as Array<{ id: string }>;
    await assert.rejects(ds.query(rule, ['a', 'hits', 'ORIGIN_DOWN']), /uq_alert_rule_name/);
    await assert.rejects(ds.query(rule, ['a', 'other', 'SOMETHING']), /chk_alert_rule_kind/);
    await assert.rejects(ds.query(rule, ['nobody', 'x', 'ORIGIN_DOWN']), /fk_alert_rule_customer/);
    await ds.query(`INSERT INTO alert_state (rule_id) VALUES ($1)`, [id]);
    assert.deepEqual(await ds.query(`SELECT state, value, evaluated_at FROM alert_state`), [{ state: 'OK', value: null, evaluated_at: null }]);
    await assert.rejects(ds.query(`UPDATE alert_state SET state = 'LOUD'`), /chk_alert_state_state/);
    await ds.query(`INSERT INTO alert_event (rule_id, customer_id, rule_name, kind, from_state, to_state, reason, at) VALUES ($1, 'a', 'hits', 'HIT_RATIO_BELOW', 'PENDING', 'FIRING', 'condition held', now())`, [id]);
    await ds.query(`DELETE FROM alert_rule WHERE id = $1`, [id]);
    assert.deepEqual(await ds.query('SELECT * FROM alert_state'), []);
    assert.equal(((await ds.query('SELECT count(*)::int AS n FROM alert_event')) as Array<{ n: number }>)[0]!.n, 1);
    await ds.query(`DELETE FROM customer WHERE id = 'a'`);
    assert.deepEqual(await ds.query('SELECT * FROM alert_event'), []);
    const indexes: Array<{ indexname: string }> = await ds.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'alert_event' ORDER BY 1`);
    assert.deepEqual(indexes.map((i) => i.indexname), ['idx_alert_event_at', 'idx_alert_event_customer_id', 'idx_alert_event_unnotified', 'pk_alert_event']);

    await undoThrough(ds, 'Alerts1795710000000');
    assert.deepEqual(await tables(q), TABLES.filter((t) => !ALERT_TABLES.includes(t) && !TOP_TABLES.includes(t)));
    assert.deepEqual(await migrate(ds), ['Alerts1795710000000', 'TrafficTop1795720000000']);
    assert.deepEqual(await tables(q), TABLES);
  }));

test('the top URLs migration: one summary per (customer, minute, edge), one entry per key and kind, path or status only, errors within counts; entries go with their summary, summaries with their customer; down drops both tables alone', () =>
  withDatabase(async (ds) => {
    const q = (sql: string) => ds.query(sql);
    await migrate(ds);
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('a', 'A', 'https://a.example', 60)`);
    const summary = `INSERT INTO traffic_top_summary (customer_id, minute, edge_id, requests, floor) VALUES ($1, '2030-01-01T00:01:00Z', $2, 10, 1)`;
    await ds.query(summary, ['a', 'edge-1']);
    await ds.query(summary, ['a', 'edge-2']);
    await assert.rejects(ds.query(summary, ['a', 'edge-1']), /pk_traffic_top_summary/);
    await assert.rejects(ds.query(summary, ['nobody', 'edge-1']), /fk_traffic_top_summary_customer/);
    const entry = `INSERT INTO traffic_top_entry (customer_id, minute, edge_id, kind, key, count, error) VALUES ('a', '2030-01-01T00:01:00Z', $1, $2, $3, $4, $5)`;
    await ds.query(entry, ['edge-1', 'path', '/a', 5, 1]);
    await ds.query(entry, ['edge-1', 'status', '200', 10, 0]);
    await assert.rejects(ds.query(entry, ['edge-1', 'path', '/a', 5, 0]), /pk_traffic_top_entry/);
    await assert.rejects(ds.query(entry, ['edge-1', 'header', '/a', 5, 0]), /chk_traffic_top_entry_kind/);
    await assert.rejects(ds.query(entry, ['edge-1', 'path', '/b', 1, 2]), /chk_traffic_top_entry_counts/);
    await assert.rejects(ds.query(entry, ['edge-3', 'path', '/a', 5, 0]), /fk_traffic_top_entry_summary/);
    await ds.query(`DELETE FROM traffic_top_summary WHERE edge_id = 'edge-1'`);
    assert.deepEqual(await ds.query('SELECT * FROM traffic_top_entry'), []);
    await ds.query(entry, ['edge-2', 'path', '/a', 5, 0]);
    await ds.query(`DELETE FROM customer WHERE id = 'a'`);
    assert.deepEqual(await ds.query('SELECT * FROM traffic_top_summary'), []);
    assert.deepEqual(await ds.query('SELECT * FROM traffic_top_entry'), []);
    const indexes: Array<{ indexname: string }> = await ds.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'traffic_top_summary' ORDER BY 1`);
    assert.deepEqual(indexes.map((i) => i.indexname), ['idx_traffic_top_summary_minute', 'pk_traffic_top_summary']);

    await undoThrough(ds, 'TrafficTop1795720000000');
    assert.deepEqual(await tables(q), TABLES.filter((t) => !TOP_TABLES.includes(t)));
    assert.deepEqual(await migrate(ds), ['TrafficTop1795720000000']);
    assert.deepEqual(await tables(q), TABLES);
  }));
