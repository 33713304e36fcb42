/**
 * The edge role's configuration: read once from the environment, every problem listed
 * in one error, returned frozen. Nothing else in src/edge reads process.env.
 */
import { SIGNED_URL_LEEWAY_SECONDS_DEFAULT } from '../core/signed-url';
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LevelWithSilent } from 'pino';
import { EnvReader, type Env } from '../core/env.reader';
import { EDGE_ROLES, type EdgeRole } from '../core/fleet.port';
import { MINUTE_TOP_PATHS_MAX } from '../core/stats.port';
import { readRedisTarget, type RedisTarget, type RedisVariables } from '../core/redis-target';
import { SECRET_KEY_MIN_LENGTH } from '../core/secret-box';
import { LOG_LEVELS } from '../obs/logger.factory';

export const MAX_OBJECT_BYTES_DEFAULT = 100 * 1024 * 1024;
export const CACHE_MAX_BYTES_DEFAULT = 10 * 1024 ** 3;
export const MEMORY_BYTES_DEFAULT = 256 * 1024 * 1024;
export const MEMORY_MAX_OBJECT_BYTES_DEFAULT = 1024 * 1024;
export const MAX_URL_BYTES_DEFAULT = 8 * 1024;
export const MAX_HEADER_BYTES_DEFAULT = 16 * 1024;
export const MAX_BODY_BYTES_DEFAULT = 10 * 1024 * 1024;
export const CLIENT_TIMEOUT_MS_DEFAULT = 10_000;
/** A request body may pause this long, no longer (client-limits.ts): far below the origin timeout, so a slow upload frees its origin connection soon. */
export const BODY_TIMEOUT_MS_DEFAULT = 5_000;
export const KEEPALIVE_TIMEOUT_MS_DEFAULT = 15_000;
/** Open client connections per edge process (issue 17: 100,000 on one edge); more are closed at once. */
export const MAX_CONNECTIONS_DEFAULT = 100_000;
export const HEARTBEAT_MS_DEFAULT = 2_000;
/** Paths per customer per minute: the top 10 of a skewed workload come out exact (test/unit/top-k.test.ts), memory stays small (about 64 × 150 bytes per customer with traffic that minute). */
export const TOP_URLS_DEFAULT = 64;
/** A shield behind the asking edge's changes waits this long for them before it goes to the origin. */
export const SHIELD_SEQ_WAIT_MS_DEFAULT = 1_000;
export const MAX_DETACHED_SECONDS_DEFAULT = 30;
export const STATS_INTERVAL_MS_DEFAULT = 1_000;
/** Access log files are deleted this long after their hour ended (a week). */
export const LOG_RETENTION_HOURS_DEFAULT = 168;
/** Access log lines waiting for the disk per process (8 MiB: tens of thousands of lines, seconds of a busy edge). */
export const LOG_BUFFER_BYTES_DEFAULT = 8 * 1024 * 1024;
/** Records sent to live tails per customer per second per edge process; the rest are counted as skipped. */
export const LOG_TAIL_PER_SECOND_DEFAULT = 100;
/** Measured: 32 handles take a burst of 1,000 connections in well under a second on a busy edge (docs/BENCHMARKS.md). */
export const ACCEPT_HANDLES_DEFAULT = 32;
export const TLS_PORT_DEFAULT = 8443;
/**
 * Compression (docs/EDGE.md, "Compression"). Below 256 bytes a coding's own header and the
 * client's work outweigh what it saves. Above 8 MiB a body is sent as stored: each copy is made
 * in one piece in memory, and brotli at quality 5 takes ~0.1 s of a thread-pool thread per 8 MiB.
 */
export const COMPRESS_MIN_BYTES_DEFAULT = 256;
export const COMPRESS_MAX_BYTES_DEFAULT = 8 * 1024 * 1024;
/**
 * Brotli 5, measured on a CDN's kinds of text (bench/compression-levels.js; docs/BENCHMARKS.md,
 * "Compression"): the knee of the curve. 34.3 % of the original at ~75 MiB/s, 14 % smaller
 * than gzip -6 and faster; 6 and 7 gain 0.1–0.2 points for 10–35 % more CPU, 9 and 11 gain
 * 0.4–1.7 points for 30–120 times the CPU. A copy is made once per stored object, but a cold
 * cache makes many at once and every miss whose client wants it encodes one more while it streams.
 */
