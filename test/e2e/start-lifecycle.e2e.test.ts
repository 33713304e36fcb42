/**
 * `cdn start` / `npm start` as processes: the embedded database's data directory is held by one
 * process, so `cdn token create` beside a running start refuses and changes nothing (it used to
 * print a token that never worked and leave the database inconsistent); a crashed start's lock
 * does not block the next one. Under `npm start`, a signal to npm reaches the server (it used to
 * kill only the shell between them, leaving the server running on its ports), npm exits 0 as the
 * README promises, and a server whose npm was SIGKILLed stops by itself.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import path from 'node:path';
import { eventually, graphqlRequest, spawnCdn, type CdnProcess } from '../support/processes';

const dirs: string[] = [];
const procs: CdnProcess[] = [];
/** Servers started under npm: a failing test may leave them running after npm is gone. */
const serverPids: number[] = [];
after(async () => {
  for (const p of procs) await p.stop().catch(() => {});
  for (const pid of serverPids) if (running(pid)) process.kill(pid, 'SIGKILL');
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
  // The running server's own first write, its edge's last-known-good snapshot, lands a moment
  // after the banner: wait for it, so the listing below compares only what the refused commands did.
  await eventually(async () => existsSync(path.join(dataDir, 'edge-snapshot.json')), 15_000, 'the edge snapshot of cdn start');
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

/** `npm start`, really through npm (and the shell it runs scripts with), from the repository root. */
function npmStart(dataDir: string): CdnProcess {
  const proc = spawnCdn([], newcomerEnv(dataDir), { command: ['npm', 'start', '--silent'] });
  procs.push(proc);
  return proc;
}

/** The banner's listening URLs, and the pid of the server (from the data directory's lock). */
async function served(proc: CdnProcess, dataDir: string): Promise<{ urls: string[]; serverPid: number; api: string; token: string }> {
  const { api, token } = await readBanner(proc);
  const edge = (await proc.waitForOutput(/edge \(public\)\s+(http:\S+)/))[1]!;
  const admin = (await proc.waitForOutput(/edge admin\s+(http:\S+)/))[1]!;
  await tokenIds(api, token);
  const { pid } = JSON.parse(readFileSync(path.join(dataDir, 'pglite.lock'), 'utf8')) as { pid: number };
  serverPids.push(pid);
  assert.notEqual(pid, proc.child.pid, 'the server is a process of its own under npm');
  return { urls: [api, edge, admin], serverPid: pid, api, token };
}

function connectionRefused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** npm's exit within the lifecycle's 15 s grace (and some start-up slack), or a failure. */
async function npmExit(proc: CdnProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`npm did not exit within 20 s. Output:\n${proc.output()}`)), 20_000).unref());
  await Promise.race([proc.exited(), timer]);
  return { code: proc.child.exitCode, signal: proc.child.signalCode };
}

async function assertStopped(urls: string[], serverPid: number, dataDir: string, output: string): Promise<void> {
  assert.equal(running(serverPid), false, `the server (pid ${serverPid}) is gone. Output:\n${output}`);
  for (const url of urls) assert.equal(await connectionRefused(url), true, `${url} is free`);
  assert.equal(existsSync(path.join(dataDir, 'pglite.lock')), false, 'the server drained and released the data directory');
  assert.match(output, /api stopped/, 'the api drained');
}

for (const [what, send] of [
  ['SIGTERM to the npm process alone', (p: CdnProcess) => process.kill(p.child.pid!, 'SIGTERM')],
  ['SIGINT to its process group, as Ctrl-C in a terminal', (p: CdnProcess) => process.kill(-p.child.pid!, 'SIGINT')],
] as const) {
  test(`npm start: ${what} drains and stops the server, frees its ports, and npm exits 0`, async () => {
    const dataDir = await tempDataDir();
    const proc = npmStart(dataDir);
    const { urls, serverPid } = await served(proc, dataDir);
    send(proc);
    assert.deepEqual(await npmExit(proc), { code: 0, signal: null }, `npm exits 0 (README). Output:\n${proc.output()}`);
    await assertStopped(urls, serverPid, dataDir, proc.output());
  });
}

test('npm start: a server whose npm was SIGKILLed (nothing forwarded) stops by itself', async () => {
  const dataDir = await tempDataDir();
  const proc = npmStart(dataDir);
  const { urls, serverPid } = await served(proc, dataDir);
  process.kill(proc.child.pid!, 'SIGKILL');
  await proc.exited();
  const since = Date.now();
  while (running(serverPid) && Date.now() - since < 20_000) await new Promise((r) => setTimeout(r, 50));
  await assertStopped(urls, serverPid, dataDir, proc.output());
});
