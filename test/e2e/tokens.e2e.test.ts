/**
 * Tokens across real processes: `cdn token create` makes the first admin token (bootstrap),
 * two `cdn api` processes share PostgreSQL and Redis, and a token revoked on one api — or
 * with `cdn token revoke` — is refused by the other within one second.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { graphqlRequest, spawnCdn, stackEnv, type CdnProcess } from '../support/processes';
import { createTestDatabase, createTestRedisPrefix, type TestDatabase, type TestRedis } from '../support/services';

const BOOTSTRAP = 'e2e-bootstrap-admin-token-0123';
let database: TestDatabase;
let redis: TestRedis;
let dataDir: string;
let env: Record<string, string>;
const apis: Array<{ proc: CdnProcess; url: string }> = [];

/** Runs `cdn token …`; `output` is stdout and stderr together (create prints the token as its last line). */
async function cdnToken(args: string[]): Promise<{ code: number | null; output: string }> {
  const proc = spawnCdn(['token', ...args], env);
  const code = await proc.exited();
  return { code, output: proc.output() };
}

before(async () => {
  database = await createTestDatabase('edgeplane_tokens_e2e');
  redis = createTestRedisPrefix();
  dataDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-tokens-'));
  env = stackEnv(
    { databaseUrl: database.url, redisUrl: redis.url, redisPrefix: redis.prefix, adminToken: BOOTSTRAP, secretKey: 'e2e-secret-key-0123456789abcdef0123456789' },
    { CDN_DATA_DIR: dataDir },
  );
  for (let i = 0; i < 2; i += 1) {
    const proc = spawnCdn(['api'], env);
    const url = String((await proc.waitForLog('api listening')).url).replace(/\/graphql$/, '');
    apis.push({ proc, url });
  }
});

after(async () => {
  for (const a of apis) await a.proc.stop().catch(() => {});
  await rm(dataDir, { recursive: true, force: true });
  await redis?.cleanup();
  await database?.drop();
});

async function status(apiUrl: string, token: string): Promise<string> {
  const r = await graphqlRequest(apiUrl, token, '{ customers { totalCount } }');
  return r.errors === undefined ? 'ok' : String(r.errors[0]!.extensions?.code);
}

/** Asks `apiUrl` until the token is refused; returns after how many ms (fails after 1 s). */
async function refusedWithinASecond(apiUrl: string, token: string, since: number): Promise<number> {
  for (;;) {
    if ((await status(apiUrl, token)) === 'UNAUTHENTICATED') return Date.now() - since;
    if (Date.now() - since > 1_000) assert.fail('the other api still accepted the revoked token after one second');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('cdn token create bootstraps an admin token that every api accepts; bad input exits 1 with the reason', async () => {
  const made = await cdnToken(['create', '--role', 'admin', '--name', 'ops laptop', '--expires-in', '1d']);
  assert.equal(made.code, 0, made.output);
  const secret = made.output.trim().split('\n').at(-1)!;
  assert.match(secret, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  for (const api of apis) assert.equal(await status(api.url, secret), 'ok');
  const bad = await cdnToken(['create', '--role', 'customer-viewer']);
  assert.equal(bad.code, 1);
  assert.match(bad.output, /input\.customerId: is required for the customer role customer-viewer/);
  const listed = await cdnToken(['list']);
  assert.equal(listed.code, 0);
  assert.match(listed.output, /admin\s+-\s+expires .*ops laptop/);
});

test('revoked on one api, refused by the other within a second; revoked with the cli, refused by both', async () => {
  const [a, b] = apis as [(typeof apis)[0], (typeof apis)[0]];
  const created = await graphqlRequest<{ createToken: { secret: string; token: { id: string } } }>(
    a.url,
    BOOTSTRAP,
    'mutation { createToken(input: { name: "ci", role: OPERATOR, expiresIn: "1h" }) { secret token { id } } }',
  );
  assert.equal(created.errors, undefined, JSON.stringify(created.errors));
  const { secret, token } = created.data!.createToken;
  // Both apis have decided (and cached) the token.
  for (let i = 0; i < 2; i += 1) for (const api of apis) assert.equal(await status(api.url, secret), 'ok');
  const since = Date.now();
  const revoked = await graphqlRequest(a.url, BOOTSTRAP, 'mutation($id: ID!) { revokeToken(id: $id) { status } }', { id: token.id });
  assert.equal(revoked.errors, undefined);
  assert.equal(await status(a.url, secret), 'UNAUTHENTICATED', 'the revoking api refuses it at once');
  const after = await refusedWithinASecond(b.url, secret, since);
  assert.ok(after <= 1_000, `refused after ${after} ms`);

  const second = await graphqlRequest<{ createToken: { secret: string; token: { id: string } } }>(a.url, BOOTSTRAP, 'mutation { createToken(input: { name: "ci2", role: VIEWER }) { secret token { id } } }');
  const s2 = second.data!.createToken;
  for (const api of apis) assert.equal(await status(api.url, s2.secret), 'ok');
  const cli = await cdnToken(['revoke', s2.token.id]);
  assert.equal(cli.code, 0, cli.output);
  const cliSince = Date.now(); // the revocation happened before the command exited
  for (const api of apis) await refusedWithinASecond(api.url, s2.secret, cliSince);
});
