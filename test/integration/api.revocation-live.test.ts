/**
 * Revocation reaches connections that are already open (issue 16; the tokens of issue 8):
 * two api replicas on one PostgreSQL and one Redis revocation channel, a live subscription on
 * replica B, the token revoked through replica A. B closes the connection with 4401 and the
 * catalog code within a second, the token cannot connect again, other tokens' streams go on,
 * and a connection whose token expires is closed at its expiry. When the notices cannot be
 * read (Redis down), every connected token is checked again against PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from 'graphql-ws';
import { loadApiConfig } from '../../src/api/config';
import { Database } from '../../src/api/db/database';
import { startApi, type ApiHandle } from '../../src/api/server';
import { tokenSigningKey } from '../../src/api/services/token-signing';
import { TokenService } from '../../src/api/services/token.service';
import { createRedisRevocations } from '../../src/bus/redis-revocations';
import type { RevocationChannel } from '../../src/core/revocation.port';
import { createLogger } from '../../src/obs/logger.factory';
import { startPrivateRedis } from '../support/redis-server';
import { createTestRedisPrefix, type TestRedis } from '../support/services';
import { SECRET_KEY, startTestApi, TOKEN, type TestApi, wsClient } from './api.harness';
import { silentLogger } from './edge.harness';

let t: TestApi;
let b: ApiHandle;
let redis: TestRedis;
const channels: RevocationChannel[] = [];

before(async () => {
  redis = createTestRedisPrefix();
  const channel = () => {
    const c = createRedisRevocations({ url: redis.url, prefix: redis.prefix });
    channels.push(c);
    return c;
  };
  t = await startTestApi({}, { revocations: channel() });
  const config = loadApiConfig({ CDN_API_PORT: '0', CDN_ADMIN_TOKEN: TOKEN, CDN_SECRET_KEY: SECRET_KEY, DATABASE_URL: t.databaseUrl });
  b = await startApi(config, { dataSource: t.dataSource, bus: t.bus, fleet: t.fleet, stats: t.stats, revocations: channel(), logger: createLogger({ name: 'api-b', level: 'silent' }) });
  for (const id of ['live-a', 'live-b']) {
    const res = await t.gql(`mutation { createCustomer(input: { id: "${id}", name: "${id}", originUrl: "https://${id}.example", domains: ["${id}.example"] }) { id } }`);
    assert.equal(res.errors, undefined, res.text);
  }
});

after(async () => {
  await b.close();
  await t.close();
  for (const c of channels) await c.close();
  await redis.cleanup();
});

async function createToken(role: string, customerId: string): Promise<{ id: string; secret: string }> {
  const res = await t.gql<{ createToken: { token: { id: string }; secret: string } }>('mutation($input: CreateTokenInput!) { createToken(input: $input) { token { id } secret } }', {
    input: { name: `${role} ${customerId}`, role, customerId, expiresIn: '1h' },
  });
  assert.equal(res.errors, undefined, res.text);
  return { id: res.data!.createToken.token.id, secret: res.data!.createToken.secret };
}

type Close = { code: number; reason: string };

/** A cacheStats stream (an event a second): its events, and how it ended (a close event, or 'completed'). */
function followStats(ws: Client, customerId: string): { events: number; first: Promise<void>; ended: Promise<Close | 'completed'> } {
  const state = { events: 0 } as { events: number; first: Promise<void>; ended: Promise<Close | 'completed'> };
  let gotFirst!: () => void;
  state.first = new Promise((r) => (gotFirst = r));
  const it = ws.iterate<{ cacheStats: { requests: number } }>({ query: 'subscription($c: ID!) { cacheStats(customerId: $c, intervalSeconds: 1) { requests } }', variables: { c: customerId } });
  state.ended = (async () => {
    try {
      for await (const r of it) {
        assert.equal(r.errors, undefined, JSON.stringify(r.errors));
        state.events += 1;
        gotFirst();
      }
      return 'completed' as const;
    } catch (err) {
      const close = err as Partial<Close>;
      if (typeof close.code !== 'number') throw err;
      return { code: close.code, reason: String(close.reason) };
    }
  })();
  return state;
}

function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref())]);
}

test('a token revoked on api A closes its open subscription on api B within a second, with 4401 CDN_ERR_AUTH_REVOKED; other tokens stream on', async () => {
  const doomed = await createToken('CUSTOMER_VIEWER', 'live-a');
  const kept = await createToken('CUSTOMER_VIEWER', 'live-a');
  const doomedWs = wsClient(b.url, doomed.secret);
  const keptWs = wsClient(b.url, kept.secret);
  const adminWs = wsClient(b.url);
  try {
    const doomedStream = followStats(doomedWs, 'live-a');
    const keptStream = followStats(keptWs, 'live-a');
    const adminStream = followStats(adminWs, 'live-b');
    await within(5000, Promise.all([doomedStream.first, keptStream.first, adminStream.first]), 'first events');

    const revoked = await t.gql(`mutation { revokeToken(id: "${doomed.id}") { id status } }`);
    assert.equal(revoked.errors, undefined, revoked.text);
    const revokedAt = Date.now();
    const ended = await within(1000, doomedStream.ended, 'the revoked token\'s stream closed');
    assert.deepEqual(ended, { code: 4401, reason: 'CDN_ERR_AUTH_REVOKED' });
    assert.ok(Date.now() - revokedAt < 1000);

    // The socket is gone, so nothing more can be subscribed on it; a new connection with the token is refused on both replicas.
    for (const url of [b.url, t.api.url]) {
      const again = wsClient(url, doomed.secret);
      try {
        await assert.rejects(again.iterate({ query: '{ __typename }' }).next(), (err: Close) => err.code === 4401 && err.reason === 'CDN_ERR_AUTH_REVOKED');
      } finally {
        await again.dispose();
      }
    }

    // The other token (same customer, same replica) and the bootstrap admin token keep streaming.
    const [keptBefore, adminBefore] = [keptStream.events, adminStream.events];
    await new Promise((r) => setTimeout(r, 2200));
    assert.ok(keptStream.events > keptBefore, `kept token: ${keptBefore} → ${keptStream.events} events`);
    assert.ok(adminStream.events > adminBefore, `admin token: ${adminBefore} → ${adminStream.events} events`);
  } finally {
    await doomedWs.dispose();
    await keptWs.dispose();
    await adminWs.dispose();
  }
});

