/**
 * Real `cdn` processes for end-to-end tests: spawns `bin/cdn.js` (the compiled build,
 * which `npm test` refreshes first), waits for its "listening" log line or banner, and
 * stops it with SIGTERM, checking that it exits cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { request } from 'node:http';

export const ROOT = path.resolve(__dirname, '..', '..');

export interface CdnProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the first JSON log line whose msg equals `msg`. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code once the process has exited by itself. */
  exited(): Promise<number | null>;
  /** SIGTERM, then resolves with the exit code (or rejects after timeoutMs). */
  stop(timeoutMs?: number): Promise<number | null>;
}

export function spawnCdn(args: string[], env: Record<string, string | undefined>, options: { command?: string[] } = {}): CdnProcess {
  const command = options.command ?? [process.execPath, path.join(ROOT, 'bin', 'cdn.js'), ...args];
  const cleanEnv: Record<string, string> = {};
  // Every edge a test starts takes a free HTTPS port unless the test names one: tests run in
  // parallel, and the default (8443) would be taken by the first.
  for (const [k, v] of Object.entries({ ...process.env, CDN_EDGE_TLS_PORT: '0', ...env })) {
    // The test runner's own variables would make a child `node` think it is a test too.
    if (v !== undefined && !k.startsWith('NODE_TEST') && k !== 'NODE_OPTIONS') cleanEnv[k] = v;
  }
  const child = spawn(command[0]!, command.slice(1), { cwd: ROOT, env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('exit', () => {
    for (const l of listeners) l();
  });

  function waitFor<T>(find: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = find();
        if (found !== undefined) {
          cleanup();
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          cleanup();
          reject(new Error(`process exited (${child.exitCode ?? child.signalCode}) before ${what}. Output:\n${out}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}. Output:\n${out}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  }

  return {
    child,
    output: () => out,
    waitForLog: (msg, timeoutMs = 30_000) =>
      waitFor(
        () => {
          for (const line of out.split('\n')) {
            if (!line.startsWith('{')) continue;
            try {
              const parsed = JSON.parse(line) as Record<string, unknown>;
              if (parsed.msg === msg) return parsed;
            } catch {
              // a partial line; wait for the rest
            }
          }
          return undefined;
        },
        `log "${msg}"`,
        timeoutMs,
      ),
    waitForOutput: (pattern, timeoutMs = 30_000) => waitFor(() => out.match(pattern) ?? undefined, `output ${pattern}`, timeoutMs),
    exited: () => exited,
    async stop(timeoutMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      process.kill(-child.pid!, 'SIGTERM');
      const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs);
      const code = await exited;
      // Wait for the whole process group (e.g. the node process under `npm start`) to be gone.
      for (;;) {
        try {
          process.kill(-child.pid!, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      clearTimeout(timer);
      return code;
    },
  };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A plain HTTP request with a chosen Host header (fetch does not allow setting Host).
 * `freshConnection`: no agent and `Connection: close`, so a cluster hands it to the next worker.
 */
export function httpGet(
  url: string,
  host: string,
  options: { method?: string; headers?: Record<string, string>; freshConnection?: boolean } = {},
): Promise<HttpResult> {
  const fresh = options.freshConnection === true;
  return new Promise((resolve, reject) => {
    const headers = { host, ...(fresh ? { connection: 'close' } : {}), ...options.headers };
    const req = request(url, { method: options.method ?? 'GET', headers, ...(fresh ? { agent: false } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export async function graphqlRequest<T = Record<string, unknown>>(
  apiUrl: string,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] }> {
  const res = await fetch(`${apiUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns how long it took. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The JSON log lines of `proc` whose msg is `msg` (partial and non-JSON lines skipped). */
export function logLines(proc: CdnProcess, msg: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of proc.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.msg === msg) lines.push(parsed);
    } catch {
      // a partial line
    }
  }
  return lines;
}

/**
 * The environment of a `cdn api` / `cdn edge` process on a test's own database and Redis
 * prefix, every port free (0), private origins allowed (demo origins are on loopback).
 * `extra` adds or overrides variables.
 */
export function stackEnv(
  services: { databaseUrl: string; redisUrl: string; redisPrefix: string; adminToken: string; secretKey: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    CDN_REDIS_PREFIX: services.redisPrefix,
    CDN_ADMIN_TOKEN: services.adminToken,
    CDN_SECRET_KEY: services.secretKey,
    CDN_ALLOW_PRIVATE_ORIGINS: 'true',
    CDN_API_PORT: '0',
    CDN_EDGE_PORT: '0',
    CDN_EDGE_ADMIN_PORT: '0',
    CDN_EDGE_TLS_PORT: '0',
    CDN_LOG_LEVEL: 'info',
    ...extra,
  };
}
