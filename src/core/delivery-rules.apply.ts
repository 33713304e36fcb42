/**
 * What the edge (and explainRequest) does with a Decision (delivery-rules.compile.ts) for one
 * request: the access checks it can make alone (deny, client address, Referer; the signed URL
 * is signed-url.ts, the rate limit the edge's), the query string as the key and the origin
 * see it, the redirect's Location, header operations, and the Cookie header read once.
 * Pure functions: no state, nothing from the request is kept.
 */
import type { BlockList } from 'node:net';
import { addressFamily, normalizeClientAddress } from './client-address.rules';
import type { HeaderOp, QueryKeyPolicy, RateLimitAction, RedirectAction } from './delivery-rules.types';
import { isSignedUrlParam, queryParamName } from './signed-url';

/** The access checks of one Decision: every matching rule's, merged (compileRules). */
export interface CompiledAccess {
  /** A matching rule says deny: 403 whatever else holds. */
  readonly deny: boolean;
  /** One list per rule with allowCidrs: the client must be in every one. */
  readonly allowCidrs: readonly BlockList[];
  /** One list per rule with denyCidrs: the client must be in none. */
  readonly denyCidrs: readonly BlockList[];
  /** One policy per rule with referers: every one must pass. */
  readonly referers: readonly CompiledReferers[];
  /** Some matching rule asks for a signed URL (verifySignedUrl). */
  readonly signedUrl: boolean;
  /** The last matching rule's rate limit, and that rule's name (part of the limiter's key). */
  readonly rateLimit: (Readonly<RateLimitAction> & { readonly rule: string }) | undefined;
}

export interface CompiledReferers {
  readonly exact: ReadonlySet<string>;
  /** `.example.com` for each `*.example.com`. */
  readonly suffixes: readonly string[];
  readonly allowEmpty: boolean;
}

export type AccessVerdict = { ok: true } | { ok: false; reason: string; check: 'deny' | 'address' | 'referer' };

/**
 * Deny, client address and Referer, in that order. Reasons are written for a 403 body: they
 * say what kind of check refused, never what the customer configured.
 */
export function checkAccess(access: CompiledAccess, request: { address: string; referer: string | undefined }): AccessVerdict {
  if (access.deny) return { ok: false, reason: 'access to this path is denied', check: 'deny' };
  if (access.allowCidrs.length > 0 || access.denyCidrs.length > 0) {
    const address = normalizeClientAddress(request.address);
    const family = addressFamily(address);
    // An address that is no address (a test socket, a proxy bug) cannot be judged: refused.
    const allowed =
      family !== undefined && !access.denyCidrs.some((list) => list.check(address, family)) && access.allowCidrs.every((list) => list.check(address, family));
    if (!allowed) return { ok: false, reason: 'your address is not allowed for this path', check: 'address' };
  }
  for (const policy of access.referers) {
    const reason = refererRefusal(policy, request.referer);
    if (reason !== undefined) return { ok: false, reason, check: 'referer' };
  }
  return { ok: true };
}

function refererRefusal(policy: CompiledReferers, referer: string | undefined): string | undefined {
  if (referer === undefined || referer === '') return policy.allowEmpty ? undefined : 'this path may only be opened from a link on an allowed site';
  let host: string;
  try {
    const url = new URL(referer);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'this path may not be linked from this page';
    host = url.hostname.endsWith('.') ? url.hostname.slice(0, -1) : url.hostname;
  } catch {
    return 'the Referer header is not a valid URL';
  }
  if (policy.exact.has(host)) return undefined;
  for (const suffix of policy.suffixes) if (host.endsWith(suffix) && host.length > suffix.length) return undefined;
  return 'this path may not be linked from this site';
}

/** A Referer policy as checkAccess reads it (hosts already normalised by normalizeRules). */
export function compileReferers(allow: readonly string[], allowEmpty: boolean | undefined): CompiledReferers {
  return Object.freeze({
    exact: new Set(allow.filter((h) => !h.startsWith('*.'))),
    suffixes: Object.freeze(allow.filter((h) => h.startsWith('*.')).map((h) => h.slice(1))),
    allowEmpty: allowEmpty ?? true,
  });
}

// Compiled once per policy object (Decisions share theirs): exact names and prefixes.
const queryFilters = new WeakMap<QueryKeyPolicy, (name: string) => boolean>();

function queryFilter(policy: QueryKeyPolicy): (name: string) => boolean {
  let filter = queryFilters.get(policy);
  if (filter === undefined) {
    const names = policy.names ?? [];
    const exact = new Set(names.filter((n) => !n.endsWith('*')));
    const prefixes = names.filter((n) => n.endsWith('*')).map((n) => n.slice(0, -1));
    const listed = (name: string) => exact.has(name) || prefixes.some((p) => name.startsWith(p));
    filter = policy.mode === 'allow' ? listed : policy.mode === 'deny' ? (name) => !listed(name) : () => true;
    queryFilters.set(policy, filter);
  }
  return filter;
}

