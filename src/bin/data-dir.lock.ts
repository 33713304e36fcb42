/**
 * The lock on a data directory's embedded database. PGlite runs PostgreSQL inside the process
 * that opens it, with no server to arbitrate: a second process opening the same files works on
 * its own copy of the state, and whatever it writes is lost or corrupts the first one's (a token
 * created by `cdn token create` beside `npm start` was listed by neither and never accepted). So
 * every command that opens PGlite under CDN_DATA_DIR takes `<dataDir>/pglite.lock` first, and a
 * second one refuses before it touches anything. PostgreSQL (DATABASE_URL) needs no such lock.
 *
 * The lock is a file created with O_EXCL holding the owner's pid, host, process start time and a
 * random nonce. It is removed on exit (normal, signal through the lifecycle, uncaught error); one
 * left by a crash (SIGKILL, power loss) is stale and taken over when its pid no longer runs here,
 * or runs but is another process that got the same pid (its start time differs). An OS lock
 * (flock) would be released by the kernel on its own, but Node has no flock.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cdnError } from '../core/errors';

export const LOCK_FILE = 'pglite.lock';

interface LockOwner {
  pid: number;
  host: string;
  /** `<boot id>:<start time in clock ticks>` from /proc; null where there is no /proc. */
  startTime: string | null;
  nonce: string;
  command: string;
  since: string;
}

export interface DataDirLock {
  readonly file: string;
  /** Removes the lock if it is still ours; idempotent. Also runs on process exit. */
  release(): void;
}

/** Lock files held by this process: its pid in one of them is not a leftover of a dead process. */
const heldHere = new Set<string>();

/** A lock file this young with no complete content is being written by its creator right now. */
const UNWRITTEN_GRACE_MS = 2_000;
/** The takeover guard is held for a few system calls; one older than this was left by a crash. */
const TAKEOVER_STALE_MS = 10_000;

/**
 * Takes the data directory's lock for `command` (e.g. "cdn start"), or throws
 * CDN_ERR_DATA_DIR_BUSY naming the process that holds it. The directory must exist.
 */
export function lockDataDir(dataDir: string, command: string): DataDirLock {
  const file = path.join(dataDir, LOCK_FILE);
  const me: LockOwner = {
    pid: process.pid,
    host: os.hostname(),
    startTime: processStartTime(process.pid),
    nonce: randomBytes(16).toString('hex'),
    command,
    since: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 50; attempt += 1) {
    if (tryCreate(file, me)) return held(file, me);
    const seen = readOwner(file);
    if (seen === 'absent') continue;
    if (seen === 'unwritten') {
      if (ageMs(file) < UNWRITTEN_GRACE_MS) {
        sleep(20);
        continue;
      }
      // Created but never written: its creator died between open and write.
      if (takeOver(file, null, me)) return held(file, me);
      continue;
    }
    if (isRunning(seen, file)) throw busy(dataDir, file, seen);
    if (takeOver(file, seen.nonce, me)) return held(file, me);
  }
  // Only reachable if the file keeps changing under us; treat it as held.
  const last = readOwner(file);
  throw busy(dataDir, file, typeof last === 'string' ? null : last);
}

function held(file: string, me: LockOwner): DataDirLock {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    heldHere.delete(file);
    process.removeListener('exit', release);
    try {
      const owner = readOwner(file);
      // Never remove a lock someone else took over (after we were thought dead, e.g. suspended).
      if (typeof owner !== 'string' && owner.nonce === me.nonce) unlinkSync(file);
    } catch {
      // Gone or unreadable: nothing of ours to remove; a leftover is taken over as stale.
    }
  };
  // 'exit' runs on process.exit() (the lifecycle's drain, cdn.ts's error path), on a normal end
  // and after an uncaught exception; only SIGKILL-like deaths skip it, and they leave a stale lock.
  process.on('exit', release);
  heldHere.add(file);
  return { file, release };
}

/** O_EXCL create; false if the file exists. */
function tryCreate(file: string, me: LockOwner): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, `${JSON.stringify(me)}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Replaces a stale lock, under a short-lived guard file, so that two processes finding the same
 * stale lock cannot both remove it (the second would remove the first one's new lock). Removes
 * the lock only if it still holds `staleNonce` (null: an unwritten one), then creates ours.
 */
function takeOver(file: string, staleNonce: string | null, me: LockOwner): boolean {
  const guard = `${file}.takeover`;
  let fd: number | undefined;
  for (let i = 0; fd === undefined; i += 1) {
    try {
      fd = openSync(guard, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (ageMs(guard) > TAKEOVER_STALE_MS) unlinkQuietly(guard);
      else if (i > 200) return false;
      else sleep(10);
    }
  }
  try {
    const now = readOwner(file);
    const same = staleNonce === null ? now === 'unwritten' : typeof now !== 'string' && now.nonce === staleNonce;
    if (same) unlinkQuietly(file);
    return tryCreate(file, me);
  } finally {
    closeSync(fd);
    unlinkQuietly(guard);
  }
}

function readOwner(file: string): LockOwner | 'absent' | 'unwritten' {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && typeof o.nonce === 'string' && typeof o.host === 'string') {
      return { pid: o.pid, host: o.host, nonce: o.nonce, startTime: o.startTime ?? null, command: o.command ?? 'cdn', since: o.since ?? '?' };
    }
  } catch {
    // empty or partly written
  }
  return 'unwritten';
}

/** Whether the lock's owner still runs. Another host's process cannot be checked: assume it does. */
function isRunning(owner: LockOwner, file: string): boolean {
  if (owner.host !== os.hostname()) return true;
  // Our own pid in a lock this process does not hold: a previous process with that pid (a
  // container's pid 1 after a restart, typically) died without removing it.
  if (owner.pid === process.pid) return heldHere.has(file);
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (owner.startTime === null) return true;
  const current = processStartTime(owner.pid);
  // A different start time: the pid was reused by an unrelated process since the owner died.
  return current === null || current === owner.startTime;
}

/** Linux: boot id and start time (clock ticks after boot) of `pid`, which together name one process. */
function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = fields[19]; // field 22, starttime
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return ticks === undefined ? null : `${boot}:${ticks}`;
  } catch {
    return null;
  }
}

function busy(dataDir: string, file: string, owner: LockOwner | null): Error {
  if (owner === null) return cdnError('CDN_ERR_DATA_DIR_BUSY', dataDir, 'another cdn process', null);
  const foreign = owner.host !== os.hostname();
  const holder = `\`${owner.command}\` (pid ${owner.pid}${foreign ? ` on host ${owner.host}` : ''}, since ${owner.since})`;
  return cdnError('CDN_ERR_DATA_DIR_BUSY', dataDir, holder, foreign ? file : null);
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
