/**
 * API tokens below GraphQL, on a real PostgreSQL and a real Redis: creation (the secret
 * once, a hash stored), what each role may issue, verification through the three tiers
 * (memory, Redis, PostgreSQL), revocation reaching a second api process within a second,
 * expiry, and tokens that were tampered with or outlived their customer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedisRevocations } from '../../src/bus/redis-revocations';
import { isCdnError } from '../../src/core/errors';
import type { RevocationChannel } from '../../src/core/revocation.port';
import { createDataSource, migrate } from '../../src/api/db/data-source';
import { Database } from '../../src/api/db/database';
import type { Principal } from '../../src/api/services/bearer.authenticator';
import { Authenticator } from '../../src/api/services/bearer.authenticator';
import { signToken, tokenSigningKey } from '../../src/api/services/token-signing';
import { TokenService } from '../../src/api/services/token.service';
import { TokenVerifier } from '../../src/api/services/token-verifier';
import { silentLogger } from './edge.harness';
import { createTestDatabase, createTestRedisPrefix } from '../support/services';

const KEY = tokenSigningKey('test-secret-key-0123456789abcdef0123456789');
const ADMIN: Principal = { kind: 'admin', role: 'admin' };

interface ApiProcess {
  tokens: TokenService;
  verifier: TokenVerifier;
  auth: Authenticator;
  counts: { l1Hit: number; l1Miss: number; l2Hit: number };
  revocations: RevocationChannel;
}

async function withSetup(body: (s: { db: Database; api: (now?: () => number) => ApiProcess }) => Promise<void>): Promise<void> {
  const database = await createTestDatabase('edgeplane_tokens');
  const ds = createDataSource({ databaseUrl: database.url, dataDir: '/nonexistent' });
  await ds.initialize();
  const redis = createTestRedisPrefix();
  const processes: ApiProcess[] = [];
  try {
    await migrate(ds);
    await ds.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) VALUES ('acme', 'Acme', 'https://acme.example', 60), ('globex', 'Globex', 'https://globex.example', 60)`);
    const db = new Database(ds);
    /** One api process: its own verifier (L1) and channel connection, the shared database and Redis. */
    const api = (now?: () => number): ApiProcess => {
      const revocations = createRedisRevocations({ url: redis.url, prefix: redis.prefix });
      const counts = { l1Hit: 0, l1Miss: 0, l2Hit: 0 };
      let tokens: TokenService | undefined;
      const verifier = new TokenVerifier({
        key: KEY,
        revocations,
        lookup: (id) => tokens!.lookup(id),
        logger: silentLogger,
        now,
        counters: { l1Hit: () => void counts.l1Hit++, l1Miss: () => void counts.l1Miss++, l2Hit: () => void counts.l2Hit++ },
      });
      tokens = new TokenService({ db, key: KEY, revocations, verifier, logger: silentLogger, now });
      verifier.start();
      const p = { tokens, verifier, auth: new Authenticator('bootstrap-admin-token-0123456789', verifier), counts, revocations };
      processes.push(p);
      return p;
    };
    await body({ db, api });
  } finally {
    for (const p of processes) {
      p.verifier.close();
      await p.revocations.close();
    }
    await redis.cleanup();
    await ds.destroy();
    await database.drop();
  }
}

async function codeOf(work: () => unknown): Promise<string> {
  try {
    await work();
  } catch (err) {
    if (isCdnError(err)) return err.code;
    throw err;
  }
  return 'ok';
}

/** The verifier starts following revocations in the background; L1 is on once it has read. */
async function settled(): Promise<void> {
  await sleep(100);
}

test('a created token is shown once, stored as a hash, and authenticates as its role and customer', () =>
  withSetup(async ({ db, api }) => {
    const a = api();
    await settled();
    const { token, secret } = await a.tokens.create(ADMIN, { name: 'deploy bot', role: 'customer-purger', customerId: 'acme', expiresIn: '30d' });
    assert.match(secret, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const rows = await db.read((m) => m.query(`SELECT * FROM api_token`));
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows).includes(secret), 'the token itself is never stored');
    assert.equal(rows[0].token_sha256.length, 64);
    assert.equal(rows[0].created_by, 'admin-token');
    assert.ok(Math.abs(new Date(rows[0].expires_at).getTime() - Date.now() - 30 * 86_400_000) < 60_000);

    const { expiresAt, ...principal } = await a.auth.authenticate(`Bearer ${secret}`);
    assert.deepEqual(principal, { kind: 'token', role: 'customer-purger', tokenId: token.id, customerId: 'acme' });
    // The JWT's exp (whole seconds): what a graphql-ws connection's expiry timer is set to.
    assert.ok(Math.abs(expiresAt! - token.expiresAt.getTime()) < 1000, `${expiresAt} vs ${token.expiresAt.toISOString()}`);
    assert.deepEqual(a.counts, { l1Hit: 0, l1Miss: 1, l2Hit: 0 });
    const again = a.auth.authenticate(`Bearer ${secret}`);
    assert.ok(!(again instanceof Promise), 'an L1 hit answers synchronously');
    assert.deepEqual(again, { ...principal, expiresAt });
    assert.equal(a.counts.l1Hit, 1);
    assert.deepEqual(await a.auth.authenticate('Bearer bootstrap-admin-token-0123456789'), { kind: 'admin', role: 'admin' }, 'the bootstrap admin token still works');
  }));

