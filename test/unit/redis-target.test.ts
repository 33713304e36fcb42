/**
 * Where Redis is (core/redis-target.ts), as the api, `cdn token` and the edge read it: one
 * server, Redis Sentinel or Redis Cluster, at most one of them, and under Cluster a key
 * prefix with a hash tag.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadApiConfig, loadTokenToolConfig } from '../../src/api/config';
import { CdnError } from '../../src/core/errors';
import { hasHashTag } from '../../src/core/redis-target';
import { loadEdgeConfig } from '../../src/edge/config';

const SECRETS = { CDN_ADMIN_TOKEN: 'a'.repeat(16), CDN_SECRET_KEY: 's'.repeat(32) };

/** The three readers must agree: every api and edge connects the same way. */
function all(env: Record<string, string>) {
  const e = { ...SECRETS, ...env };
  const api = loadApiConfig(e);
  const token = loadTokenToolConfig(e);
  const edge = loadEdgeConfig(e);
  assert.deepEqual(token.redis, api.redis);
  assert.deepEqual(edge.redis, api.redis);
  assert.equal(token.redisPrefix, api.redisPrefix);
  assert.equal(edge.redisPrefix, api.redisPrefix);
  assert.equal(edge.redisUrl, api.redisUrl);
  return api;
}

/** The variables each of the three readers refuses, and their messages. */
function problems(env: Record<string, string>): Array<{ field: string; message: string }> {
  const found: Array<{ field: string; message: string }>[] = [];
  for (const load of [loadApiConfig, loadTokenToolConfig, loadEdgeConfig]) {
    try {
      load({ ...SECRETS, ...env });
      found.push([]);
    } catch (err) {
      assert.ok(err instanceof CdnError && err.code === 'CDN_ERR_CONFIG_INVALID', String(err));
      found.push(err.details.fields as Array<{ field: string; message: string }>);
    }
  }
  assert.deepEqual(found[1], found[0]);
  assert.deepEqual(found[2], found[0]);
  return found[0]!;
}

test('no Redis at all: no target, the default prefix', () => {
  const c = all({});
  assert.equal(c.redis, undefined);
  assert.equal(c.redisUrl, undefined);
  assert.equal(c.redisPrefix, 'edgeplane:');
});

test('REDIS_URL: one server', () => {
  const c = all({ REDIS_URL: 'redis://:pw@r:6379/2' });
  assert.deepEqual(c.redis, { mode: 'server', url: 'redis://:pw@r:6379/2' });
  assert.equal(c.redisUrl, 'redis://:pw@r:6379/2');
  assert.equal(c.redisPrefix, 'edgeplane:');
});

test('REDIS_SENTINELS: the sentinels (port 26379 when left out), the master name (mymaster by default) and the passwords', () => {
  const c = all({ REDIS_SENTINELS: ' 10.0.0.1:26379, sentinel-b ,[::1]:26380' });
  assert.deepEqual(c.redis, {
    mode: 'sentinel',
    sentinels: [
      { host: '10.0.0.1', port: 26379 },
      { host: 'sentinel-b', port: 26379 },
      { host: '::1', port: 26380 },
    ],
    masterName: 'mymaster',
  });
  assert.equal(c.redisUrl, undefined, 'REDIS_URL as given: none');
  assert.equal(c.redisPrefix, 'edgeplane:');
  const p = all({ REDIS_SENTINELS: 's1:1,s2:2', REDIS_SENTINEL_MASTER: 'edge-bus', REDIS_USERNAME: 'cdn', REDIS_PASSWORD: 'pw', REDIS_SENTINEL_PASSWORD: 'spw', CDN_REDIS_PREFIX: 'prod:' });
  assert.deepEqual(p.redis, {
    mode: 'sentinel',
    sentinels: [
      { host: 's1', port: 1 },
      { host: 's2', port: 2 },
    ],
    masterName: 'edge-bus',
    username: 'cdn',
    password: 'pw',
    sentinelPassword: 'spw',
  });
  assert.equal(p.redisPrefix, 'prod:');
});

