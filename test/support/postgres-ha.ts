/**
 * A private PostgreSQL cluster and a pgbouncer in front of it, for tests that restart
 * "the primary": the shared server on 5432 serves every other test at the same time, so
 * it is never touched. The cluster lives in a temporary directory (initdb, pg_ctl), on a
 * free loopback port, trust auth; pgbouncer runs as a child process in transaction mode.
 *
 * PostgreSQL and pgbouncer refuse to run as root: when the tests do, both run as the
 * `postgres` user (runuser for initdb and pg_ctl, pgbouncer's own `-u`), and the
 * directory is handed to that user.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from './redis-server';

const run = promisify(execFile);
const PGBOUNCER = '/usr/sbin/pgbouncer';
const IS_ROOT = process.getuid?.() === 0;
const RUN_AS = 'postgres';

/** The newest PostgreSQL under /usr/lib/postgresql (Debian's layout), or the PATH's. */
function pgBin(name: string): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => /^\d+$/.test(v) && existsSync(path.join(base, v, 'bin', name)))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return path.join(base, versions[0], 'bin', name);
  }
  return name;
}

/** Runs a PostgreSQL tool as a user PostgreSQL accepts. */
async function pgTool(name: string, args: string[]): Promise<string> {
  const [cmd, argv] = IS_ROOT ? ['runuser', ['-u', RUN_AS, '--', pgBin(name), ...args]] : [pgBin(name), args];
  try {
    // cwd: the postgres user may not be allowed into the test's working directory.
    const { stdout } = await run(cmd, argv, { timeout: 60_000, cwd: tmpdir() });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${name} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** True when this machine can run the test: PostgreSQL's server binaries and pgbouncer. */
export function postgresHaAvailable(): boolean {
  return existsSync(pgBin('initdb')) && existsSync(pgBin('pg_ctl')) && existsSync(PGBOUNCER);
}

export interface PrivatePostgres {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/<database>, straight to the server. */
  url(database?: string): string;
  createDatabase(name: string): Promise<void>;
  /** `pg_ctl stop -m <mode>`: fast rolls back open transactions and closes every connection. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops (immediate) and deletes the cluster. */
  destroy(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-pg-'));
  if (IS_ROOT) {
    const { uid, gid } = await idOf(RUN_AS);
    await chown(dir, uid, gid);
  }
  const data = path.join(dir, 'data');
  const port = await freePort();
  await pgTool('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  // Socket in our own directory; fsync off: the data is thrown away, and a fast shutdown writes it out anyway.
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=32MB -c max_connections=50`;
  const start = async (): Promise<void> => {
    await pgTool('pg_ctl', ['-D', data, '-l', path.join(dir, 'postgres.log'), '-o', serverOptions, '-w', '-t', '60', 'start']);
  };
  await start();
  const url = (database = 'postgres'): string => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    url,
    async createDatabase(name) {
      const c = new Client({ connectionString: url() });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name}"`);
      } finally {
        await c.end();
      }
    },
    async stop(mode = 'fast') {
      await pgTool('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
    },
    start,
    async destroy() {
      await pgTool('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface PgBouncer {
  port: number;
  /** postgres://postgres@127.0.0.1:<pgbouncer port>/<database>. */
  url(database: string): string;
  /** Everything pgbouncer logged so far. */
  output(): string;
  /** SIGTERM (immediate shutdown); resolves once it is gone. */
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  /** Seconds a client may wait for a server connection (pgbouncer's default: 120). */
  queryWaitTimeout?: number;
  /** Seconds pgbouncer waits before trying the server again after a failed login (default 15). */
  serverLoginRetry?: number;
  /**
   * Hand out server connections in turn instead of the most recently used one first (the
   * default), so consecutive transactions of one client land on different server sessions
   * and anything that relies on a session of its own shows.
   */
  serverRoundRobin?: boolean;
}

/** pgbouncer in transaction mode in front of `pg`, every database passed through. */
export async function startPgBouncer(pg: PrivatePostgres, options: PgBouncerOptions = {}): Promise<PgBouncer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-pgbouncer-'));
  const port = await freePort();
  const ini = path.join(dir, 'pgbouncer.ini');
  const users = path.join(dir, 'users.txt');
  await writeFile(users, '"postgres" ""\n');
  await writeFile(
    ini,
    [
      '[databases]',
      `* = host=127.0.0.1 port=${pg.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${users}`,
      'pool_mode = transaction',
      'max_client_conn = 200',
      'default_pool_size = 20',
      `query_wait_timeout = ${options.queryWaitTimeout ?? 120}`,
      `server_login_retry = ${options.serverLoginRetry ?? 15}`,
      `server_round_robin = ${options.serverRoundRobin === true ? 1 : 0}`,
      'logfile =',
      'pidfile =',
      '',
    ].join('\n'),
  );
  if (IS_ROOT) {
    const { uid, gid } = await idOf(RUN_AS);
    for (const p of [dir, ini, users]) await chown(p, uid, gid);
  }
  const child: ChildProcess = spawn(PGBOUNCER, [...(IS_ROOT ? ['-u', RUN_AS] : []), ini], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`pgbouncer exited at start:\n${out}`);
    if (/listening on 127\.0\.0\.1:\d+/.test(out)) break;
    if (Date.now() > deadline) throw new Error(`pgbouncer did not listen within 10 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function idOf(user: string): Promise<{ uid: number; gid: number }> {
  if (userInfo().username === user) return { uid: process.getuid!(), gid: process.getgid!() };
  const { stdout: uid } = await run('id', ['-u', user]);
  const { stdout: gid } = await run('id', ['-g', user]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}
