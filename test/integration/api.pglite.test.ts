/**
 * The same migrations and service on the embedded PGlite (what `cdn start` uses without
 * DATABASE_URL): data written survives closing and reopening the data directory.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createDataSource, migrate } from '../../src/api/db/data-source';
import { Database } from '../../src/api/db/database';
import { insertPurgeAcks, latestPurgeSeqs } from '../../src/api/db/purge.store';
import { compareAndSetAlertState, insertAlertEvents, readUnnotifiedAlertEvents, updateAlertValues } from '../../src/api/db/alert.store';
import { NO_WEBHOOK_EVENTS } from '../../src/api/domain/webhook.types';
import { AlertService } from '../../src/api/services/alert.service';
import { claimDueDeliveries, insertWebhook, insertWebhookEvents, listWebhooks } from '../../src/api/db/webhook.store';
import { PurgeService } from '../../src/api/services/purge.service';
import { CustomerService } from '../../src/api/services/customer.service';
import { TrafficTopService } from '../../src/api/services/traffic-top.service';
import { SecretBox } from '../../src/core/secret-box';
import { createLogger } from '../../src/obs/logger.factory';

const logger = createLogger({ name: 'api', level: 'silent' });

function service(db: Database): CustomerService {
  return new CustomerService({
    db,
    secretBox: new SecretBox('pglite-test-secret-key-0123456789abcdef'),
    originPolicy: { allowPrivateOrigins: true },
    logger,
  });
}

test('PGlite: migrate, create a customer with cache options, reopen, it is still there', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-pglite-'));
  try {
    const first = createDataSource({ dataDir });
    await first.initialize();
    assert.deepEqual(await migrate(first), ['InitialSchema1732400000000', 'CustomerCacheOptions1795530000000', 'CustomerStaleIfError1795540000000', 'Purges1795550000000', 'ApiTokens1795560000000', 'AuditLog1795570000000', 'Certificates1795580000000', 'AcmeAccounts1795590000000', 'DeliveryRules1795600000000', 'CacheWarming1795610000000', 'Origins1795620000000', 'OriginEvents1795630000000', 'Webhooks1795700000000', 'Alerts1795710000000', 'TrafficTop1795720000000']);
    const customers = service(new Database(first));
    // Concurrent mutations must not share PGlite's single session mid-transaction.
    await Promise.all([
      customers.create({
        id: 'lite',
        name: 'Lite',
        originUrl: 'https://lite.example',
        domains: ['lite.example'],
        cacheQuotaBytes: 5 * 1024 ** 4,
        staleIfErrorSeconds: 600,
        queryString: { mode: 'allowlist', allow: ['v'] },
      }),
      customers.create({ id: 'lite-2', name: 'Lite 2', originUrl: 'https://lite2.example', domains: ['lite.example'] }).catch((e: unknown) => e),
      customers.update('nobody', { name: 'x' }).catch((e: unknown) => e),
    ]);
    // Purges on PGlite: the transaction with its outbox row, the batched ack insert (unnest), the snapshot's purge seqs.
    const firstDb = new Database(first);
    const { purge } = await new PurgeService({ db: firstDb, logger }).request({ customerId: 'lite', kind: 'URL', value: 'https://lite.example/a?b=1' }, 'admin');
    assert.equal(purge.value, '/a?b=1');
    const ack = { purgeId: purge.id, seq: Number(purge.seq), edgeId: 'edge-1', appliedAt: new Date().toISOString(), objectsRemoved: 2 };
    assert.equal(await firstDb.transaction((m) => insertPurgeAcks(m, [ack, { ...ack, edgeId: 'edge-2' }])), 2);
    assert.equal(await firstDb.transaction((m) => insertPurgeAcks(m, [ack])), 0, 'an ack stored twice is skipped');
    assert.deepEqual(await firstDb.read((m) => latestPurgeSeqs(m)), { lite: Number(purge.seq) });
    // Webhooks on PGlite: the events list (varchar[]), events with their deliveries (jsonb_to_recordset), the dispatcher's claim (SKIP LOCKED).
    const hook = await firstDb.transaction((m) => insertWebhook(m, { customerId: 'lite', url: 'https://hooks.lite.example/', events: ['origin.down', 'origin.up'], secretEnc: 'v1.x', enabled: true, description: '' }));
    assert.deepEqual((await firstDb.read((m) => listWebhooks(m, 'lite'))).map((w) => w.events), [['origin.down', 'origin.up']]);
    const event = { type: 'origin.down' as const, customerId: 'lite', dedupKey: 'origin.down:lite:1', occurredAt: new Date(), data: { origin: 'primary' } };
    assert.equal(await firstDb.transaction((m) => insertWebhookEvents(m, [event, { ...event, dedupKey: 'origin.down:other:1', customerId: 'other' }])), 1);
    assert.equal(await firstDb.transaction((m) => insertWebhookEvents(m, [event])), 0, 'an event stored twice is skipped');
    const claimed = await firstDb.transaction((m) => claimDueDeliveries(m, 10, 60_000));
    assert.deepEqual(claimed.map((c) => [c.webhook.id, c.event.type, c.event.data, c.attempts]), [[hook.id, 'origin.down', { origin: 'primary' }, 1]]);
    assert.deepEqual(await firstDb.transaction((m) => claimDueDeliveries(m, 10, 60_000)), [], 'leased');
    // Alerts on PGlite: rules replaced as a whole (FOR UPDATE over the join), the compare-and-set, the batched values (unnest), history and its retry query.
    const alertService = new AlertService({ db: firstDb, logger, windowMaxSeconds: 900, events: NO_WEBHOOK_EVENTS });
    const [rule] = await alertService.set('lite', [{ name: 'down', kind: 'ORIGIN_DOWN', forSeconds: 0 }]);
    const [standing] = await alertService.alerts('lite');
    const firedAt = new Date(standing!.since.getTime() + 1000);
    const won = await firstDb.transaction((m) => compareAndSetAlertState(m, rule!.id, { state: 'OK', since: standing!.since }, { state: 'FIRING', since: firedAt, value: 1 }));
    assert.equal(won, true);
    assert.equal(await firstDb.transaction((m) => compareAndSetAlertState(m, rule!.id, { state: 'OK', since: standing!.since }, { state: 'FIRING', since: firedAt, value: 1 })), false, 'the same transition twice');
    await firstDb.transaction((m) => updateAlertValues(m, [{ ruleId: rule!.id, state: 'FIRING', since: firedAt, value: 2 }], new Date()));
    assert.deepEqual((await alertService.alerts('lite')).map((a) => [a.state, a.value]), [['FIRING', 2]]);
    await firstDb.transaction((m) => insertAlertEvents(m, [{ ruleId: rule!.id, customerId: 'lite', ruleName: 'down', kind: 'ORIGIN_DOWN', from: 'OK', to: 'FIRING', value: 1, threshold: null, firingSince: firedAt, reason: 'condition held for 0 s', at: firedAt }]));
    assert.equal((await firstDb.read((m) => readUnnotifiedAlertEvents(m, new Date(Date.now() + 60_000), 10))).length, 1);
    assert.deepEqual((await alertService.history('lite')).nodes.map((e) => `${e.from}>${e.to}`), ['OK>FIRING']);
    await first.destroy();

    const second = createDataSource({ dataDir });
    await second.initialize();
    try {
      assert.deepEqual(await migrate(second), []);
      const again = service(new Database(second));
      const found = await again.getByDomain('LITE.example.');
      assert.equal(found?.id, 'lite');
      // The cache options survive too, and the bigint quota comes back as a number.
      const config = found!;
      assert.equal(config.cacheQuotaBytes, 5 * 1024 ** 4);
      assert.equal(config.staleIfErrorSeconds, 600);
      assert.deepEqual(config.queryString, { mode: 'allowlist', allow: ['v'] });
      assert.equal((await again.list()).totalCount, 1);
      const log: Array<{ kind: string }> = await second.query('SELECT kind FROM change_log ORDER BY seq');
      assert.deepEqual(log.map((r) => r.kind), ['customer.upserted', 'purge.requested']);
    } finally {
      await second.destroy();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('PGlite: the top URL queries work there (summaries stored once, merged with their bounds, exact statuses, the retention)', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-pglite-'));
  const ds = createDataSource({ dataDir });
  await ds.initialize();
  try {
    await migrate(ds);
    const db = new Database(ds);
    await service(db).create({ id: 'lite', name: 'Lite', originUrl: 'https://lite.example', domains: ['lite.example'] });
    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
    const tops = new TrafficTopService({ db, logger, retentionHours: 1 });
    const report = (edgeId: string, minuteMs: number, paths: Array<{ key: string; count: number; error: number }>, floor: number) => ({
      edgeId,
      at: new Date(minuteMs + 61_000).toISOString(),
      intervalMs: 1000,
      customers: [{ customerId: 'lite', requests: 0, results: {}, serverErrors: 0, bytesSent: 0, originResponses: 0, originErrors: 0, originLatencyBuckets: [], top: { minute: new Date(minuteMs).toISOString(), requests: 10, paths, floor, statuses: [{ status: 200, count: 9 }, { status: 404, count: 1 }] } }],
    });
    const a = report('edge-a', minute, [{ key: '/x', count: 6, error: 0 }, { key: '/y', count: 3, error: 1 }], 3);
    const b = report('edge-b', minute, [{ key: '/y', count: 5, error: 0 }], 0);
    const old = report('edge-a', minute - 2 * 3600_000, [{ key: '/old', count: 10, error: 0 }], 0);
    tops.record([a, b, a, old]);
    await tops.flushed();
    tops.record([b]);
    await tops.flushed();
    const top = await tops.top('lite', 60, 10);
    assert.equal(top.requests, 20);
    assert.equal(top.summaries, 2);
    assert.deepEqual(top.paths, [
      { path: '/y', requests: 8, errorBound: 1, missingBound: 0 },
      { path: '/x', requests: 6, errorBound: 0, missingBound: 0 },
    ]);
    assert.deepEqual(top.statuses, [{ status: 200, requests: 18 }, { status: 404, requests: 2 }]);
    assert.equal((await ds.query('SELECT count(*)::int AS n FROM traffic_top_summary'))[0].n, 3);
    await tops.sweep();
    assert.equal((await ds.query('SELECT count(*)::int AS n FROM traffic_top_summary'))[0].n, 2);
    assert.equal((await ds.query(`SELECT count(*)::int AS n FROM traffic_top_entry WHERE key = '/old'`))[0].n, 0);
    await tops.stop();
  } finally {
    await ds.destroy();
    await rm(dataDir, { recursive: true, force: true });
  }
});
