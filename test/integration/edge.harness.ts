/**
 * Helpers for the edge integration tests: a config on free ports in a temp dir, customers
 * with sealed Basic Auth, a raw HTTP client (duplicate Host, absolute-form targets),
 * scripted origins that record what they receive, and a settable clock.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Clock } from '../../src/core/clock.port';
import type { CustomerConfig } from '../../src/core/customer.types';
import { SecretBox } from '../../src/core/secret-box';
import { loadEdgeConfig, type EdgeConfig } from '../../src/edge/config';
import { createLogger } from '../../src/obs/logger.factory';

export const SECRET = 'edge-test-secret-key-0123456789abcdefgh';
export const silentLogger = createLogger({ name: 'edge', level: 'silent' });

export async function tempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-edge-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export function edgeConfig(dataDir: string, env: Record<string, string> = {}): Readonly<EdgeConfig> {
  return loadEdgeConfig({
    CDN_SECRET_KEY: SECRET,
    CDN_DATA_DIR: dataDir,
    CDN_EDGE_PORT: '0',
    CDN_EDGE_ADMIN_PORT: '0',
    // A free HTTPS port too: tests run in parallel (8443 would be taken by the first).
    CDN_EDGE_TLS_PORT: '0',
    CDN_ALLOW_PRIVATE_ORIGINS: 'true',
    CDN_LOG_LEVEL: 'silent',
    ...env,
  });
}

let version = 0;
export function customer(
  id: string,
  originUrl: string,
  domains: string[],
  extra: { cacheTtl?: number; basicAuth?: { username: string; password: string }; version?: number } = {},
): CustomerConfig {
  version += 1;
  return {
    id,
    name: id,
    originUrl,
    domains,
    cacheTtl: extra.cacheTtl ?? 3600,
    basicAuth: extra.basicAuth ? { username: extra.basicAuth.username, passwordCiphertext: new SecretBox(SECRET).seal(extra.basicAuth.password) } : null,
    version: extra.version ?? version,
    updatedAt: new Date().toISOString(),
  };
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpOptions {
  method?: string;
  /** Host header; an array sends several Host headers. Omit with `noHost`. */
  host?: string | string[];
  noHost?: boolean;
  headers?: Record<string, string>;
  body?: string;
  /** Sent verbatim as the request target (absolute-form tests). */
  target?: string;
}

export function http(base: string, pathname: string, options: HttpOptions = {}): Promise<HttpResult> {
  const url = new URL(base);
  const raw: string[] = [];
  if (!options.noHost) for (const h of [options.host ?? url.host].flat()) raw.push('Host', h);
  for (const [k, v] of Object.entries(options.headers ?? {})) raw.push(k, v);
  if (options.body !== undefined) raw.push('Content-Length', String(Buffer.byteLength(options.body)));
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method: options.method ?? 'GET', path: options.target ?? pathname, headers: raw as unknown as OutgoingHttpHeaders, setHost: false, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ScriptedOrigin {
  url: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** An origin whose answers the test writes; records each request with its body. */
export async function startScriptedOrigin(
  handle: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<ScriptedOrigin> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      handle(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port where nothing listens. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export class ManualClock implements Clock {
  #now: number;
  constructor(start = Date.now()) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

/** Polls `check` until it is true or `timeoutMs` passes; returns the milliseconds taken. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
