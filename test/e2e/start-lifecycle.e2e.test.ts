/**
 * `cdn start` / `npm start` as processes: the embedded database's data directory is held by one
 * process, so `cdn token create` beside a running start refuses and changes nothing (it used to
 * print a token that never worked and leave the database inconsistent); a crashed start's lock
 * does not block the next one.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { graphqlRequest, spawnCdn, type CdnProcess } from '../support/processes';

const dirs: string[] = [];
const procs: CdnProcess[] = [];
after(async () => {
  for (const p of procs) await p.stop().catch(() => {});
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-lifecycle-'));
  dirs.push(dir);
  return dir;
}

/** What a newcomer's environment has: no DATABASE_URL, no REDIS_URL, no secrets; free ports. */
function newcomerEnv(dataDir: string): Record<string, string | undefined> {
  return {
    CDN_DATA_DIR: dataDir,
    CDN_API_PORT: '0',
    CDN_EDGE_PORT: '0',
    CDN_EDGE_ADMIN_PORT: '0',
    DATABASE_URL: undefined,
    REDIS_URL: undefined,
    CDN_ADMIN_TOKEN: undefined,
    CDN_SECRET_KEY: undefined,
    CDN_ALLOW_PRIVATE_ORIGINS: undefined,
  };
}

function start(dataDir: string, args: string[] = ['--no-demo']): CdnProcess {
  const proc = spawnCdn(['start', ...args], newcomerEnv(dataDir));
  procs.push(proc);
  return proc;
}

async function readBanner(proc: CdnProcess): Promise<{ api: string; token: string }> {
  const api = (await proc.waitForOutput(/GraphQL API \+ IDE\s+(http:\S+)\/graphql/, 90_000))[1]!;
  const token = (await proc.waitForOutput(/admin token\s+(\S+)/))[1]!;
  return { api, token };
}

/** Runs `cdn token …` on `dataDir` with the secret key `cdn start` keeps there; stdout apart. */
async function cdnToken(dataDir: string, args: string[]): Promise<{ code: number | null; stdout: string; output: string }> {
  const secretKey = readFileSync(path.join(dataDir, 'secret-key'), 'utf8').trim();
  const proc = spawnCdn(['token', ...args], { ...newcomerEnv(dataDir), CDN_SECRET_KEY: secretKey });
  let stdout = '';
  proc.child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  const code = await proc.exited();
  return { code, stdout, output: proc.output() };
}

function readIfThere(file: string): string | null {
  return existsSync(file) ? readFileSync(file, 'utf8') : null;
}

async function tokenIds(api: string, token: string): Promise<string[]> {
  const r = await graphqlRequest<{ tokens: { id: string }[] }>(api, token, '{ tokens { id } }');
  assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  return r.data!.tokens.map((t) => t.id).sort();
}

test('cdn token create beside a running cdn start refuses, changes nothing, and works once it stopped', async () => {
  const dataDir = await tempDataDir();
  const server = start(dataDir);
  const { api, token } = await readBanner(server);
  const before = await tokenIds(api, token);
  const lockBefore = readIfThere(path.join(dataDir, 'pglite.lock'));
  const filesBefore = (await readdir(dataDir)).sort();

  const refused = await cdnToken(dataDir, ['create', '--role', 'admin']);
  assert.notEqual(refused.code, 0, `cdn token create must refuse while cdn start runs. Output:\n${refused.output}`);
  assert.equal(refused.stdout, '', 'no token is printed');
  assert.ok(refused.output.includes(`The data directory ${dataDir} is in use by \`cdn start\` (pid ${server.child.pid},`), refused.output);
  assert.ok(refused.output.includes(path.join(dataDir, 'admin-token')), refused.output);
  assert.match(refused.output, /createToken/);
  assert.match(refused.output, /DATABASE_URL/);
  assert.doesNotMatch(refused.output, /\n\s+at /, 'a message, not a stack trace');

  // Any other command on the embedded database refuses the same way.
  for (const args of [['token', 'list'], ['migrate']]) {
    const proc = spawnCdn(args, { ...newcomerEnv(dataDir), CDN_SECRET_KEY: 'x'.repeat(32) });
    assert.notEqual(await proc.exited(), 0, `cdn ${args.join(' ')}: ${proc.output()}`);
    assert.match(proc.output(), /is in use by `cdn start`/);
  }

  // Nothing changed, and the running server still works with its own admin token.
  assert.deepEqual(await tokenIds(api, token), before, 'no token was added');
  assert.equal(readIfThere(path.join(dataDir, 'pglite.lock')), lockBefore);
  assert.deepEqual((await readdir(dataDir)).sort(), filesBefore);

  // What the message and the README say to do instead while it runs: createToken with the admin token.
  const viaApi = await graphqlRequest<{ createToken: { secret: string } }>(api, token, 'mutation { createToken(input: { name: "alice", role: ADMIN }) { secret } }');
  assert.equal(viaApi.errors, undefined, JSON.stringify(viaApi.errors));
  assert.equal((await tokenIds(api, viaApi.data!.createToken.secret)).length, before.length + 1);

  assert.equal(await server.stop(), 0, server.output());
  assert.equal(existsSync(path.join(dataDir, 'pglite.lock')), false, 'the lock is removed on SIGTERM');

  const created = await cdnToken(dataDir, ['create', '--role', 'admin', '--name', 'after stop']);
  assert.equal(created.code, 0, created.output);
  const newToken = created.stdout.trim();
  assert.match(newToken, /^\S{20,}$/);
  assert.equal(existsSync(path.join(dataDir, 'pglite.lock')), false, 'cdn token releases the lock');

  const again = start(dataDir);
  const banner = await readBanner(again);
  const ids = await tokenIds(banner.api, newToken);
  assert.equal(ids.length, before.length + 2, 'the token made while stopped is there, and it works');
  assert.equal(await again.stop(), 0, again.output());
});

test('a crashed cdn start (SIGKILL) leaves a stale lock that the next start takes over', async () => {
  const dataDir = await tempDataDir();
  const crashed = start(dataDir);
  await readBanner(crashed);
  process.kill(crashed.child.pid!, 'SIGKILL');
  await crashed.exited();
  const stale = JSON.parse(readFileSync(path.join(dataDir, 'pglite.lock'), 'utf8')) as { pid: number };
  assert.equal(stale.pid, crashed.child.pid, 'SIGKILL left the lock behind');

  const next = start(dataDir);
  const { api, token } = await readBanner(next);
  await tokenIds(api, token);
  const lock = JSON.parse(readFileSync(path.join(dataDir, 'pglite.lock'), 'utf8')) as { pid: number };
  assert.equal(lock.pid, next.child.pid);
  assert.equal(await next.stop(), 0, next.output());
});
