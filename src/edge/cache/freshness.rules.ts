/**
 * RFC 9111 for a shared cache: may a response be stored, how long is it fresh, may it be
 * served stale, how is it revalidated. `http-cache-semantics` does the arithmetic; this
 * file adds only what it lacks, as small predicates named after RFC terms:
 *
 * - the edge's Clock (the library reads Date.now()),
 * - RFC 9213 CDN-Cache-Control, which replaces Cache-Control and Expires for this cache,
 * - the customer's cacheTtl as the heuristic freshness (RFC 9111 §4.2.2),
 * - corrected initial age from Date and Age (RFC 9111 §4.2.3; the library ignores Date),
 * - strict field syntax: an Expires that is not an HTTP-date is already expired (§5.3), an
 *   Age that is not a non-negative integer is ignored (§5.1), a max-age that is not
 *   delta-seconds is stale (§4.2.1) — the library's Date.parse and parseInt accept more,
 * - no storing, on the cacheTtl alone, an answer to a personal request (Cookie or
 *   Authorization): web cache deception,
 * - proxy-revalidate read as must-revalidate (the library makes it never fresh),
 * - no reuse while stale under must-revalidate, stricter-than-RFC Set-Cookie, Vary: *.
 *
 * The policy only ever sees a "view" of the response: the fields that decide caching.
 * Vary is handled outside it (Vary markers and variant keys, see vary.rules.ts).
 */
import CachePolicy from 'http-cache-semantics';
import type { Clock } from '../../core/clock.port';
import type { ObjectMeta, StoredHeaders } from './cache-store.port';

export type Headers = Record<string, string | string[] | undefined>;
type PolicyView = Record<string, string>;


/** Status codes a response may be stored with on the customer's cacheTtl alone (RFC 9110 §15.1, minus negative answers). */
const HEURISTIC_STATUSES = new Set([200, 203, 204, 300, 301, 308, 410]);

/** Fields the policy needs; everything else stays out of the serialised policy. */
const VIEW_FIELDS = ['cache-control', 'expires', 'date', 'last-modified', 'etag', 'pragma'] as const;

export interface FreshnessInput {
  status: number;
  /** The origin's response headers as received (CDN-Cache-Control still present). */
  headers: Headers;
  /** The client's request headers: Authorization and request no-store decide storing. */
  requestHeaders: Headers;
  /** Seconds of heuristic freshness (the customer's cacheTtl, or a delivery rule's edge TTL in `default` mode). */
  heuristicTtl: number;
  /**
   * A delivery rule's edge TTL in `override` mode: this many seconds whatever the origin says
   * about freshness (max-age, s-maxage, Expires, no-cache). Never over no-store or private: a
   * rule does not make a personal answer shareable (Set-Cookie is refused at storing anyway).
   */
  ttlOverride?: number;
  /** A delivery rule's stale-while-revalidate window, replacing the origin's (RFC 5861 §3). */
  staleWhileRevalidate?: number;
  /**
   * A 304 refreshing an object already stored (RFC 9111 §4.3.4): the object's content was
   * judged shareable when it was stored, so the personal-request rule does not apply again.
   */
  refreshesStored?: boolean;
  /** Clock time the edge sent the request and received the response (ms). */
  requestTime: number;
  responseTime: number;
}

// ---- parsing -------------------------------------------------------------------

function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Cache-Control directives, names lower-cased (RFC 9111 §5.2: case-insensitive tokens). */
export function parseCacheControl(value: string | undefined): Map<string, string | true> {
  const out = new Map<string, string | true>();
  if (value === undefined) return out;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === '' || out.has(name)) continue;
    out.set(name, eq < 0 ? true : part.slice(eq + 1).trim().replace(/^"|"$/g, ''));
  }
  return out;
}

function formatCacheControl(cc: Map<string, string | true>): string {
  return [...cc].map(([k, v]) => (v === true ? k : `${k}=${v}`)).join(', ');
}