test('a connection is closed with 4401 CDN_ERR_AUTH_EXPIRED when its token expires', async () => {
  // Tokens live at least a minute; one issued "55 s ago" has about five seconds left: time for the
  // stream's first event (cacheStats sends each interval about 1.5 s after it ends), even on a loaded machine.
  const issuer = new TokenService({ db: new Database(t.dataSource), key: tokenSigningKey(SECRET_KEY), revocations: t.revocations, logger: silentLogger, now: () => Date.now() - 55_000 });
  const { token, secret } = await issuer.create({ kind: 'admin', role: 'admin' }, { name: 'short-lived', role: 'customer-viewer', customerId: 'live-a', expiresIn: '60s' });
  const expiresAt = Math.floor(token.expiresAt.getTime() / 1000) * 1000;
  const kept = await createToken('CUSTOMER_VIEWER', 'live-a');
  const ws = wsClient(b.url, secret);
  const keptWs = wsClient(b.url, kept.secret);
  try {
    const stream = followStats(ws, 'live-a');
    const keptStream = followStats(keptWs, 'live-a');
    await within(Math.max(0, expiresAt - Date.now() - 100), stream.first, 'first event before the expiry');
    assert.ok(Date.now() < expiresAt, 'the stream was open before the token expired');
    const ended = await within(expiresAt - Date.now() + 1000, stream.ended, 'the expired token\'s stream closed');
    assert.deepEqual(ended, { code: 4401, reason: 'CDN_ERR_AUTH_EXPIRED' });
    assert.ok(Date.now() >= expiresAt - 50, `closed ${expiresAt - Date.now()} ms before the expiry`);
    const keptBefore = keptStream.events;
    await new Promise((r) => setTimeout(r, 1200));
    assert.ok(keptStream.events > keptBefore, 'another token\'s stream goes on');
  } finally {
    await ws.dispose();
    await keptWs.dispose();
  }
});

test('when revocation notices may have been missed (Redis down), connected tokens are checked again and a revoked one is closed', async () => {
  const priv = await startPrivateRedis();
  const prefix = 'edgeplane_live_lost:';
  const c1 = createRedisRevocations({ url: priv.url, prefix });
  const c2 = createRedisRevocations({ url: priv.url, prefix });
  const one = await startTestApi({}, { revocations: c1 });
  const config = loadApiConfig({ CDN_API_PORT: '0', CDN_ADMIN_TOKEN: TOKEN, CDN_SECRET_KEY: SECRET_KEY, DATABASE_URL: one.databaseUrl });
  const two = await startApi(config, { dataSource: one.dataSource, bus: one.bus, fleet: one.fleet, stats: one.stats, revocations: c2, logger: createLogger({ name: 'api-two', level: 'silent' }) });
  const clients: Client[] = [];
  try {
    assert.equal((await one.gql('mutation { createCustomer(input: { id: "lost-a", name: "lost-a", originUrl: "https://lost-a.example", domains: ["lost-a.example"] }) { id } }')).errors, undefined);
    const issue = async (): Promise<{ id: string; secret: string }> => {
      const res = await one.gql<{ createToken: { token: { id: string }; secret: string } }>('mutation($input: CreateTokenInput!) { createToken(input: $input) { token { id } secret } }', {
        input: { name: 'lost', role: 'CUSTOMER_VIEWER', customerId: 'lost-a', expiresIn: '1h' },
      });
      assert.equal(res.errors, undefined, res.text);
      return { id: res.data!.createToken.token.id, secret: res.data!.createToken.secret };
    };
    const doomed = await issue();
    const kept = await issue();
    const doomedWs = wsClient(two.url, doomed.secret);
    const keptWs = wsClient(two.url, kept.secret);
    clients.push(doomedWs, keptWs);
    const doomedStream = followStats(doomedWs, 'lost-a');
    const keptStream = followStats(keptWs, 'lost-a');
    await within(5000, Promise.all([doomedStream.first, keptStream.first]), 'first events');

    await priv.kill();
    // PostgreSQL records the revocation; the notice cannot travel.
    const revoked = await one.gql(`mutation { revokeToken(id: "${doomed.id}") { id } }`);
    assert.equal(revoked.errors, undefined, revoked.text);
    const ended = await within(10_000, doomedStream.ended, 'the revoked token\'s stream closed without a notice');
    assert.deepEqual(ended, { code: 4401, reason: 'CDN_ERR_AUTH_REVOKED' });
    const keptBefore = keptStream.events;
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(keptStream.events > keptBefore, 'the token still valid stays connected');
  } finally {
    for (const c of clients) await c.dispose();
    await priv.restart();
    await two.close();
    await one.close();
    await c1.close();
    await c2.close();
    await priv.kill();
  }
});