export const COMPRESS_BROTLI_QUALITY_DEFAULT = 5;
export const COMPRESS_GZIP_LEVEL_DEFAULT = 6;
/** HTTPS's own port: redirects to it name no port. */
export const TLS_PUBLIC_PORT_DEFAULT = 443;
/**
 * Cache warming (docs/EDGE.md, "Cache warming"): 4 requests in flight take at most 4 of the
 * 64 connections an origin's pool has for fills, and 20 a second per origin is a fraction of
 * what an origin that a CDN fronts already serves, so a warm never crowds out clients.
 */
export const WARM_CONCURRENCY_DEFAULT = 4;
export const WARM_RATE_PER_SECOND_DEFAULT = 20;
/**
 * Origins (docs/EDGE.md, "Origins"). 32 concurrent origin requests per customer per process:
 * half an origin pool's 64 connections, so one customer's flood of misses leaves a shared
 * origin host room for the others. A queued miss waits 2 s at most: past that the client is
 * better told (503, Retry-After) than held.
 */
export const ORIGIN_CUSTOMER_CONNECTIONS_DEFAULT = 32;
export const ORIGIN_QUEUE_TIMEOUT_MS_DEFAULT = 2_000;
/** Retries at most 10 % of origin requests (plus a floor of 3 per 10 s: a quiet site still fails over). */
export const ORIGIN_RETRY_BUDGET_PERCENT_DEFAULT = 10;
export const ORIGIN_MIN_RETRIES_DEFAULT = 3;
/**
 * An hour of stale objects when every origin of a customer is down: long enough to ride out
 * a typical outage or deploy gone wrong, short enough that a site gone for good stops
 * showing its old pages within the hour. A customer's staleIfDownSeconds replaces it (0: off).
 */
export const ORIGIN_STALE_IF_DOWN_SECONDS_DEFAULT = 3600;
/** Failed requests in a row that take down an origin with no health check of its own (Envoy's consecutive_5xx default). */
export const ORIGIN_UNHEALTHY_THRESHOLD_DEFAULT = 5;
/** A down origin gets no request for this long; then one trial request may go. */
export const ORIGIN_COOLDOWN_MS_DEFAULT = 10_000;

