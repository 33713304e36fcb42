/** `cdn migrate` against a fresh PostgreSQL database: applies, then finds nothing to do. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from 'pg';
import { createTestDatabase } from '../support/services';
import { spawnCdn } from '../support/processes';

test('cdn migrate applies the schema once and reports an up-to-date database after', async () => {
  const db = await createTestDatabase();
  try {
    const first = spawnCdn(['migrate'], { DATABASE_URL: db.url });
    assert.equal(await first.exited(), 0, first.output());
    assert.match(first.output(), /Applied 15 migration\(s\):\s+InitialSchema\S+\s+CustomerCacheOptions\S+\s+CustomerStaleIfError\S+\s+Purges\S+\s+ApiTokens\S+\s+AuditLog\S+\s+Certificates\S+\s+AcmeAccounts\S+\s+DeliveryRules\S+\s+CacheWarming\S+\s+Origins\S+\s+OriginEvents\S+\s+Webhooks\S+\s+Alerts\S+\s+TrafficTop/);

    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      );
      assert.deepEqual(
        rows.map((r) => r.table_name).filter((t) => t !== 'migrations'),
        [
          'acme_account',
          'acme_challenge',
          'alert_event',
          'alert_rule',
          'alert_state',
          'api_token',
          'audit_log',
          'certificate',
          'change_log',
          'customer',
          'customer_origin',
          'domain',
          'origin_event',
          'purge',
          'purge_edge',
          'signing_key',
          'traffic_top_entry',
          'traffic_top_summary',
          'warm',
          'warm_edge',
          'webhook',
          'webhook_delivery',
          'webhook_event',
        ],
      );
    } finally {
      await client.end();
    }

    const second = spawnCdn(['migrate'], { DATABASE_URL: db.url });
    assert.equal(await second.exited(), 0, second.output());
    assert.match(second.output(), /up to date/);
  } finally {
    await db.drop();
  }
});
