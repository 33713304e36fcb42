/**
 * Helpers for the edge integration tests: a config on free ports in a temp dir, an edge that
 * follows a bus (startBusEdge) and the store it builds (edgeStore), customers
 * with sealed Basic Auth, a raw HTTP client (duplicate Host, absolute-form targets),
 * scripted origins that record what they receive, and a settable clock. For HTTPS:
 * certificates of a test CA (src/bin/demo-pki.ts) as a customer's `tls`, a TLS handshake
 * that reports what the edge presented, h2 requests, and curl/openssl runs.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders as H2Headers } from 'node:http2';
import { connect as tlsConnect, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Clock } from '../../src/core/clock.port';
import type { CustomerConfig } from '../../src/core/customer.types';
import { SecretBox } from '../../src/core/secret-box';
import type { CustomerTls, EdgeCertificate } from '../../src/core/tls.types';
import type { Leaf } from '../../src/bin/demo-pki';
import type { ChangeBus } from '../../src/core/bus.port';
import { createCacheStore, type CacheStoreSettings } from '../../src/edge/cache/cache-store.factory';
import type { CacheStore } from '../../src/edge/cache/cache-store.port';
import type { TieredStore } from '../../src/edge/cache/tiered.store';
import { loadEdgeConfig, type EdgeConfig } from '../../src/edge/config';
import type { PurgeAppliedAck } from '../../src/edge/customer-feed.port';
import type { LurkerSettings } from '../../src/edge/purge/purge.lurker';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createBusCustomerFeed } from '../../src/edge/sync/bus-sync';
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

/**
 * The tiered store (memory over disk + LMDB index) an edge with `config` builds for itself,
 * for a test that reads it or hands it to edges in turn; `extra` overrides a setting
 * (`indexBodyMax: 0` gives every body a file, for tests that count files).
 */
export function edgeStore(config: Readonly<EdgeConfig>, extra: Partial<CacheStoreSettings> = {}): TieredStore {
  return createCacheStore({ dir: config.cacheDir, maxObjectBytes: config.maxObjectBytes, maxBytes: config.cacheMaxBytes, memoryBytes: config.memoryBytes, memoryMaxObjectBytes: config.memoryMaxObjectBytes, ...extra });
}

export interface BusEdge {
  edge: EdgeHandle;
  /** The purges it applied, in order, as its fleet reporter hears them (onPurgeApplied). */
  acks: PurgeAppliedAck[];
}

/**
 * An edge that follows `bus` through the bus customer feed, as a production edge follows the
 * change bus, on test timings (the feed retries within 100 ms; the purge lurker looks every
 * 20 ms and forgets a retired ban at once, unless `purge` says otherwise). Resolves once the
 * edge has read the customers. An injected `store` stays the test's to close; without one
 * the edge builds and closes its own.
 */
export async function startBusEdge(bus: ChangeBus, config: Readonly<EdgeConfig>, options: { store?: CacheStore; purge?: Partial<LurkerSettings> } = {}): Promise<BusEdge> {
  const customers = createBusCustomerFeed(bus, { dataDir: config.dataDir, logger: silentLogger, blockMs: 200, retryMinMs: 20, retryMaxMs: 100 });
  const acks: PurgeAppliedAck[] = [];
  // Listening before the start: a purge applied while the edge loads is not missed.
  customers.onPurgeApplied((ack) => acks.push(ack));
  const edge = await startEdge(config, { customers, logger: silentLogger, store: options.store, purge: { pollMs: 20, forgetGraceMs: 0, ...options.purge } });
  await customers.ready;
  return { edge, acks };
}

let version = 0;
export function customer(
  id: string,
  originUrl: string,
  domains: string[],
  extra: { cacheTtl?: number; basicAuth?: { username: string; password: string }; version?: number; tls?: CustomerTls } = {},
): CustomerConfig {
  version += 1;
  return {
    id,
    name: id,
    originUrl,
    domains,
    cacheTtl: extra.cacheTtl ?? 3600,
    basicAuth: extra.basicAuth ? { username: extra.basicAuth.username, passwordCiphertext: new SecretBox(SECRET).seal(extra.basicAuth.password) } : null,
    ...(extra.tls === undefined ? {} : { tls: extra.tls }),
    version: extra.version ?? version,
    updatedAt: new Date().toISOString(),
  };
}

let certificateIds = 0;
/** A leaf of the test CA as the edge receives it: its key sealed with `secret` (default: the edges' SECRET). */
export function edgeCertificate(leaf: Leaf, domains: string[], extra: { id?: string; notBefore?: Date; notAfter?: Date; secret?: string } = {}): EdgeCertificate {
  certificateIds += 1;
  return {
    id: extra.id ?? `certificate-${certificateIds}`,
    domains,
    certPem: leaf.chainPem,
    keyCiphertext: new SecretBox(extra.secret ?? SECRET).seal(leaf.keyPem),
    // As the api reads them from the leaf, unless a test says otherwise.
    notBefore: (extra.notBefore ?? new Date(new X509Certificate(leaf.certPem).validFrom)).toISOString(),
    notAfter: (extra.notAfter ?? new Date(new X509Certificate(leaf.certPem).validTo)).toISOString(),
  };
}

/** A customer's `tls` (redirect: the default, null; no HSTS; no challenges) with `overrides`. */
export function customerTls(certificates: EdgeCertificate[], overrides: Partial<CustomerTls> = {}): CustomerTls {
  return { certificates, httpsRedirect: null, hsts: null, acmeChallenges: [], ...overrides };
}