test('REDIS_CLUSTER_NODES: the seed nodes, and the prefix {edgeplane}: unless one with a hash tag is given', () => {
  const c = all({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001', REDIS_PASSWORD: 'pw' });
  assert.deepEqual(c.redis, {
    mode: 'cluster',
    nodes: [
      { host: 'n1', port: 7000 },
      { host: 'n2', port: 7001 },
    ],
    password: 'pw',
  });
  assert.equal(c.redisPrefix, '{edgeplane}:');
  assert.equal(all({ REDIS_CLUSTER_NODES: 'n1:7000', CDN_REDIS_PREFIX: 'prod{eu}:' }).redisPrefix, 'prod{eu}:');
});

test('under Redis Cluster a prefix without a hash tag is refused, with the one to use', () => {
  const [p, ...rest] = problems({ REDIS_CLUSTER_NODES: 'n1:7000', CDN_REDIS_PREFIX: 'prod:' });
  assert.deepEqual(rest, []);
  assert.equal(p!.field, 'CDN_REDIS_PREFIX');
  assert.match(p!.message, /hash tag/);
  assert.match(p!.message, /"\{prod\}:"/);
  assert.equal(problems({ REDIS_CLUSTER_NODES: 'n1:7000', CDN_REDIS_PREFIX: '{}:x' })[0]?.field, 'CDN_REDIS_PREFIX');
  // Elsewhere any prefix will do.
  assert.deepEqual(problems({ REDIS_URL: 'redis://r:6379', CDN_REDIS_PREFIX: 'prod:' }), []);
});

test('hash tags as Redis reads them: the first {, the first } after it, something between', () => {
  assert.equal(hasHashTag('{edgeplane}:'), true);
  assert.equal(hasHashTag('prod{eu}:'), true);
  assert.equal(hasHashTag('{}{x}:'), false, 'an empty first tag hashes the whole key');
  assert.equal(hasHashTag('}{x:'), false);
  assert.equal(hasHashTag('edgeplane:'), false);
});

test('more than one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES is refused', () => {
  const found = problems({ REDIS_URL: 'redis://r:6379', REDIS_SENTINELS: 's:26379', REDIS_CLUSTER_NODES: 'n:7000' });
  assert.deepEqual(found.map((p) => p.field).sort(), ['REDIS_CLUSTER_NODES', 'REDIS_SENTINELS']);
  for (const p of found) assert.match(p.message, /cannot be set together with REDIS_URL: set one of/);
});

test('settings for another mode are refused rather than ignored', () => {
  assert.deepEqual(
    problems({ REDIS_URL: 'redis://r:6379', REDIS_SENTINEL_MASTER: 'm', REDIS_PASSWORD: 'pw' }).map((p) => [p.field, p.message]),
    [
      ['REDIS_SENTINEL_MASTER', 'applies only with REDIS_SENTINELS, which is not set'],
      ['REDIS_PASSWORD', 'is for REDIS_SENTINELS or REDIS_CLUSTER_NODES: with REDIS_URL, put the credentials in the URL (redis://user:password@host:port)'],
    ],
  );
  assert.deepEqual(problems({ REDIS_CLUSTER_NODES: 'n:7000', REDIS_SENTINEL_PASSWORD: 'x' }).map((p) => p.field), ['REDIS_SENTINEL_PASSWORD']);
  assert.deepEqual(problems({ REDIS_USERNAME: 'u' }).map((p) => p.field), ['REDIS_USERNAME']);
});

test('malformed node lists and master names are named', () => {
  const found = problems({ REDIS_SENTINELS: 's1:26379,,s3:99999,http://x', REDIS_SENTINEL_MASTER: 'my master' });
  assert.deepEqual(found.map((p) => p.field), ['REDIS_SENTINELS', 'REDIS_SENTINELS', 'REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER']);
  assert.match(found[0]!.message, /comma-separated list of host:port .* got ""/);
  assert.match(found[1]!.message, /got "s3:99999"/);
  assert.match(found[2]!.message, /got "http:\/\/x"/);
  assert.match(found[3]!.message, /master name the sentinels monitor/);
});
