/**
 * The data directory's lock (PGlite allows one process): a live holder is refused with a message
 * naming it, a dead one's lock is taken over (also when its pid now belongs to another process),
 * another host's lock is never taken over, and of several processes finding one stale lock,
 * exactly one gets it. Holders are real processes.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isCdnError } from '../../src/core/errors';
import { LOCK_FILE, lockDataDir } from '../../src/bin/data-dir.lock';

const ROOT = path.resolve(__dirname, '..', '..');
const dirs: string[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgeplane-lock-'));
  dirs.push(dir);
  return dir;
}

/**
 * A node process that tries the lock and prints "won" (then stays) or "busy"; with `goAt` (a
 * Date.now() value), it tries at that moment, so that several try at once. Its SIGTERM handler
 * is in place before it says "won": a test that stops it right after must not find it without one.
 */
function contender(dir: string, goAt = 0): { child: ChildProcess; result: Promise<string> } {
  const script = `
    const { lockDataDir } = require(${JSON.stringify(path.join(ROOT, 'src/bin/data-dir.lock.ts'))});
    while (Date.now() < ${goAt}) {}
    try { lockDataDir(${JSON.stringify(dir)}, 'contender'); process.on('SIGTERM', () => process.exit(0)); console.log('won'); setInterval(() => {}, 1000); }
    catch (err) { console.log(err.code === 'CDN_ERR_DATA_DIR_BUSY' ? 'busy' : String(err)); }`;
  const child = spawn(process.execPath, ['--require', '@swc-node/register', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const result = new Promise<string>((resolve) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', () => resolve(out.trim() || `exited ${child.exitCode}`));
  });
  return { child, result };
}

function busyError(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    assert.ok(isCdnError(err), String(err));
    assert.equal(err.code, 'CDN_ERR_DATA_DIR_BUSY');
    return err;
  }
  assert.fail('the lock was taken although it is held');
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

test('a live holder is refused, naming the directory, its pid and what to do; released on exit', async () => {
  const dir = await tempDir();
  const holder = contender(dir);
  assert.equal(await holder.result, 'won');
  const err = busyError(() => lockDataDir(dir, 'cdn token create'));
  assert.ok(err.message.includes(dir), err.message);
  assert.match(err.message, new RegExp(`\`contender\` \\(pid ${holder.child.pid}, since `));
  assert.match(err.message, /createToken/);
  assert.match(err.message, /admin-token/);
  assert.match(err.message, /DATABASE_URL/);
  assert.doesNotMatch(err.message, /delete/, 'a live local holder is never offered for deletion');

  // An exit through process.exit (what the lifecycle does on SIGTERM) removes the lock.
  holder.child.kill('SIGTERM');
  await new Promise((r) => holder.child.once('exit', r));
  assert.equal(existsSync(path.join(dir, LOCK_FILE)), false);
  const lock = lockDataDir(dir, 'test');
  lock.release();
  assert.equal(existsSync(path.join(dir, LOCK_FILE)), false);
});

test('one process cannot take its own lock twice; release frees it, and only if it is still ours', async () => {
  const dir = await tempDir();
  const file = path.join(dir, LOCK_FILE);
  const lock = lockDataDir(dir, 'test');
  busyError(() => lockDataDir(dir, 'test again'));
  lock.release();
  assert.equal(existsSync(file), false);

  const second = lockDataDir(dir, 'test');
  const taken = { ...JSON.parse(readFileSync(file, 'utf8')), nonce: 'someone-else' };
  writeFileSync(file, JSON.stringify(taken));
  second.release();
  assert.equal(existsSync(file), true, 'a lock another process took over is not removed');
});

test('a stale lock is taken over: dead pid, reused pid, or never written', async () => {
  const dir = await tempDir();
  const file = path.join(dir, LOCK_FILE);
  const stale = { host: os.hostname(), nonce: 'old', command: 'cdn start', since: '2020-01-01T00:00:00Z' };

  writeFileSync(file, JSON.stringify({ ...stale, pid: await deadPid(), startTime: null }));
  lockDataDir(dir, 'test').release();

  // The pid runs, but it is another process than the one that wrote the lock (start time differs).
  if (existsSync('/proc/self/stat')) {
    writeFileSync(file, JSON.stringify({ ...stale, pid: process.ppid, startTime: 'another-boot:1' }));
    lockDataDir(dir, 'test').release();
  }

  // Created, never written (its creator died between open and write), a while ago.
  writeFileSync(file, '');
  const old = new Date(Date.now() - 60_000);
  utimesSync(file, old, old);
  lockDataDir(dir, 'test').release();
});

test("another host's lock is never taken over: the message says which file to delete", async () => {
  const dir = await tempDir();
  const file = path.join(dir, LOCK_FILE);
  writeFileSync(file, JSON.stringify({ pid: await deadPid(), host: 'elsewhere.example', startTime: null, nonce: 'x', command: 'cdn start', since: 'x' }));
  const err = busyError(() => lockDataDir(dir, 'test'));
  assert.match(err.message, /on host elsewhere\.example/);
  assert.ok(err.message.includes(`delete ${file}`), err.message);
});

test('of several processes finding the same stale lock, exactly one takes it', async () => {
  const dir = await tempDir();
  writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: await deadPid(), host: os.hostname(), startTime: null, nonce: 'old', command: 'cdn start', since: 'x' }));
  // Loading takes a second or two per process on a busy machine; all try at the same moment.
  const goAt = Date.now() + 4_000;
  const results = await Promise.all(Array.from({ length: 6 }, () => contender(dir, goAt).result));
  assert.deepEqual(results.sort(), ['busy', 'busy', 'busy', 'busy', 'busy', 'won']);
});