export interface EdgeConfig {
  /** Public port: every customer domain. */
  host: string;
  port: number;
  /**
   * HTTPS port (TLS 1.2/1.3, ALPN h2 and http/1.1): every customer domain with a certificate,
   * chosen by SNI (edge/tls). undefined: no TLS listener (CDN_EDGE_TLS_PORT=off).
   */
  tlsHost: string;
  tlsPort: number | undefined;
  /**
   * The port clients reach HTTPS on, for the redirects of plain HTTP (308 to https://host[:port]):
   * 443 (the default) is left out of the URL. Set it when the TLS port is published as is,
   * e.g. 8443 without a load balancer or NAT mapping 443 to it.
   */
  tlsPublicPort: number;
  /** Admin port: /healthz, /readyz, /metrics; never reachable through a customer domain. */
  adminHost: string;
  adminPort: number;
  /** Where Redis is (one server, Sentinel or Cluster); absent means the caller wires another customer feed. */
  redis: RedisTarget | undefined;
  /** REDIS_URL as given; undefined under Sentinel or Cluster. Adapters connect by `redis`. */
  redisUrl: string | undefined;
  redisPrefix: string;
  /** Absolute. Holds the last-known-good snapshot. */
  dataDir: string;
  /** Absolute. One folder per customer. */
  cacheDir: string;
  /** Opens the origin Basic Auth passwords sealed by the api (same key everywhere). */
  secretKey: string;
  /** Lets origins resolve to loopback/private addresses (local demos and tests). */
  allowPrivateOrigins: boolean;
  edgeId: string;
  /** How often this edge reports itself to the api (fleet heartbeat); it counts as gone after 3 missed beats. */
  heartbeatMs: number;
  /** Longer without reaching the change bus and /readyz fails (a load balancer drains the edge). */
  maxDetachedSeconds: number;
  /** Connect, headers and body timeouts towards origins. */
  originTimeoutMs: number;
  /** Larger responses are served but not stored. */
  maxObjectBytes: number;
  /** Bytes of bodies on disk, all customers together (least recently used out first). */
  cacheMaxBytes: number;
  /** The in-process memory tier, in bytes (per process). */
  memoryBytes: number;
  /** Larger bodies are served from disk only. */
  memoryMaxObjectBytes: number;
  logLevel: LevelWithSilent;
  /** Share of client requests that get a `request` log line (0..1; 1: every one). */
  logSample: number;
  /** How often this edge publishes its per-customer traffic over the stats channel. */
  statsIntervalMs: number;
  /** Access logs (docs/EDGE.md "Access logs"): CDN_LOG_DIR (absolute; undefined: no export files), their retention, the live tail's records per second. */
  accessLog: AccessLogConfig;
  /** Worker processes serving the public port (node:cluster); 1 serves in this process. */
  workers: number;
  /** Listening sockets on the public port per edge process or cluster worker (edge/accept.handles.ts); 1: just the server's own. */
  acceptHandles: number;
  /** Longer request targets get 414. */
  maxUrlBytes: number;
  /** Request line plus header fields; larger get 431. */
  maxHeaderBytes: number;
  /** Request bodies (passed to the origin) larger than this get 413. */
  maxBodyBytes: number;
  /** A client must send its whole request head within this time (slowloris). */
  clientTimeoutMs: number;
  /** A request body must keep arriving: a longer pause between two of its chunks gets 408 (slow uploads). */
  bodyTimeoutMs: number;
  /** An idle keep-alive client connection is closed after this time. */
  keepAliveTimeoutMs: number;
  /** Open client connections per process (each worker its own); a connection beyond it is closed as soon as accepted. */
  maxConnections: number;
  /** This CDN's name in CDN-Loop (RFC 8586): sent to origins; a request already carrying it is refused (508). */
  cdnId: string;
  /** Brotli and gzip at the edge (CDN_EDGE_COMPRESS and its limits; pipeline/compression.rules.ts). */
  compression: CompressionConfig;
  /** Seconds a signed URL is still accepted past its expiry: the signer's and the edge's clocks may differ. */
  signedUrlLeewaySeconds: number;
  /** Cache warming: requests in flight at once (all warms) and started per second per origin (edge/warm). */
  warm: WarmConfig;
  /** Several origins per customer: defaults of the customers' origin policy, health and trust (edge/origin). */
  origins: OriginsConfig;
  /** Origin shields (edge/shield, docs/EDGE.md "Origin shield"). */
  shield: ShieldConfig;
  /** CDN_EDGE_TOP_URLS: paths counted per customer per minute for the api's top URLs (a Space-Saving summary); 0: none. */
  topUrls: number;
}

export interface AccessLogConfig {
  dir: string | undefined;
  retentionHours: number;
  /** Lines waiting for the disk, per process, at most (about bytes); past it lines are dropped and counted. */
  bufferBytes: number;
  tailPerSecond: number;
}

export interface ShieldConfig {
  /** CDN_EDGE_ROLE: `shield` caches for the other edges (their misses come here); `edge` (default) sends its misses to the live shields. */
  role: EdgeRole;
  /** CDN_EDGE_SHIELD_URL: where other edges reach this shield's public port; undefined: `http://<CDN_EDGE_HOST>:<port>` once listening. */
  url: string | undefined;
  /** CDN_EDGE_SHIELDS=off: this edge never sends misses to shields, even when some are live. */
  use: boolean;
  /** How long a shield waits for a change the asking edge has already applied before it answers from the origin instead of its cache. */
  seqWaitMs: number;
}

