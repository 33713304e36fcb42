/**
 * `cdn api` hands its logger to the DataSource: when PostgreSQL closes an idle pooled
 * connection (a restart, a failover, a pooler dropping it), the pool's warning reaches the
 * api's log, and the api goes on answering on a fresh connection.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { eventually, graphqlRequest, spawnCdn, stackEnv, type CdnProcess } from '../support/processes';
import { createTestDatabase, createTestRedisPrefix, PG_ADMIN_URL, type TestDatabase, type TestRedis } from '../support/services';

const ADMIN = 'e2e-admin-token-0123456789abcdef';
const IDLE_DROPPED = 'an idle database connection failed; the pool drops it';
let database: TestDatabase;
let redis: TestRedis;
let dataDir: string;
let api: CdnProcess | undefined;

before(async () => {
  database = await createTestDatabase('edgeplane_api_db_log');
  redis = createTestRedisPrefix();
  dataDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-api-db-log-'));
});

after(async () => {
  await api?.stop().catch(() => {});
  await rm(dataDir, { recursive: true, force: true });
  await redis?.cleanup();
  await database?.drop();
});

test('an idle pooled connection the server terminates is logged as a warning; the api goes on', async () => {
  api = spawnCdn(['api'], stackEnv({ databaseUrl: database.url, redisUrl: redis.url, redisPrefix: redis.prefix, adminToken: ADMIN, secretKey: 'e2e-secret-key-0123456789abcdef0123456789' }, { CDN_DATA_DIR: dataDir }));
  const url = String((await api.waitForLog('api listening')).url).replace(/\/graphql$/, '');
  const dbName = new URL(database.url).pathname.slice(1);
  const admin = new Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    // The relay reads every second, so the pool holds connections that sit idle between uses;
    // one terminated while idle in the pool (not while checked out) is the case at hand.
    await eventually(
      async () => {
        await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND state = 'idle' AND pid <> pg_backend_pid()`, [dbName]);
        await new Promise((r) => setTimeout(r, 100));
        return api!.output().includes(IDLE_DROPPED);
      },
      15_000,
      'the pool warning in the api log',
    );
  } finally {
    await admin.end();
  }
  const line = await api.waitForLog(IDLE_DROPPED, 1_000);
  assert.equal(line.level, 40, 'a warning');
  assert.equal(line.component, 'pg-pool');
  const r = await graphqlRequest(url, ADMIN, '{ customers { totalCount } }');
  assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  assert.equal(api.child.exitCode, null, 'the api still runs');
});