/**
 * The query string (without "?") as the policy leaves it for the cache key and the origin:
 * `none` drops it, `allow`/`deny` keep or drop names (`utm_*` is a prefix), and the signed-URL
 * parameters are always dropped. Names compare percent-decoded ("+" a space); parameters are
 * sorted by that name, stably, so repeated names keep their order. As normalizeQuery
 * (edge/cache/cache-key.ts) did for `keep`, one parameter under `all` is returned as it is, so
 * existing cache keys do not change.
 */
export function applyQueryPolicy(query: string, policy: QueryKeyPolicy): string {
  if (query === '' || policy.mode === 'none') return '';
  if (policy.mode === 'all' && !query.includes('&')) return isSignedUrlParam(queryParamName(query)) ? '' : query;
  const filter = queryFilter(policy);
  const kept: { param: string; name: string; index: number }[] = [];
  const params = query.split('&');
  for (let index = 0; index < params.length; index += 1) {
    const param = params[index]!;
    if (param === '') continue;
    const name = queryParamName(param);
    if (!isSignedUrlParam(name) && filter(name)) kept.push({ param, name, index });
  }
  return kept
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.index - b.index))
    .map((k) => k.param)
    .join('&');
}

/**
 * The Location of a redirect: the template with `{scheme}`, `{host}`, `{path}`, `{query}` and
 * `{search}` filled in once (a value holding "{path}" is not expanded again), anything outside
 * visible ASCII percent-encoded, and a leading run of "/" or "\" made one "/": a request for
 * `//evil.example` must not turn `{path}` into a redirect to another site.
 */
export function renderRedirect(action: RedirectAction, request: { scheme: string; host: string; path: string; query: string }): string {
  const query = visible(request.query);
  const values: Record<string, string> = {
    scheme: visible(request.scheme),
    host: visible(request.host),
    path: visible(request.path),
    query,
    search: query === '' ? '' : `?${query}`,
  };
  const location = action.location.replace(/\{(scheme|host|path|query|search)\}/g, (_, name: string) => values[name]!);
  return /^[/\\]/.test(location) ? location.replace(/^[/\\]+/, '/') : location;
}

function visible(value: string): string {
  if (/^[\x21-\x7e]*$/.test(value)) return value;
  return [...value].map((c) => (/[\x21-\x7e]/.test(c) ? c : [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''))).join('');
}

export type HeaderFields = Record<string, string | string[]>;

/**
 * A new header object with the operations applied in order: `set` replaces every field of
 * that name (any case), `append` adds a field line (joined with ", ", except Set-Cookie,
 * which stays a list: RFC 9110 §5.3), `remove` deletes it. Numbers become strings,
 * undefined values are dropped; the input is not changed.
 */
export function applyHeaderOps(headers: Readonly<Record<string, string | readonly string[] | number | undefined>>, ops: readonly HeaderOp[]): HeaderFields {
  const out: HeaderFields = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) put(out, name, typeof value === 'number' ? String(value) : typeof value === 'string' ? value : [...value]);
  }
  for (const op of ops) {
    const name = op.name.toLowerCase();
    const previous = take(out, name);
    if (op.op === 'remove') continue;
    const value = op.value ?? '';
    if (name === 'set-cookie') put(out, name, op.op === 'set' ? [value] : [...previous, value]);
    else put(out, name, op.op === 'set' || previous.length === 0 ? value : [...previous, value].join(', '));
  }
  return out;
}

/** Removes every spelling of `name` and returns its field lines. */
function take(out: HeaderFields, name: string): string[] {
  const lines: string[] = [];
  for (const key of Object.keys(out)) {
    if (key !== name && key.toLowerCase() !== name) continue;
    const value = out[key]!;
    lines.push(...(typeof value === 'string' ? [value] : value));
    delete out[key];
  }
  return lines;
}

// `__proto__` is a valid field name: assigned plainly, it would replace the object's prototype.
function put(out: HeaderFields, name: string, value: string | string[]): void {
  if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  else out[name] = value;
}

/**
 * The cookies of a Cookie header (RFC 6265 §5.4; several headers joined with "; "): pairs
 * split on ";", whitespace around names and values dropped, one pair of double quotes around
 * a value removed (§4.1.1 allows them), values otherwise as sent (not percent-decoded). A name
 * given twice keeps its first value: browsers send the most specific cookie first.
 */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (header === undefined || header === '') return cookies;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const name = pair.slice(0, eq).trim();
    if (name === '' || cookies.has(name)) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    cookies.set(name, value);
  }
  return cookies;
}