/** Cache-Control directive names are case-insensitive tokens (RFC 9111 §5.2). */
export function hasDirective(cacheControl: string, name: string): boolean {
  return parseCacheControl(cacheControl).has(name);
}

function seconds(value: string | true | undefined): number {
  if (value === undefined || value === true) return 0;
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** RFC 9111 §1.2.2 delta-seconds: digits only; undefined when the value is anything else. */
function deltaSeconds(value: string | true | undefined): number | undefined {
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value)) return undefined;
  return Number(value);
}

const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec';
/** RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms a recipient must accept. */
const HTTP_DATE = [
  new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d{2} (?:${MONTHS}) \\d{4} \\d{2}:\\d{2}:\\d{2} GMT$`),
  new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \\d{2}-(?:${MONTHS})-\\d{2} \\d{2}:\\d{2}:\\d{2} GMT$`),
  new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:${MONTHS}) [ \\d]\\d \\d{2}:\\d{2}:\\d{2} \\d{4}$`),
];

/** Milliseconds of a valid HTTP-date (RFC 9110 §5.6.7), or undefined for anything else. */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (!HTTP_DATE.some((re) => re.test(text))) return undefined;
  // asctime carries no zone: it is GMT (RFC 9110 §5.6.7).
  const ms = Date.parse(/GMT$/.test(text) ? text : `${text} GMT`);
  return Number.isFinite(ms) ? ms : undefined;
}

/** What the policy reads for an Expires that is not an HTTP-date: already expired (RFC 9111 §5.3). */
const EXPIRED = 'Thu, 01 Jan 1970 00:00:00 GMT';

// ---- the policy's view of a response ----------------------------------------------

/** RFC 9213 §2.2: a cache using a targeted field ignores Cache-Control and Expires. */
export function targetedCacheControl(headers: Headers): string | undefined {
  const value = joined(headers['cdn-cache-control'])?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** RFC 9111 §4.2.1: explicit expiration is s-maxage (shared), max-age or Expires. */
export function hasExplicitExpiration(cc: Map<string, string | true>, expires: string | undefined): boolean {
  return cc.has('s-maxage') || cc.has('max-age') || expires !== undefined;
}

/** RFC 9111 §4.2.3: corrected_initial_age, in whole seconds (Date has one-second resolution). */
export function correctedInitialAge(headers: Headers, requestTime: number, responseTime: number): number {
  const ageValue = ageField(headers.age);
  const date = parseHttpDate(joined(headers.date));
  const apparentAge = date !== undefined ? Math.max(0, Math.floor(responseTime / 1000) - Math.floor(date / 1000)) : 0;
  const responseDelay = Math.max(0, Math.floor((responseTime - requestTime) / 1000));
  return Math.max(apparentAge, ageValue + responseDelay);
}

/**
 * RFC 9111 §5.1: a list-based Age counts by its first member; a value that is not a
 * non-negative integer is ignored (0).
 */
export function ageField(value: string | string[] | undefined): number {
  const first = (Array.isArray(value) ? value[0] : value)?.split(',')[0]?.trim();
  return deltaSeconds(first) ?? 0;
}

/** A request that carries a user's identity: its answer may be that user's alone. */
export function isPersonalRequest(requestHeaders: Headers): boolean {
  return requestHeaders.cookie !== undefined || requestHeaders.authorization !== undefined;
}

function policyView(input: FreshnessInput): PolicyView {
  const view: PolicyView = {};
  for (const name of VIEW_FIELDS) {
    const value = joined(input.headers[name]);
    if (value !== undefined) view[name] = value;
  }
  // RFC 9111 §5.3: an Expires that is not a valid HTTP-date means already expired.
  if (view.expires !== undefined && parseHttpDate(view.expires) === undefined) view.expires = EXPIRED;
  // RFC 9110 §6.6.1: a Date that cannot be read is as good as none (the response time counts).
  if (view.date !== undefined && parseHttpDate(view.date) === undefined) delete view.date;
  const targeted = targetedCacheControl(input.headers);
  if (targeted !== undefined) {
    // RFC 9213 §2.2: the targeted field replaces Cache-Control and Expires for this cache.
    view['cache-control'] = targeted;
    view['cdn-cache-control'] = targeted;
    delete view.expires;
    delete view.pragma;
  }
  const cc = parseCacheControl(view['cache-control']);
  // RFC 9111 §5.2.2.8: for a shared cache proxy-revalidate means must-revalidate.
  if (cc.has('proxy-revalidate')) {
    cc.delete('proxy-revalidate');
    cc.set('must-revalidate', true);
  }
  // RFC 9111 §4.2.1: a max-age or s-maxage that is not delta-seconds is invalid freshness
  // information, which caches are encouraged to treat as stale.
  for (const name of ['max-age', 's-maxage']) {
    if (cc.has(name) && deltaSeconds(cc.get(name)) === undefined) cc.set(name, '0');
  }
  if (input.ttlOverride !== undefined && !cc.has('no-store') && !cc.has('private')) {
    // An operator's explicit freshness, as if the origin had sent it.
    for (const name of ['max-age', 's-maxage', 'no-cache']) cc.delete(name);
    delete view.expires;
    delete view.pragma;
    cc.set('max-age', String(input.ttlOverride));
  }
  if (input.staleWhileRevalidate !== undefined) cc.set('stale-while-revalidate', String(input.staleWhileRevalidate));
  if (!hasExplicitExpiration(cc, view.expires)) {
    if (isPersonalRequest(input.requestHeaders) && input.refreshesStored !== true) {
      // Web cache deception: /account/x.css asked with a session cookie answers the user's
      // page, and nothing in it says how long it may be shared. Only the origin's explicit
      // freshness makes an answer to a personal request shareable; the cacheTtl never does.
      cc.set('no-store', true);
    } else if (input.heuristicTtl > 0 && !cc.has('no-cache') && (HEURISTIC_STATUSES.has(input.status) || cc.has('public'))) {
      // RFC 9111 §4.2.2: without explicit freshness the customer's cacheTtl is the heuristic
      // lifetime (replacing the library's 10% of Last-Modified); never over no-cache.
      cc.set('max-age', String(input.heuristicTtl));
    }
  }
  if (cc.size > 0) view['cache-control'] = formatCacheControl(cc);
  view.age = String(correctedInitialAge(input.headers, input.requestTime, input.responseTime));
  return view;
}

// ---- policies on the edge's clock -------------------------------------------------

const policyClasses = new WeakMap<Clock, typeof CachePolicy>();

/** CachePolicy reading the edge's Clock (tests move time without sleeping). */
function policyClass(clock: Clock): typeof CachePolicy {
  let cls = policyClasses.get(clock);
  if (cls === undefined) {
    cls = class EdgeCachePolicy extends CachePolicy {
      now(): number {
        return clock.now();
      }
    };
    policyClasses.set(clock, cls);
  }
  return cls;
}

/** The request as the policy sees it: one cache per customer, so host and URL are constant. */
function policyRequest(requestHeaders: Headers): CachePolicy.Request {
  const headers: CachePolicy.Headers = { host: 'edge' };
  if (requestHeaders.authorization !== undefined) headers.authorization = requestHeaders.authorization;
  const cc = joined(requestHeaders['cache-control']);
  // RFC 9111 §5.2.1.5: a request's no-store forbids storing its response; other request
  // directives are ignored, so a client cannot make the edge bypass its cache.
  if (cc !== undefined && hasDirective(cc, 'no-store')) headers['cache-control'] = 'no-store';
  return { method: 'GET', url: '/', headers };
}

export function createPolicy(input: FreshnessInput, clock: Clock): CachePolicy {
  const Policy = policyClass(clock);
  return new Policy(policyRequest(input.requestHeaders), { status: input.status, headers: policyView(input) }, { shared: true, cacheHeuristic: 0 });
}

/** The serialised policy kept in ObjectMeta.policy, plus the Vary epoch of a variant. */
export interface StoredPolicy extends CachePolicy.CachePolicyObject {
  epoch?: string;
}

const revived = new WeakMap<ObjectMeta, CachePolicy>();

/** The policy of a stored object; cached on the meta object so a store that keeps metas in memory revives it once. */
export function policyOf(meta: ObjectMeta, clock: Clock): CachePolicy | undefined {
  let policy = revived.get(meta);
  if (policy === undefined) {
    const obj = meta.policy as StoredPolicy | undefined;
    if (obj === undefined || obj.v !== 1) return undefined;
    policy = policyClass(clock).fromObject(obj);
    revived.set(meta, policy);
  }
  return policy;
}

// ---- predicates ------------------------------------------------------------------

/** The library's parsed response directives (its `_rescc`, stable in 4.x): no re-parse per hit. */
function directives(policy: CachePolicy): Record<string, string | true | undefined> {
  return (policy as unknown as { _rescc: Record<string, string | true | undefined> })._rescc;
}

/**
 * RFC 9111 §3 (storing): the library's rules (method, status, no-store, private, §3.5
 * Authorization unless public/s-maxage/must-revalidate), plus: never Set-Cookie (stricter
 * than the RFC, on purpose: one user's session), never Vary: * (§4.1: it never matches),
 * and only what can be reused: fresh now, or revalidatable (§4.3.1 validators).
 */
export function isStorable(policy: CachePolicy, status: number, headers: Headers): boolean {
  if (!policy.storable() || headers['set-cookie'] !== undefined) return false;
  if (status === 206 || status === 304) return false;
  if (isVaryStar(headers)) return false;
  return !policy.stale() || hasValidators(headers);
}

/** RFC 9111 §4.1: Vary: * fails to match every request. */
export function isVaryStar(headers: Headers): boolean {
  const vary = joined(headers.vary);
  return vary !== undefined && vary.split(',').some((v) => v.trim() === '*');
}

/** RFC 9111 §4.2: fresh while the current age is below the freshness lifetime. */
export function isFresh(policy: CachePolicy): boolean {
  return !policy.stale();
}

/**
 * A stored object's freshness as a line in time, worked out once per meta object (a 304
 * refresh makes a new one): the library's age() is the stored age plus the time since the
 * response, and maxAge() depends on the response alone, so fresh-or-stale and Age are exact
 * without asking the policy on every hit. Used by the lookup step and the hit lane alike.
 */
export interface FreshnessLine {
  /** Seconds of freshness lifetime (policy.maxAge()). */
  maxAge: number;
  /** policy.age() in seconds at `at`. */
  age: number;
  /** Edge clock, ms. */
  at: number;
}

const lines = new WeakMap<ObjectMeta, FreshnessLine | null>();

/** The meta's freshness line, or undefined for an object stored without RFC 9111 state. */
export function freshnessLine(meta: ObjectMeta, clock: Clock): FreshnessLine | undefined {
  let line = lines.get(meta);
  if (line === undefined) {
    const policy = policyOf(meta, clock);
    line = policy === undefined ? null : { maxAge: policy.maxAge(), age: policy.age(), at: clock.now() };
    lines.set(meta, line);
  }
  return line ?? undefined;
}

/** RFC 9111 §4.2.3 current_age in seconds (fractional) at `now`. */
export function ageAt(line: FreshnessLine, now: number): number {
  return line.age + (now - line.at) / 1000;
}

/** RFC 9111 §4.2: fresh while current_age < freshness_lifetime (the library's !stale()). */
export function freshAt(line: FreshnessLine, now: number): boolean {
  return ageAt(line, now) < line.maxAge;
}

/** RFC 9111 §4.2.4 + §5.2.2.2: must-revalidate (and proxy-revalidate, no-cache) forbid serving stale. */
export function forbidsStale(policy: CachePolicy): boolean {
  const cc = directives(policy);
  return cc['must-revalidate'] !== undefined || cc['no-cache'] !== undefined;
}

/** RFC 5861 §3 stale-while-revalidate: serve stale while one refresh runs in the background. */
export function mayServeStaleWhileRevalidate(policy: CachePolicy): boolean {
  if (forbidsStale(policy)) return false;
  const window = seconds(directives(policy)['stale-while-revalidate']);
  return window > 0 && policy.maxAge() + window > policy.age();
}

/**
 * RFC 5861 §4 stale-if-error: within its window a stale object answers for a failing origin.
 * The window is the larger of the origin's stale-if-error and the customer's opt-in
 * (`staleIfErrorSeconds`). The customer's never applies to an s-maxage response (RFC 9111
 * §5.2.2.10: s-maxage carries proxy-revalidate for a shared cache); neither applies under
 * must-revalidate, proxy-revalidate or no-cache (§4.2.4).
 */
export function mayServeStaleIfError(policy: CachePolicy, customerWindow?: number | null): boolean {
  if (forbidsStale(policy)) return false;
  const cc = directives(policy);
  const origin = seconds(cc['stale-if-error']);
  const customer = customerWindow != null && customerWindow > 0 && cc['s-maxage'] === undefined ? customerWindow : 0;
  const window = Math.max(origin, customer);
  return window > 0 && policy.maxAge() + window > policy.age();
}

/** RFC 9111 §4.3.1: a stored response with a validator can be revalidated. */
export function hasValidators(headers: Headers | StoredHeaders): boolean {
  return headers.etag !== undefined || headers['last-modified'] !== undefined;
}

/** RFC 9111 §4.3.1: If-None-Match from the ETag, If-Modified-Since from Last-Modified. */
export function validatorHeaders(policy: CachePolicy): Record<string, string> {
  const h = policy.revalidationHeaders({ method: 'GET', url: '/', headers: { host: 'edge' } });
  const out: Record<string, string> = {};
  if (typeof h['if-none-match'] === 'string') out['if-none-match'] = h['if-none-match'];
  if (typeof h['if-modified-since'] === 'string') out['if-modified-since'] = h['if-modified-since'];
  return out;
}

/** RFC 9111 §4.3.4: a 304 selects the stored response when its validator matches. */
export function notModifiedMatches(policy: CachePolicy, headers304: Headers): boolean {
  const result = policy.revalidatedPolicy({ method: 'GET', url: '/', headers: { host: 'edge' } }, { status: 304, headers: { etag: joined(headers304.etag), 'last-modified': joined(headers304['last-modified']) } });
  return result.matches || (headers304.etag === undefined && headers304['last-modified'] === undefined);
}

/**
 * Fields a 304 may not replace in the stored response: the body's framing (RFC 9111 §3.2),
 * and Set-Cookie, which is one user's and never part of a shared response (the store-time
 * rule of isStorable, held on this path too).
 */
const NOT_UPDATED = new Set(['content-length', 'content-encoding', 'content-range', 'transfer-encoding', 'set-cookie']);

/** RFC 9111 §3.2 + §4.3.4: the stored header fields updated with those of a 304. */
export function updatedHeaders(stored: StoredHeaders, headers304: StoredHeaders): StoredHeaders {
  const out: StoredHeaders = { ...stored };
  for (const name in headers304) {
    if (!NOT_UPDATED.has(name)) out[name] = headers304[name]!;
  }
  delete out['set-cookie'];
  return out;
}

/** Seconds the object stays fresh after it is stored (ObjectMeta.ttl: stores may use it to rank). */
export function freshSeconds(policy: CachePolicy): number {
  return Math.max(0, Math.floor(policy.maxAge() - policy.age()));
}

/** `Surrogate-Key` (space-separated) and `Cache-Tag` (comma-separated) values, for tag purges. */
export function tagsOf(headers: Headers): string[] | undefined {
  const tags = new Set<string>();
  for (const t of (joined(headers['surrogate-key']) ?? '').split(/\s+/)) if (t !== '') tags.add(t);
  for (const t of (joined(headers['cache-tag']) ?? '').split(',')) if (t.trim() !== '') tags.add(t.trim());
  return tags.size === 0 ? undefined : [...tags];
}