export interface OriginsConfig {
  /** Concurrent origin requests per customer per process (the customer's maxConnections replaces it). */
  customerConnections: number;
  /** Most a request waits for one of those (the customer's queueTimeoutMs replaces it). */
  queueTimeoutMs: number;
  /** Retries may be this share of a customer's origin requests, in percent (the customer's retryBudgetPercent replaces it). */
  retryBudgetPercent: number;
  /** Retries always allowed per customer per 10 s on top of that share (none when the share is 0). */
  minRetries: number;
  /** Seconds past freshness a stored object may answer when every origin is down (the customer's staleIfDownSeconds replaces it). */
  staleIfDownSeconds: number;
  /** Failed requests in a row that take down an origin without a health check of its own. */
  unhealthyThreshold: number;
  /** How long a down origin is left alone before one trial request. */
  cooldownMs: number;
  /** PEM file of certificate authorities trusted for https origins besides Node's own list; undefined: none. */
  caFile: string | undefined;
}

export interface WarmConfig {
  concurrency: number;
  ratePerSecond: number;
}

export interface CompressionConfig {
  /** CDN_EDGE_COMPRESS: false, bodies are sent as stored (no encoding, no decoding). */
  enabled: boolean;
  minBytes: number;
  maxBytes: number;
  brotliQuality: number;
  gzipLevel: number;
}

/** Where Redis is: the same variables as the api's (rules in core/redis-target.ts). */
const redisVariables: RedisVariables = {
  url: 'REDIS_URL',
  sentinels: 'REDIS_SENTINELS',
  sentinelMaster: 'REDIS_SENTINEL_MASTER',
  sentinelPassword: 'REDIS_SENTINEL_PASSWORD',
  clusterNodes: 'REDIS_CLUSTER_NODES',
  username: 'REDIS_USERNAME',
  password: 'REDIS_PASSWORD',
  prefix: 'CDN_REDIS_PREFIX',
};

