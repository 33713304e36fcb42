/** The api's environment: defaults, and every bad variable named in one error. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadApiConfig } from '../../src/api/config';
import { CdnError } from '../../src/core/errors';

const GOOD = { CDN_ADMIN_TOKEN: 'a'.repeat(16), CDN_SECRET_KEY: 's'.repeat(32) };

test('defaults', () => {
  const c = loadApiConfig(GOOD, '/srv/app');
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.port, 4000);
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.redisUrl, undefined);
  assert.equal(c.redisPrefix, 'edgeplane:');
  assert.equal(c.dataDir, path.resolve('/srv/app/.data'));
  assert.equal(c.allowPrivateOrigins, false);
  assert.equal(c.logLevel, 'info');
  assert.ok(Object.isFrozen(c));
});

test('every bad variable in one error', () => {
  assert.throws(
    () =>
      loadApiConfig({
        CDN_ADMIN_TOKEN: 'short',
        CDN_API_PORT: '99999',
        DATABASE_URL: 'mysql://x',
        REDIS_URL: 'not a url',
        CDN_ALLOW_PRIVATE_ORIGINS: 'maybe',
        CDN_LOG_LEVEL: 'loud',
      }),
    (err: unknown) => {
      assert.ok(err instanceof CdnError);
      assert.equal(err.code, 'CDN_ERR_CONFIG_INVALID');
      const fields = (err.details.fields as Array<{ field: string }>).map((f) => f.field).sort();
      assert.deepEqual(fields, [
        'CDN_ADMIN_TOKEN',
        'CDN_ALLOW_PRIVATE_ORIGINS',
        'CDN_API_PORT',
        'CDN_LOG_LEVEL',
        'CDN_SECRET_KEY',
        'DATABASE_URL',
        'REDIS_URL',
      ]);
      return true;
    },
  );
});

test('accepted values', () => {
  const c = loadApiConfig({
    ...GOOD,
    CDN_API_PORT: '0',
    DATABASE_URL: 'postgresql://u@db/x',
    REDIS_URL: 'rediss://r:6380',
    CDN_ALLOW_PRIVATE_ORIGINS: 'true',
    CDN_DATA_DIR: '/var/lib/edgeplane',
  });
  assert.equal(c.port, 0);
  assert.equal(c.databaseUrl, 'postgresql://u@db/x');
  assert.equal(c.redisUrl, 'rediss://r:6380');
  assert.equal(c.allowPrivateOrigins, true);
  assert.equal(c.dataDir, '/var/lib/edgeplane');
});
