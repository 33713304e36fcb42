import type { QueryStringMode } from '../../core/customer.types';

/**
 * What the customer service accepts: plain objects, independent of GraphQL, so the same
 * service serves the resolvers, the demo seeding and tests.
 */
export interface BasicAuthCommand {
  username: string;
  password: string;
}

export interface QueryStringCommand {
  mode: QueryStringMode;
  /** Only with `allowlist`. */
  allow?: string[] | null;
}

/** Strict-Transport-Security for the customer's HTTPS answers. */
export interface HstsCommand {
  /** Seconds, 0 to HSTS_MAX_AGE_MAX (two years). */
  maxAge: number;
  /** Absent: false. */
  includeSubDomains?: boolean | null;
  /** Absent: false. Needs maxAge of one year or more and includeSubDomains. */
  preload?: boolean | null;
}

export interface CreateCustomerCommand {
  id: string;
  name: string;
  originUrl: string;
  domains: string[];
  /** Defaults to CACHE_TTL_DEFAULT. */
  cacheTtl?: number;
  basicAuth?: BasicAuthCommand | null;
  /** null or absent: no quota of its own. */
  cacheQuotaBytes?: number | null;
  /** null or absent: off. */
  staleIfErrorSeconds?: number | null;
  /** null or absent: keep. */
  queryString?: QueryStringCommand | null;
  /** true: always redirect plain HTTP to HTTPS, false: never; null or absent: once a valid certificate covers the host. */
  httpsRedirect?: boolean | null;
  /** null or absent: no HSTS. */
  hsts?: HstsCommand | null;
  /** Media types compressed beyond the edge's built-in list; absent: none. */
  compressTypes?: string[] | null;
}

/**
 * Absent (undefined) keeps a field. `basicAuth: null` removes Basic Auth and
 * `cacheQuotaBytes: null` the quota, `staleIfErrorSeconds: null` turns it off,
 * `httpsRedirect: null` restores the default, `hsts: null` removes HSTS; null elsewhere is an error.
 */
export interface UpdateCustomerCommand {
  name?: string | null;
  originUrl?: string | null;
  domains?: string[] | null;
  cacheTtl?: number | null;
  basicAuth?: BasicAuthCommand | null;
  cacheQuotaBytes?: number | null;
  /** null turns it off. */
  staleIfErrorSeconds?: number | null;
  /** Replaces the whole policy. */
  queryString?: QueryStringCommand | null;
  /** null: the default (redirect once a valid certificate covers the host). */
  httpsRedirect?: boolean | null;
  /** Replaces the whole policy; null removes HSTS. */
  hsts?: HstsCommand | null;
  /** Replaces the whole list. */
  compressTypes?: string[] | null;
}

export interface PageRequest {
  first?: number;
  after?: string | null;
}