export function loadEdgeConfig(env: Env, cwd: string = process.cwd()): Readonly<EdgeConfig> {
  const r = new EnvReader(env);
  const redis = readRedisTarget(r, redisVariables);
  const secretKey = r.string('CDN_SECRET_KEY');
  if (secretKey === undefined) {
    r.problem('CDN_SECRET_KEY', `is required: a secret of at least ${SECRET_KEY_MIN_LENGTH} characters, the same on every api and edge`);
  } else if (secretKey.length < SECRET_KEY_MIN_LENGTH) {
    r.problem('CDN_SECRET_KEY', `must be at least ${SECRET_KEY_MIN_LENGTH} characters (got ${secretKey.length})`);
  }
  const dataDir = path.resolve(cwd, r.string('CDN_DATA_DIR', './.data'));
  const cacheDirRaw = r.string('CDN_CACHE_DIR');
  const host = r.string('CDN_EDGE_HOST', '127.0.0.1');
  const config: EdgeConfig = {
    host,
    port: r.port('CDN_EDGE_PORT', 8080),
    tlsHost: r.string('CDN_EDGE_TLS_HOST', host),
    tlsPort: readTlsPort(r),
    tlsPublicPort: r.int('CDN_EDGE_TLS_PUBLIC_PORT', TLS_PUBLIC_PORT_DEFAULT, 1, 65535),
    adminHost: r.string('CDN_EDGE_ADMIN_HOST', '127.0.0.1'),
    adminPort: r.port('CDN_EDGE_ADMIN_PORT', 8081),
    redis: redis.target,
    redisUrl: redis.target?.mode === 'server' ? redis.target.url : undefined,
    redisPrefix: redis.prefix,
    dataDir,
    cacheDir: cacheDirRaw === undefined ? path.join(dataDir, 'cache') : path.resolve(cwd, cacheDirRaw),
    secretKey: secretKey ?? '',
    allowPrivateOrigins: r.bool('CDN_ALLOW_PRIVATE_ORIGINS', false),
    edgeId: r.string('CDN_EDGE_ID', `${os.hostname()}-${process.pid}`),
    heartbeatMs: r.int('CDN_EDGE_HEARTBEAT_MS', HEARTBEAT_MS_DEFAULT, 100, 60_000),
    maxDetachedSeconds: r.int('CDN_EDGE_MAX_DETACHED_SECONDS', MAX_DETACHED_SECONDS_DEFAULT, 1, 86_400),
    originTimeoutMs: r.int('CDN_ORIGIN_TIMEOUT_MS', 30_000, 1, 600_000),
    maxObjectBytes: r.int('CDN_EDGE_MAX_OBJECT_BYTES', MAX_OBJECT_BYTES_DEFAULT, 0, Number.MAX_SAFE_INTEGER),
    cacheMaxBytes: r.int('CDN_CACHE_MAX_BYTES', CACHE_MAX_BYTES_DEFAULT, 0, Number.MAX_SAFE_INTEGER),
    memoryBytes: r.int('CDN_EDGE_MEMORY_BYTES', MEMORY_BYTES_DEFAULT, 0, Number.MAX_SAFE_INTEGER),
    memoryMaxObjectBytes: r.int('CDN_EDGE_MEMORY_MAX_OBJECT_BYTES', MEMORY_MAX_OBJECT_BYTES_DEFAULT, 0, Number.MAX_SAFE_INTEGER),
    logLevel: r.oneOf('CDN_LOG_LEVEL', LOG_LEVELS, 'info'),
    logSample: readShare(r, 'CDN_EDGE_LOG_SAMPLE', 1),
    statsIntervalMs: r.int('CDN_EDGE_STATS_INTERVAL_MS', STATS_INTERVAL_MS_DEFAULT, 100, 60_000),
    accessLog: Object.freeze({
      dir: readDir(r, 'CDN_LOG_DIR', cwd),
      retentionHours: r.int('CDN_LOG_RETENTION_HOURS', LOG_RETENTION_HOURS_DEFAULT, 1, 24 * 3660),
      bufferBytes: r.int('CDN_LOG_BUFFER_BYTES', LOG_BUFFER_BYTES_DEFAULT, 1024, 1024 * 1024 * 1024),
      tailPerSecond: r.int('CDN_EDGE_LOG_TAIL_PER_SECOND', LOG_TAIL_PER_SECOND_DEFAULT, 1, 10_000),
    }),
    workers: r.int('CDN_EDGE_WORKERS', os.availableParallelism(), 1, 256),
    acceptHandles: r.int('CDN_EDGE_ACCEPT_HANDLES', ACCEPT_HANDLES_DEFAULT, 1, 256),
    maxUrlBytes: r.int('CDN_EDGE_MAX_URL_BYTES', MAX_URL_BYTES_DEFAULT, 256, 1024 * 1024),
    maxHeaderBytes: r.int('CDN_EDGE_MAX_HEADER_BYTES', MAX_HEADER_BYTES_DEFAULT, 1024, 1024 * 1024),
    maxBodyBytes: r.int('CDN_EDGE_MAX_BODY_BYTES', MAX_BODY_BYTES_DEFAULT, 0, Number.MAX_SAFE_INTEGER),
    clientTimeoutMs: r.int('CDN_EDGE_CLIENT_TIMEOUT_MS', CLIENT_TIMEOUT_MS_DEFAULT, 100, 600_000),
    bodyTimeoutMs: r.int('CDN_EDGE_BODY_TIMEOUT_MS', BODY_TIMEOUT_MS_DEFAULT, 100, 600_000),
    keepAliveTimeoutMs: r.int('CDN_EDGE_KEEPALIVE_TIMEOUT_MS', KEEPALIVE_TIMEOUT_MS_DEFAULT, 100, 600_000),
    maxConnections: r.int('CDN_EDGE_MAX_CONNECTIONS', MAX_CONNECTIONS_DEFAULT, 1, 16_777_216),
    cdnId: r.string('CDN_EDGE_CDN_ID', 'edgeplane'),
    signedUrlLeewaySeconds: r.int('CDN_EDGE_SIGNED_URL_LEEWAY_SECONDS', SIGNED_URL_LEEWAY_SECONDS_DEFAULT, 0, 3600),
    warm: Object.freeze({
      concurrency: r.int('CDN_EDGE_WARM_CONCURRENCY', WARM_CONCURRENCY_DEFAULT, 1, 64),
      ratePerSecond: r.int('CDN_EDGE_WARM_RATE_PER_SECOND', WARM_RATE_PER_SECOND_DEFAULT, 1, 1000),
    }),
    origins: Object.freeze({
      customerConnections: r.int('CDN_EDGE_ORIGIN_CUSTOMER_CONNECTIONS', ORIGIN_CUSTOMER_CONNECTIONS_DEFAULT, 1, 10_000),
      queueTimeoutMs: r.int('CDN_EDGE_ORIGIN_QUEUE_TIMEOUT_MS', ORIGIN_QUEUE_TIMEOUT_MS_DEFAULT, 0, 60_000),
      retryBudgetPercent: r.int('CDN_EDGE_ORIGIN_RETRY_BUDGET_PERCENT', ORIGIN_RETRY_BUDGET_PERCENT_DEFAULT, 0, 100),
      minRetries: r.int('CDN_EDGE_ORIGIN_MIN_RETRIES', ORIGIN_MIN_RETRIES_DEFAULT, 0, 1000),
      staleIfDownSeconds: r.int('CDN_EDGE_ORIGIN_STALE_IF_DOWN_SECONDS', ORIGIN_STALE_IF_DOWN_SECONDS_DEFAULT, 0, 7 * 24 * 3600),
      unhealthyThreshold: r.int('CDN_EDGE_ORIGIN_UNHEALTHY_THRESHOLD', ORIGIN_UNHEALTHY_THRESHOLD_DEFAULT, 1, 100),
      cooldownMs: r.int('CDN_EDGE_ORIGIN_COOLDOWN_MS', ORIGIN_COOLDOWN_MS_DEFAULT, 100, 3_600_000),
      caFile: readFile(r, 'CDN_EDGE_ORIGIN_CA_FILE', cwd),
    }),
    topUrls: r.int('CDN_EDGE_TOP_URLS', TOP_URLS_DEFAULT, 0, MINUTE_TOP_PATHS_MAX),
    shield: Object.freeze({
      role: r.oneOf('CDN_EDGE_ROLE', EDGE_ROLES, 'edge'),
      url: r.string('CDN_EDGE_SHIELD_URL'),
      use: r.bool('CDN_EDGE_SHIELDS', true),
      seqWaitMs: r.int('CDN_EDGE_SHIELD_SEQ_WAIT_MS', SHIELD_SEQ_WAIT_MS_DEFAULT, 0, 60_000),
    }),
    compression: Object.freeze({
      enabled: r.bool('CDN_EDGE_COMPRESS', true),
      minBytes: r.int('CDN_EDGE_COMPRESS_MIN_BYTES', COMPRESS_MIN_BYTES_DEFAULT, 0, Number.MAX_SAFE_INTEGER),
      maxBytes: r.int('CDN_EDGE_COMPRESS_MAX_BYTES', COMPRESS_MAX_BYTES_DEFAULT, 0, 1024 * 1024 * 1024),
      brotliQuality: r.int('CDN_EDGE_COMPRESS_BROTLI_QUALITY', COMPRESS_BROTLI_QUALITY_DEFAULT, 0, 11),
      gzipLevel: r.int('CDN_EDGE_COMPRESS_GZIP_LEVEL', COMPRESS_GZIP_LEVEL_DEFAULT, 1, 9),
    }),
  };
  if (config.compression.minBytes > config.compression.maxBytes) {
    r.problem('CDN_EDGE_COMPRESS_MIN_BYTES', `must not be above CDN_EDGE_COMPRESS_MAX_BYTES (${config.compression.maxBytes}): no body could be compressed`);
  }
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}(?::\d{1,5})?$/.test(config.cdnId)) {
    r.problem('CDN_EDGE_CDN_ID', 'must be a token (letters, digits, -._~ and the like; at most 64) or host:port, as CDN-Loop (RFC 8586) allows');
  }
  const shieldUrl = config.shield.url;
  if (shieldUrl !== undefined && !/^https?:\/\/[^\s/?#]+$/.test(shieldUrl)) {
    r.problem('CDN_EDGE_SHIELD_URL', `must be http(s)://host:port without a path (where other edges reach this shield's public port), got "${shieldUrl}"`);
  }
  if (config.shield.role === 'shield' && shieldUrl === undefined && (host === '0.0.0.0' || host === '::')) {
    r.problem('CDN_EDGE_SHIELD_URL', `is required with CDN_EDGE_ROLE=shield when CDN_EDGE_HOST is a wildcard (${host}): give the address other edges reach this shield at, e.g. http://shield-1.internal:8080`);
  }
  if (config.maxUrlBytes >= config.maxHeaderBytes) {
    // Node counts the request line towards the header limit: a longer limit would answer 431, never 414.
    r.problem('CDN_EDGE_MAX_URL_BYTES', `must be smaller than CDN_EDGE_MAX_HEADER_BYTES (${config.maxHeaderBytes}): the request line counts towards the header limit`);
  }
  const ports = [config.port, config.adminPort];
  if (ports[0] !== 0 && ports[0] === ports[1] && config.host === config.adminHost) {
    r.problem('CDN_EDGE_ADMIN_PORT', `must differ from CDN_EDGE_PORT (${config.port}): the admin endpoints must not be reachable through customer domains`);
  }
  if (config.tlsPort !== undefined && config.tlsPort !== 0) {
    if (config.tlsPort === config.port && config.tlsHost === config.host) {
      r.problem('CDN_EDGE_TLS_PORT', `must differ from CDN_EDGE_PORT (${config.port}): plain HTTP and HTTPS need a port each`);
    }
    if (config.tlsPort === config.adminPort && config.tlsHost === config.adminHost) {
      r.problem('CDN_EDGE_TLS_PORT', `must differ from CDN_EDGE_ADMIN_PORT (${config.adminPort}): the admin endpoints must not be reachable through customer domains`);
    }
  }
  return r.finish('edge', config);
}

