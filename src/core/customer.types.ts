/**
 * What every process knows about a customer (customer). This is the shape that travels
 * over the change bus and sits in the snapshot, so it is JSON-safe and versioned by the
 * events that carry it. The Basic Auth password stays encrypted (see secret-box.ts):
 * only a process holding CDN_SECRET_KEY can read it, so Redis never holds it in clear.
 */
import type { DeliveryRule, SigningKeyConfig } from './delivery-rules.types';
import type { OriginBasicAuth, OriginConfig, OriginPolicy } from './origin.types';
import type { CustomerTls } from './tls.types';

export type { OriginBasicAuth } from './origin.types';

export interface CustomerConfig {
  /** Slug, `[a-z0-9][a-z0-9-]*`, at most 63 characters. Starts every cache key. */
  id: string;
  name: string;
  /**
   * http(s) URL without credentials; a path, if any, prefixes every origin request. With
   * `origins`, the preferred one's (the first of `origins`), kept for readers that know one.
   */
  originUrl: string;
  /** Lower-cased hostnames, unique across all customers. */
  domains: string[];
  /** Seconds an object is fresh when the origin gives no freshness of its own. */
  cacheTtl: number;
  basicAuth: OriginBasicAuth | null;
  /**
   * Most bytes this customer's objects may take on one edge's disk; least recently used
   * objects are evicted beyond it. null or absent: only the edge's global cap applies.
   */
  cacheQuotaBytes?: number | null;
  /**
   * Seconds past freshness a stored object may still answer for a failing origin (down,
   * 5xx, timeout) even when the origin's stale-if-error allows less or nothing; never for
   * must-revalidate, proxy-revalidate, no-cache or s-maxage responses. null or absent: off.
   */
  staleIfErrorSeconds?: number | null;
  /** How the query string enters the cache key. Absent: keep it as is. */
  queryString?: QueryStringPolicy;
  /** HTTPS: certificates, redirect, HSTS, ACME challenges (tls.types.ts). Absent: plain HTTP only. */
  tls?: CustomerTls;
  /**
   * Delivery rules, in order (delivery-rules.types.ts), after the implicit `default` rule made
   * of cacheTtl, queryString and staleIfErrorSeconds. Absent or empty: only that one.
   */
  rules?: DeliveryRule[];
  /** Keys for signed URLs (at most two; secrets sealed with CDN_SECRET_KEY). Absent: none. */
  signingKeys?: SigningKeyConfig[];
  /**
   * Media types (`type/subtype`, lower-case) the edge compresses in addition to its built-in
   * list (text, JSON, JavaScript, CSS, SVG, ...). Absent or empty: the built-in list only.
   */
  compressTypes?: string[];
  /**
   * Every origin, in preference order (origin.types.ts): priority, then name. Absent: one
   * origin, `originUrl` with `basicAuth` (a configuration from before several were possible).
   */
  origins?: OriginConfig[];
  /** How the origins are used (connection cap, queue, retry budget, stale when all are down). Absent: the edge's defaults. */
  originPolicy?: OriginPolicy;
  /** Bumped on every change; lets a consumer ignore an older copy. */
  version: number;
  updatedAt: string;
}

/**
 * `keep`: the whole query string is part of the key (sorted by name, so `?a=1&b=2` and
 * `?b=2&a=1` are one object); `ignore`: the query string is not part of the key (nor
 * sent to the origin); `allowlist`: only the parameters named in `allow` are.
 */
export type QueryStringMode = 'keep' | 'ignore' | 'allowlist';

export interface QueryStringPolicy {
  mode: QueryStringMode;
  /** Parameter names kept in `allowlist` mode. */
  allow: string[];
}

export const CACHE_TTL_DEFAULT = 3600;
export const CACHE_TTL_MAX = 365 * 24 * 3600;
export const CUSTOMER_ID_MAX = 63;
export const CUSTOMER_NAME_MAX = 200;
export const ORIGIN_URL_MAX = 2048;
export const DOMAINS_MAX = 100;
/** One week: the most a customer may extend stale-if-error by. */
export const STALE_IF_ERROR_MAX = 7 * 24 * 3600;