test('a revoked token is refused at once by the api that revoked it and within a second by another api process', () =>
  withSetup(async ({ api }) => {
    const one = api();
    const two = api();
    await settled();
    const { token, secret } = await one.tokens.create(ADMIN, { name: 'leaked', role: 'viewer' });
    // Both processes have the token's "valid" decision in L1.
    for (const p of [one, two]) {
      await p.auth.authenticate(`Bearer ${secret}`);
      assert.ok(!(p.auth.authenticate(`Bearer ${secret}`) instanceof Promise), 'cached in L1');
    }
    const revokedAt = Date.now();
    await one.tokens.revoke(ADMIN, token.id);
    assert.equal(await codeOf(() => one.auth.authenticate(`Bearer ${secret}`)), 'CDN_ERR_AUTH_REVOKED');
    let refusedAfter = -1;
    while (Date.now() - revokedAt < 1_000) {
      if ((await codeOf(() => two.auth.authenticate(`Bearer ${secret}`))) === 'CDN_ERR_AUTH_REVOKED') {
        refusedAfter = Date.now() - revokedAt;
        break;
      }
      await sleep(5);
    }
    assert.ok(refusedAfter >= 0, 'the other api refused the revoked token within one second');
    assert.ok(two.counts.l2Hit >= 1, 'its decision came from the Redis tier');
    // A third process that never saw the token refuses it from the Redis tier.
    const three = api();
    await settled();
    assert.equal(await codeOf(() => three.auth.authenticate(`Bearer ${secret}`)), 'CDN_ERR_AUTH_REVOKED');
    // Revoking twice changes nothing.
    assert.equal((await one.tokens.revoke(ADMIN, token.id)).revokedAt!.getTime(), (await one.tokens.list(ADMIN))[0]!.revokedAt!.getTime());
  }));

test('the database is the truth: a revocation Redis lost is still refused, and Redis is told again', () =>
  withSetup(async ({ db, api }) => {
    const a = api();
    await settled();
    const { token, secret } = await a.tokens.create(ADMIN, { name: 'n', role: 'operator' });
    await db.transaction((m) => m.query(`UPDATE api_token SET revoked_at = now() WHERE id = $1`, [token.id]));
    assert.equal(await codeOf(() => a.auth.authenticate(`Bearer ${secret}`)), 'CDN_ERR_AUTH_REVOKED');
    await sleep(50);
    assert.equal(await a.revocations.isRevoked(token.id), true);
  }));

