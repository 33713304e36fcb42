/**
 * A customer's delivery rules: an ordered list of (match, actions). They travel inside the
 * customer's CustomerConfig (`rules`), so a change reaches every edge as one event, and every
 * edge compiles them once per change (delivery-rules.compile.ts), never per request.
 *
 * Evaluation: every rule whose match holds applies, in list order. A later rule's value for a
 * single-valued action (a TTL, the query-string policy, the redirect) replaces an earlier one;
 * header operations accumulate in order; access checks accumulate (any one that refuses
 * refuses). The customer's own fields (cacheTtl, queryString, staleIfErrorSeconds) are the
 * implicit first rule, `default`, matching every request (defaultRule in
 * delivery-rules.compile.ts), so a customer without rules behaves as before rules existed.
 *
 * Plain JSON: it is stored in PostgreSQL (jsonb), sent over the bus, kept in the edge's
 * snapshot and accepted from the customers file, and checked by one validator
 * (delivery-rules.rules.ts) on every way in.
 */

export interface DeliveryRule {
  /** Unique within the customer: `[a-z0-9][a-z0-9_-]*`, at most 63 characters; not `default`. Named in every refusal and in explainRequest. */
  name: string;
  /** Absent: every request. */
  match?: RuleMatch;
  actions: RuleActions;
}

/**
 * Every condition given must hold (AND). Within one list condition (pathPrefixes, globs,
 * extensions, methods) any element may match (OR).
 */
export interface RuleMatch {
  /** Path starts with one of these (each starts with "/"; compared on the raw path, case-sensitive). */
  pathPrefixes?: string[];
  /**
   * Path matches one of these globs (each starts with "/"): `*` any run of characters
   * within one segment (not "/"), `**` any run across segments, `?` one character other
   * than "/"; everything else literal.
   */
  globs?: string[];
  /** The last path segment ends with "." and one of these (lower-case, without the dot; compared case-insensitively). */
  extensions?: string[];
  /** Request method is one of these (upper-case tokens). */
  methods?: string[];
  /** Every one of these request header conditions holds. */
  headers?: FieldMatch[];
  /** Every one of these cookie conditions holds. */
  cookies?: FieldMatch[];
  /** Every one of these matches. */
  all?: RuleMatch[];
  /** At least one of these matches. */
  any?: RuleMatch[];
  /** This one does not match. */
  not?: RuleMatch;
}

/** A request header or cookie: present (no `values`), or equal to one of `values` (exact, case-sensitive). */
export interface FieldMatch {
  /** Header names lower-case tokens; cookie names as sent. */
  name: string;
  values?: string[];
}

export interface RuleActions {
  cache?: CacheAction;
  cacheKey?: CacheKeyAction;
  /** Applied in order to the answer the client gets (hits, misses, passes; not the edge's own errors). */
  responseHeaders?: HeaderOp[];
  /** Applied in order to the request the origin gets. */
  originHeaders?: HeaderOp[];
  access?: AccessAction;
  redirect?: RedirectAction;
}

export interface CacheAction {
  /** Never looked up nor stored: straight to the origin (X-Cache: BYPASS). */
  bypass?: boolean;
  /**
   * Freshness at the edge. `override`: this many seconds whatever the origin says about
   * freshness (max-age, s-maxage, Expires); `default`: only when the origin gives none
   * (RFC 9111 heuristic freshness). Neither makes a response storable that the origin
   * forbids (no-store, private, Set-Cookie): a personal answer is never shared.
   */
  edgeTtl?: EdgeTtl;
  /** The Cache-Control clients get: `max-age=N` (0: `no-cache`), replacing the origin's. */
  browserTtl?: number;
  /** Seconds a stale object may be served while one refresh runs (RFC 5861), replacing the origin's. */
  staleWhileRevalidate?: number;
  /** Seconds past freshness a stored object may answer for a failing origin (RFC 5861 stale-if-error). */
  staleIfError?: number;
}

export type EdgeTtlMode = 'override' | 'default';

export interface EdgeTtl {
  seconds: number;
  mode: EdgeTtlMode;
}

export interface CacheKeyAction {
  query?: QueryKeyPolicy;
  /** Request header values (lower-case names) that become part of the key: one object per combination. */
  headers?: string[];
  /** Cookie values that become part of the key. */
  cookies?: string[];
}

/**
 * How the query string enters the key and the origin request: `all` keeps every parameter,
 * `none` drops the query string, `allow` keeps only the named ones, `deny` drops the named
 * ones. A name ending in `*` is a prefix (`utm_*`). Kept parameters are sorted by name.
 * The signed-URL parameters (signed-url.ts) never enter the key nor reach the origin.
 */
export interface QueryKeyPolicy {
  mode: QueryKeyMode;
  names?: string[];
}

export type QueryKeyMode = 'all' | 'none' | 'allow' | 'deny';

export type HeaderOpKind = 'set' | 'append' | 'remove';

export interface HeaderOp {
  op: HeaderOpKind;
  /** Lower-case field name (a token). Hop-by-hop and framing fields are refused by validation. */
  name: string;
  /** For set and append: the value (visible ASCII and spaces only). */
  value?: string;
}

export interface AccessAction {
  /** Always 403. */
  deny?: boolean;
  /** Only clients whose address is inside one of these CIDR blocks (IPv4 or IPv6) are served. */
  allowCidrs?: string[];
  /** Clients inside one of these blocks are refused. */
  denyCidrs?: string[];
  /** Hotlink protection: the Referer's host must be one of these (`*.example.com` for subdomains). */
  referers?: RefererPolicy;
  /** The URL must carry a valid signature by one of the customer's signing keys (signed-url.ts). */
  signedUrl?: boolean;
  /** Requests per second per client address, shared by the workers of an edge; `429` with Retry-After beyond. */
  rateLimit?: RateLimitAction;
}

export interface RefererPolicy {
  /** Host names; `*.example.com` matches every subdomain of example.com (not example.com itself). */
  allow: string[];
  /** A request without Referer is served (direct visits, privacy settings). Default true. */
  allowEmpty?: boolean;
}

export interface RateLimitAction {
  perSecond: number;
  burst: number;
}

export type RedirectStatus = 301 | 302 | 307 | 308;

export interface RedirectAction {
  status: RedirectStatus;
  /**
   * An absolute http(s) URL or a path, with placeholders: `{scheme}`, `{host}`, `{path}`
   * (percent-encoded as received), `{query}` (without "?", empty when none) and
   * `{search}` ("?" and the query, or empty).
   */
  location: string;
}

/** A customer's key for signed URLs: at most two at once, so one can be replaced without breaking links. */
export interface SigningKeyConfig {
  /** Key id carried in signed URLs (`ep_kid`): 8 lower-case hex characters. */
  id: string;
  /** secret-box ciphertext of the key (base64url of 32 random bytes). */
  secretCiphertext: string;
  createdAt: string;
}

export const RULE_NAME_MAX = 63;
/** Most rules per customer unless the operator sets CDN_RULES_MAX. */
export const RULES_MAX_DEFAULT = 100;
export const SIGNING_KEYS_MAX = 2;
/** The name of the implicit first rule made of the customer's own fields. */
export const DEFAULT_RULE_NAME = 'default';