export interface Handshake {
  socket: TLSSocket;
  certificate: PeerCertificate;
  /** The leaf's subject alternative names, `DNS:` entries without the prefix. */
  names: string[];
  protocol: string | null;
  alpn: string | false;
  reused: boolean;
  session: Buffer | undefined;
}

/**
 * A TLS handshake with the edge on loopback, `servername` as SNI (undefined: none sent),
 * trusting `ca`. Resolves once the handshake is done (and, on TLS 1.3, the session ticket
 * arrived, for resumption tests), or rejects with the client's error. The caller ends the socket.
 */
export function handshake(port: number, servername: string | undefined, ca: string, options: ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca,
      ...(servername === undefined ? { checkServerIdentity: () => undefined } : { servername }),
      ...options,
    });
    let session: Buffer | undefined;
    let secure = false;
    let resolved = false;
    const done = (): void => {
      if (resolved) return;
      resolved = true;
      const certificate = socket.getPeerCertificate();
      resolve({
        socket,
        certificate,
        names: (certificate.subjectaltname ?? '').split(', ').filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4)),
        protocol: socket.getProtocol(),
        alpn: socket.alpnProtocol ?? false,
        reused: socket.isSessionReused(),
        // TLS 1.2's session (its ticket inside) is there at once; TLS 1.3's ticket comes in 'session'.
        session: session ?? socket.getSession(),
      });
    };
    socket.on('session', (s: Buffer) => {
      session = s;
      if (secure) done();
    });
    socket.once('secureConnect', () => {
      secure = true;
      // TLS 1.2 hands its session at once; TLS 1.3 sends tickets just after the handshake.
      if (session !== undefined || socket.getProtocol() !== 'TLSv1.3' || socket.isSessionReused()) done();
      else setTimeout(done, 200);
    });
    socket.once('error', reject);
  });
}

export interface H2Result {
  status: number;
  headers: H2Headers;
  body: string;
}

/** An h2 connection to the edge's HTTPS port, `servername` as SNI, trusting `ca`. */
export function h2Session(port: number, servername: string, ca: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://${servername}:${port}`, { ca, servername, createConnection: () => tlsConnect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: ['h2'] }) });
    session.once('connect', () => {
      session.off('error', reject);
      resolve(session);
    });
    session.once('error', reject);
  });
}

/** One request on an h2 session; `headers` may set `:method`, `:authority` and any field. */
export function h2Request(session: ClientHttp2Session, path: string, headers: Record<string, string> = {}, body?: string): Promise<H2Result> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: H2Headers = {};
    stream.on('response', (h) => (head = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks).toString('utf8') }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (curl, openssl) without blocking the event loop the edge under test runs on. */
export function run(command: string, args: string[], input = ''): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

/** Writes `pem` to a file in `dir` (curl and openssl read the CA from a file). */
export async function pemFile(dir: string, name: string, pem: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, pem);
  return file;
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
  /** The loopback address to connect from (another client, as the edge sees it). */
  localAddress?: string;
  /** Asks to keep the connection open, as browsers do (the default asks to close it); it is closed once the answer is read. */
  keepAlive?: boolean;
}

export function http(base: string, pathname: string, options: HttpOptions = {}): Promise<HttpResult> {
  const url = new URL(base);
  const raw: string[] = [];
  if (!options.noHost) for (const h of [options.host ?? url.host].flat()) raw.push('Host', h);
  for (const [k, v] of Object.entries(options.headers ?? {})) raw.push(k, v);
  if (options.body !== undefined) raw.push('Content-Length', String(Buffer.byteLength(options.body)));
  const agent = options.keepAlive === true ? new Agent({ keepAlive: true }) : false;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'GET',
        path: options.target ?? pathname,
        headers: raw as unknown as OutgoingHttpHeaders,
        setHost: false,
        agent,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (agent !== false) agent.destroy();
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
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

/** A scripted origin answering every request `origin <target>`, cacheable for a minute. */
export function cacheableOrigin(): Promise<ScriptedOrigin> {
  return startScriptedOrigin((req, res) => {
    res.writeHead(200, { 'cache-control': 'public, max-age=60', 'content-type': 'text/plain' });
    res.end(`origin ${req.url}`);
  });
}

/** A port where nothing listens. */
/**
 * A loopback port nothing listens on, and nothing started with port 0 will take later: one
 * below the kernel's range for ephemeral ports (what port 0 hands out), free when checked. A
 * port from that range, freed again, went to the next server a test started (an edge's admin
 * port once answered for a "dead" origin). Falls back to a freed ephemeral port only when the
 * range starts too low to leave room.
 */
export async function closedPort(): Promise<number> {
  const [low] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '')).trim().split(/\s+/).map(Number);
  const below = low !== undefined && Number.isInteger(low) && low > 20_000 ? low : undefined;
  for (let attempt = 0; below !== undefined && attempt < 50; attempt += 1) {
    const port = 10_000 + Math.floor(Math.random() * (below - 10_000));
    if ((await listenOnce(port)) !== undefined) return port;
  }
  const port = await listenOnce(0);
  if (port === undefined) throw new Error('no free loopback port');
  return port;
}

/** Listens on `port` (0: any) and closes again; the port, or undefined when it was taken. */
async function listenOnce(port: number): Promise<number | undefined> {
  const server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!bound) return undefined;
  const { port: got } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return got;
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