test('expired, tampered, foreign and orphaned tokens are refused with the reason', () =>
  withSetup(async ({ db, api }) => {
    let offset = 0;
    const a = api(() => Date.now() + offset);
    await settled();
    const short = await a.tokens.create(ADMIN, { name: 'short', role: 'viewer', expiresIn: '60s' });
    assert.equal(await codeOf(() => a.auth.authenticate(`Bearer ${short.secret}`)), 'ok');
    offset = 61_000;
    assert.equal(await codeOf(() => a.auth.authenticate(`Bearer ${short.secret}`)), 'CDN_ERR_AUTH_EXPIRED', 'expired, even though L1 had it');
    offset = 0;

    const good = await a.tokens.create(ADMIN, { name: 'good', role: 'customer-viewer', customerId: 'globex' });
    const [h, p, sig] = good.secret.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, role: 'admin', cid: undefined })).toString('base64url')}.${sig}`;
    assert.equal(await codeOf(() => a.auth.authenticate(`Bearer ${forged}`)), 'CDN_ERR_AUTH_INVALID', 'a changed claim breaks the signature');
    const foreign = await signToken(tokenSigningKey('another-secret-key-0123456789abcdef012345'), { tokenId: good.token.id, role: 'admin', expiresAt: Date.now() + 60_000 }, Date.now());
    assert.equal(await codeOf(() => a.auth.authenticate(`Bearer ${foreign}`)), 'CDN_ERR_AUTH_INVALID', 'signed with another key');
    const minted = await signToken(KEY, { tokenId: good.token.id, role: 'customer-viewer', customerId: 'globex', expiresAt: Date.now() + 120_000 }, Date.now());
    assert.equal(await codeOf(() => a.auth.authenticate(`Bearer ${minted}`)), 'CDN_ERR_AUTH_INVALID', 'a token with the same id but not the one issued (hash differs)');

    await db.transaction((m) => m.query(`DELETE FROM customer WHERE id = 'globex'`));
    const fresh = api();
    await settled();
    assert.equal(await codeOf(() => fresh.auth.authenticate(`Bearer ${good.secret}`)), 'CDN_ERR_AUTH_INVALID', "a customer's tokens go with it");
  }));

test('who may issue, list and revoke which tokens', () =>
  withSetup(async ({ api }) => {
    const a = api();
    const acmeAdmin: Principal = { kind: 'token', role: 'customer-admin', tokenId: 't1', customerId: 'acme' };
    const operator: Principal = { kind: 'token', role: 'operator', tokenId: 't2' };
    const create = (actor: Principal, role: string, customerId?: string) => codeOf(() => a.tokens.create(actor, { name: 'x', role, customerId }));
    assert.equal(await create(acmeAdmin, 'customer-purger', 'acme'), 'ok');
    assert.equal(await create(acmeAdmin, 'customer-admin', 'acme'), 'ok');
    assert.equal(await create(acmeAdmin, 'customer-purger', 'globex'), 'CDN_ERR_CUSTOMER_NOT_FOUND', 'another customer: as if it did not exist');
    assert.equal(await create(acmeAdmin, 'viewer'), 'CDN_ERR_AUTH_FORBIDDEN');
    assert.equal(await create(operator, 'viewer'), 'CDN_ERR_AUTH_FORBIDDEN');
    assert.equal(await create(ADMIN, 'customer-viewer', 'nobody'), 'CDN_ERR_CUSTOMER_NOT_FOUND');
    const globex = await a.tokens.create(ADMIN, { name: 'g', role: 'customer-viewer', customerId: 'globex' });

    assert.deepEqual((await a.tokens.list(acmeAdmin)).map((t) => t.customerId), ['acme', 'acme']);
    assert.equal(await codeOf(() => a.tokens.list(acmeAdmin, 'globex')), 'CDN_ERR_CUSTOMER_NOT_FOUND');
    assert.equal(await codeOf(() => a.tokens.list(operator)), 'CDN_ERR_AUTH_FORBIDDEN');
    assert.equal((await a.tokens.list(ADMIN)).length, 3);
    assert.equal(await codeOf(() => a.tokens.revoke(acmeAdmin, globex.token.id)), 'CDN_ERR_TOKEN_NOT_FOUND');
    assert.equal(await codeOf(() => a.tokens.revoke(ADMIN, 'not-a-uuid')), 'CDN_ERR_TOKEN_NOT_FOUND');
  }));

test('bad input is refused with every problem named, and nothing is stored', () =>
  withSetup(async ({ db, api }) => {
    const a = api();
    const problems = async (cmd: Parameters<TokenService['create']>[1]): Promise<string[]> => {
      try {
        await a.tokens.create(ADMIN, cmd);
      } catch (err) {
        if (isCdnError(err) && err.code === 'CDN_ERR_INPUT_INVALID') return (err.details as { fields: Array<{ field: string }> }).fields.map((f) => f.field);
        throw err;
      }
      return [];
    };
    assert.deepEqual(await problems({ name: ' ', role: 'root', expiresIn: 'soon' }), ['input.name', 'input.role', 'input.expiresIn']);
    assert.deepEqual(await problems({ name: 'n', role: 'customer-viewer' }), ['input.customerId']);
    assert.deepEqual(await problems({ name: 'n', role: 'viewer', customerId: 'acme' }), ['input.customerId']);
    assert.deepEqual(await problems({ name: 'n', role: 'viewer', expiresIn: '400d' }), ['input.expiresIn']);
    assert.deepEqual(await problems({ name: 'n', role: 'viewer', expiresIn: '59' }), ['input.expiresIn']);
    assert.deepEqual(await db.read((m) => m.query(`SELECT count(*)::int AS n FROM api_token`)), [{ n: 0 }]);
  }));