/** CDN_EDGE_TLS_PORT: a port (0: a free one), or `off` for no TLS listener. */
function readTlsPort(r: EnvReader): number | undefined {
  const raw = r.string('CDN_EDGE_TLS_PORT');
  if (raw === undefined) return TLS_PORT_DEFAULT;
  if (raw.toLowerCase() === 'off') return undefined;
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || n > 65535) {
    r.problem('CDN_EDGE_TLS_PORT', `must be a port from 0 to 65535 (0: a free one) or "off" (no HTTPS listener), got "${raw}"`);
    return TLS_PORT_DEFAULT;
  }
  return n;
}

/** A file path, absolute (relative to `cwd`), that must exist and be readable; undefined when unset. */
function readFile(r: EnvReader, name: string, cwd: string): string | undefined {
  const raw = r.string(name);
  if (raw === undefined || raw === '') return undefined;
  const file = path.resolve(cwd, raw);
  try {
    accessSync(file, constants.R_OK);
  } catch {
    r.problem(name, `names ${file}, which cannot be read: give the path of a PEM file of CA certificates, or leave it unset`);
  }
  return file;
}

/** A share from 0 to 1 (a decimal such as 0.05). */
/** A folder given by `name` (resolved against cwd; made at the first write), or undefined when unset or empty. */
function readDir(r: EnvReader, name: string, cwd: string): string | undefined {
  const raw = r.string(name);
  return raw === undefined || raw.trim() === '' ? undefined : path.resolve(cwd, raw);
}

function readShare(r: EnvReader, name: string, fallback: number): number {
  const raw = r.string(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^[0-9.eE+-]+$/.test(raw) || !Number.isFinite(n) || n < 0 || n > 1) {
    r.problem(name, `must be a number from 0 to 1 (the share of requests logged, e.g. 0.1), got "${raw}"`);
    return fallback;
  }
  return n;
}
