import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { isCdnError } from '../../src/core/errors';
import { loadEdgeConfig, MAX_OBJECT_BYTES_DEFAULT, MAX_URL_BYTES_DEFAULT } from '../../src/edge/config';

const SECRET = 'x'.repeat(32);

test('defaults: ports, hosts, prefix, data and cache dirs (absolute), timeouts, private origins off', () => {
  const config = loadEdgeConfig({ CDN_SECRET_KEY: SECRET }, '/srv/edge');
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.port, 8080);
  assert.equal(config.adminHost, '127.0.0.1');
  assert.equal(config.adminPort, 8081);
  assert.equal(config.redisUrl, undefined);
  assert.equal(config.redisPrefix, 'edgeplane:');
  assert.equal(config.dataDir, path.resolve('/srv/edge/.data'));
  assert.equal(config.cacheDir, path.resolve('/srv/edge/.data/cache'));
  assert.equal(config.allowPrivateOrigins, false);
  assert.equal(config.edgeId, `${os.hostname()}-${process.pid}`);
  assert.equal(config.originTimeoutMs, 30_000);
  assert.equal(config.maxObjectBytes, MAX_OBJECT_BYTES_DEFAULT);
  assert.equal(config.logLevel, 'info');
  assert.ok(Object.isFrozen(config));
});

test('explicit values, relative dirs resolved, ports 0 allowed', () => {
  const config = loadEdgeConfig(
    {
      CDN_SECRET_KEY: SECRET,
      CDN_EDGE_HOST: '0.0.0.0',
      CDN_EDGE_PORT: '0',
      CDN_EDGE_ADMIN_PORT: '0',
      REDIS_URL: 'redis://redis:6379/0',
      CDN_DATA_DIR: 'data',
      CDN_CACHE_DIR: '/var/cache/edge',
      CDN_ALLOW_PRIVATE_ORIGINS: 'yes',
      CDN_EDGE_ID: 'edge-1',
      CDN_ORIGIN_TIMEOUT_MS: '500',
      CDN_EDGE_MAX_OBJECT_BYTES: '1024',
      CDN_LOG_LEVEL: 'silent',
    },
    '/srv',
  );
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.port, 0);
  assert.equal(config.adminPort, 0);
  assert.equal(config.redisUrl, 'redis://redis:6379/0');
  assert.equal(config.dataDir, path.resolve('/srv/data'));
  assert.equal(config.cacheDir, path.resolve('/var/cache/edge'));
  assert.equal(config.allowPrivateOrigins, true);
  assert.equal(config.edgeId, 'edge-1');
  assert.equal(config.originTimeoutMs, 500);
  assert.equal(config.maxObjectBytes, 1024);
});

test('every bad variable is reported in one error', () => {
  assert.throws(
    () =>
      loadEdgeConfig({
        CDN_SECRET_KEY: 'short',
        CDN_EDGE_PORT: '99999',
        CDN_EDGE_ADMIN_PORT: 'eighty',
        REDIS_URL: 'http://not-redis',
        CDN_ALLOW_PRIVATE_ORIGINS: 'maybe',
        CDN_ORIGIN_TIMEOUT_MS: '-1',
        CDN_LOG_LEVEL: 'loud',
      }),
    (err: unknown) => {
      assert.ok(isCdnError(err));
      assert.equal(err.code, 'CDN_ERR_CONFIG_INVALID');
      for (const name of ['CDN_SECRET_KEY', 'CDN_EDGE_PORT', 'CDN_EDGE_ADMIN_PORT', 'REDIS_URL', 'CDN_ALLOW_PRIVATE_ORIGINS', 'CDN_ORIGIN_TIMEOUT_MS', 'CDN_LOG_LEVEL']) {
        assert.match(err.message, new RegExp(`- ${name}: `), name);
      }
      assert.match(err.message, /^Invalid edge configuration/);
      return true;
    },
  );
});

test('CDN_SECRET_KEY is required', () => {
  assert.throws(() => loadEdgeConfig({}), /CDN_SECRET_KEY: is required/);
});

test('the admin port may not equal the public port', () => {
  assert.throws(() => loadEdgeConfig({ CDN_SECRET_KEY: SECRET, CDN_EDGE_PORT: '9000', CDN_EDGE_ADMIN_PORT: '9000' }), /CDN_EDGE_ADMIN_PORT: must differ/);
});

test('cluster and client limits: defaults', () => {
  const config = loadEdgeConfig({ CDN_SECRET_KEY: SECRET });
  assert.equal(config.workers, os.availableParallelism());
  assert.equal(config.maxUrlBytes, MAX_URL_BYTES_DEFAULT);
  assert.equal(config.maxUrlBytes, 8 * 1024);
  assert.equal(config.maxHeaderBytes, 16 * 1024);
  assert.equal(config.maxBodyBytes, 10 * 1024 * 1024);
  assert.equal(config.clientTimeoutMs, 10_000);
  assert.equal(config.bodyTimeoutMs, 5_000);
  assert.equal(config.keepAliveTimeoutMs, 15_000);
});

test('cluster and client limits: explicit values, and bad ones all reported', () => {
  const config = loadEdgeConfig({
    CDN_SECRET_KEY: SECRET,
    CDN_EDGE_WORKERS: '1',
    CDN_EDGE_MAX_URL_BYTES: '2048',
    CDN_EDGE_MAX_HEADER_BYTES: '4096',
    CDN_EDGE_MAX_BODY_BYTES: '0',
    CDN_EDGE_CLIENT_TIMEOUT_MS: '500',
    CDN_EDGE_BODY_TIMEOUT_MS: '750',
    CDN_EDGE_KEEPALIVE_TIMEOUT_MS: '1000',
  });
  assert.deepEqual(
    [config.workers, config.maxUrlBytes, config.maxHeaderBytes, config.maxBodyBytes, config.clientTimeoutMs, config.bodyTimeoutMs, config.keepAliveTimeoutMs],
    [1, 2048, 4096, 0, 500, 750, 1000],
  );
  assert.throws(
    () =>
      loadEdgeConfig({
        CDN_SECRET_KEY: SECRET,
        CDN_EDGE_WORKERS: '0',
        CDN_EDGE_MAX_BODY_BYTES: '-1',
        CDN_EDGE_CLIENT_TIMEOUT_MS: 'soon',
        CDN_EDGE_BODY_TIMEOUT_MS: '0',
        CDN_EDGE_KEEPALIVE_TIMEOUT_MS: '0',
      }),
    (err: unknown) => {
      for (const name of ['CDN_EDGE_WORKERS', 'CDN_EDGE_MAX_BODY_BYTES', 'CDN_EDGE_CLIENT_TIMEOUT_MS', 'CDN_EDGE_BODY_TIMEOUT_MS', 'CDN_EDGE_KEEPALIVE_TIMEOUT_MS']) {
        assert.match(String(err), new RegExp(`- ${name}: `), name);
      }
      return true;
    },
  );
});

test('the URL limit must stay below the header limit (the request line counts towards it)', () => {
  assert.throws(
    () => loadEdgeConfig({ CDN_SECRET_KEY: SECRET, CDN_EDGE_MAX_URL_BYTES: '16384', CDN_EDGE_MAX_HEADER_BYTES: '16384' }),
    /CDN_EDGE_MAX_URL_BYTES: must be smaller than CDN_EDGE_MAX_HEADER_BYTES/,
  );
});
