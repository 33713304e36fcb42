/**
 * A customer's origins: one or more, each with a priority and a weight, health-checked by
 * every edge (actively and from its own traffic), so a failing origin is left out until it
 * recovers. They travel inside the customer's CustomerConfig (`origins`, `originPolicy`), so an
 * edge receives origins and domains in one event. `originUrl` and `basicAuth` on the customer
 * stay, as the preferred origin (the first of `origins` in preference order): what older
 * readers and updateCustomer know; the edges use `origins` when present.
 *
 * Selection (edge): the healthy origins of the lowest `priority` number, weighted by `weight`;
 * an idempotent request that fails (connection error, timeout, 5xx) is retried once on
 * another origin, within a retry budget; a request whose body was sent is never retried.
 */

/** Basic Auth the edge sends to an origin; the password as `secret-box` ciphertext (see secret-box.ts). */
export interface OriginBasicAuth {
  username: string;
  /** `secret-box` ciphertext of the password. */
  passwordCiphertext: string;
}

export interface OriginConfig {
  /** Unique within the customer: `[a-z0-9][a-z0-9-]*`, at most 63 characters. Names the origin in health reports, metrics and events. */
  name: string;
  /** http(s) URL without credentials, query or fragment; a path, if any, prefixes every origin request. */
  url: string;
  basicAuth: OriginBasicAuth | null;
  /** 1 (most preferred) to 100: only the healthy origins of the lowest number get requests. */
  priority: number;
  /** 1 to 1000: the share of requests among the healthy origins of one priority. */
  weight: number;
  /** The Host header the origin gets; null: the URL's authority. */
  hostHeader: string | null;
  /** The TLS server name (SNI) for an https origin; null: the host of hostHeader, else of the URL. */
  tlsServerName: string | null;
  /** Active health checks; null: only passive ones (the edge's own requests). */
  healthCheck: HealthCheckConfig | null;
}

export interface HealthCheckConfig {
  /** Path (and query) asked with GET, starting with "/". */
  path: string;
  /** Seconds between two checks by one edge (spread: each edge starts at a random offset), 1 to 3600. */
  intervalSeconds: number;
  /** Milliseconds a check may take, 100 to 60000. */
  timeoutMs: number;
  /** Statuses that count as healthy: from `expectedStatusMin` to `expectedStatusMax`, inclusive. */
  expectedStatusMin: number;
  expectedStatusMax: number;
  /** Consecutive successes that bring a down origin back, 1 to 100. */
  healthyThreshold: number;
  /** Consecutive failures (active or passive) that take an origin down, 1 to 100. */
  unhealthyThreshold: number;
}

/** How the customer's origins are used; null fields take the edge's defaults. */
export interface OriginPolicy {
  /** Concurrent origin requests of this customer on one edge process (1 to 10000); beyond, misses queue. */
  maxConnections: number | null;
  /** Milliseconds a request waits in that queue before a 503 (0 to 60000). */
  queueTimeoutMs: number | null;
  /** Retries may be at most this share of origin requests, in percent (0 to 100; 0: never retry). */
  retryBudgetPercent: number | null;
  /**
   * Seconds past freshness a stored object may answer when every origin is down (as
   * stale-if-error, marked X-Cache: STALE), 0 to one week; 0 turns it off.
   */
  staleIfDownSeconds: number | null;
}

/** Origin health as one edge sees it. */
export type OriginState = 'up' | 'down';

export const ORIGINS_MAX = 16;
export const ORIGIN_NAME_MAX = 63;
export const ORIGIN_PRIORITY_MAX = 100;
export const ORIGIN_WEIGHT_MAX = 1000;
/** The name of the origin a customer had before several were possible (migration 1795620000000). */
export const PRIMARY_ORIGIN_NAME = 'primary';

export const HEALTH_CHECK_DEFAULTS: Readonly<Omit<HealthCheckConfig, 'path'>> = Object.freeze({
  intervalSeconds: 10,
  timeoutMs: 2000,
  expectedStatusMin: 200,
  expectedStatusMax: 399,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
});
