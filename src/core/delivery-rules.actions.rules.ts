/**
 * Validation of one rule's actions (delivery-rules.rules.ts checks the list and the match):
 * each action's fields, and the actions that cannot go together in one rule because one
 * would make the other do nothing, silently.
 */
import { parseCidr } from './client-address.rules';
import { checkHostname, normalizeHostname, QUERY_ALLOW_MAX, QUERY_PARAM_NAME_MAX } from './customer.rules';
import { CACHE_TTL_MAX, STALE_IF_ERROR_MAX } from './customer.types';
import { checkFieldName, given, KNOWN, type Problems } from './delivery-rules.problems';
import type { HeaderOp, HeaderOpKind, QueryKeyMode, RedirectStatus, RuleActions } from './delivery-rules.types';

/** Request headers or cookies added to the cache key, each list. */
export const KEY_FIELDS_MAX = 20;
export const HEADER_OPS_MAX = 50;
export const HEADER_VALUE_MAX = 4096;
export const CIDRS_MAX = 1000;
export const REFERERS_MAX = 100;
export const RATE_PER_SECOND_MAX = 1_000_000;
export const RATE_BURST_MAX = 1_000_000;
export const REDIRECT_STATUSES: readonly RedirectStatus[] = [301, 302, 307, 308];
export const REDIRECT_PLACEHOLDERS = ['scheme', 'host', 'path', 'query', 'search'] as const;
export const REDIRECT_LOCATION_MAX = 2048;
export const QUERY_KEY_MODES: readonly QueryKeyMode[] = ['all', 'none', 'allow', 'deny'];
const HEADER_OP_KINDS: readonly HeaderOpKind[] = ['set', 'append', 'remove'];

export type HeaderTarget = 'response' | 'origin';

/**
 * Fields header operations may not touch, and why (the refusal quotes the reason). `proxy-`
 * stands for every field starting with it. `ops` absent: no operation at all.
 */
export const PROTECTED_HEADERS: readonly { name: string; targets: readonly HeaderTarget[]; ops?: readonly HeaderOpKind[]; reason: string }[] = [
  ...['connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-'].map((name) => ({
    name,
    targets: ['response', 'origin'] as const,
    reason: 'is hop-by-hop: it describes one connection, not the message (RFC 9110 §7.6.1)',
  })),
  ...['transfer-encoding', 'content-length'].map((name) => ({
    name,
    targets: ['response', 'origin'] as const,
    reason: 'is framing: it is computed from the body actually sent (RFC 9112 §6)',
  })),
  { name: 'host', targets: ['origin'], reason: "is the origin's own host name, which the edge sends" },
  { name: 'cdn-loop', targets: ['origin'], reason: 'is loop protection (RFC 8586): the edge appends itself, and no one may remove it' },
  { name: 'x-cache', targets: ['response'], reason: "is the edge's own report of what it did (HIT, MISS, BYPASS, ...)" },
  { name: 'age', targets: ['response'], reason: 'is computed by the cache (RFC 9111 §5.1); a fixed value would lie about freshness' },
  { name: 'content-encoding', targets: ['response'], reason: 'describes the bytes the edge sends, and the edge compresses' },
  { name: 'content-range', targets: ['response'], reason: 'describes the bytes the edge sends, and the edge answers ranges' },
  {
    name: 'vary',
    targets: ['response'],
    ops: ['set', 'remove'],
    reason: 'carries the edge\'s own "Accept-Encoding" for compressed answers; use op "append" to add a field to it',
  },
];

/** Why `op` on `name` is refused for `target`, or undefined when it is allowed. */
export function protectedHeaderReason(name: string, op: HeaderOpKind, target: HeaderTarget): string | undefined {
  const row = PROTECTED_HEADERS.find(
    (r) => (r.name.endsWith('-') ? name.startsWith(r.name) : name === r.name) && r.targets.includes(target) && (r.ops === undefined || r.ops.includes(op)),
  );
  return row?.reason;
}

// Visible ASCII and spaces: Node refuses most other characters in a field value at send time.
const HEADER_VALUE = /^[\x20-\x7e]*$/;
const LOCATION = /^[\x21-\x7e]+$/;

export function checkActions(value: unknown, at: string, p: Problems): void {
  const a = p.object(value, at, KNOWN.actions, `with at least one of ${KNOWN.actions.join(', ')}`);
  if (a === undefined) return;
  const present = KNOWN.actions.filter((k) => given(a[k]));
  if (present.length === 0) return p.add(at, `has no action; give at least one of ${KNOWN.actions.join(', ')}`);
  const cache = given(a.cache) ? checkCache(a.cache, `${at}.cache`, p) : undefined;
  if (given(a.cacheKey)) checkCacheKey(a.cacheKey, `${at}.cacheKey`, p);
  if (given(a.responseHeaders)) checkHeaderOps(a.responseHeaders, `${at}.responseHeaders`, 'response', p);
  if (given(a.originHeaders)) checkHeaderOps(a.originHeaders, `${at}.originHeaders`, 'origin', p);
  const access = given(a.access) ? checkAccess(a.access, `${at}.access`, p) : undefined;
  if (given(a.redirect)) checkRedirect(a.redirect, `${at}.redirect`, p);

  if (cache?.bypass === true) {
    const moot = [...['edgeTtl', 'staleWhileRevalidate', 'staleIfError'].filter((k) => given(cache[k])).map((k) => `cache.${k}`), ...(given(a.cacheKey) ? ['cacheKey'] : [])];
    if (moot.length > 0) p.add(`${at}.cache.bypass`, `cannot go with ${moot.join(', ')}: a bypassed request is never looked up nor stored; remove them, or put them in another rule`);
  }
  if (given(a.redirect)) {
    const moot = present.filter((k) => k !== 'redirect' && k !== 'access');
    if (moot.length > 0) p.add(`${at}.redirect`, `cannot go with ${moot.join(', ')}: a redirected request reaches neither the cache nor the origin (only access may go with redirect)`);
  }
  if (access?.deny === true) {
    const moot = ['allowCidrs', 'denyCidrs', 'referers', 'signedUrl', 'rateLimit'].filter((k) => given(access[k]) && access[k] !== false);
    if (moot.length > 0) p.add(`${at}.access.deny`, `cannot go with ${moot.map((k) => `access.${k}`).join(', ')}: a denied request is refused whatever they say; remove them`);
  }
}

function checkCache(value: unknown, at: string, p: Problems): Record<string, unknown> | undefined {
  const c = p.object(value, at, KNOWN.cache, `with at least one of ${KNOWN.cache.join(', ')}`);
  if (c === undefined) return undefined;
  if (!KNOWN.cache.some((k) => given(c[k]))) p.add(at, `is empty; give at least one of ${KNOWN.cache.join(', ')}`);
  if (given(c.bypass)) p.boolean(c.bypass, `${at}.bypass`);
  if (given(c.edgeTtl)) {
    const e = p.object(c.edgeTtl, `${at}.edgeTtl`, KNOWN.edgeTtl, '{ "seconds", "mode": "override" | "default" }');
    if (e !== undefined) {
      p.integer(e.seconds, `${at}.edgeTtl.seconds`, 0, CACHE_TTL_MAX, 'seconds');
      if (e.mode !== 'override' && e.mode !== 'default') {
        p.add(`${at}.edgeTtl.mode`, `must be "override" (whatever the origin says) or "default" (only when the origin gives no freshness), got ${JSON.stringify(e.mode) ?? 'nothing'}`);
      }
    }
  }
  if (given(c.browserTtl)) p.integer(c.browserTtl, `${at}.browserTtl`, 0, CACHE_TTL_MAX, 'seconds');
  if (given(c.staleWhileRevalidate)) p.integer(c.staleWhileRevalidate, `${at}.staleWhileRevalidate`, 0, CACHE_TTL_MAX, 'seconds');
  // One week, as the customer's own staleIfErrorSeconds: a rule may not stretch it further.
  if (given(c.staleIfError)) p.integer(c.staleIfError, `${at}.staleIfError`, 0, STALE_IF_ERROR_MAX, 'seconds');
  return c;
}

function checkCacheKey(value: unknown, at: string, p: Problems): void {
  const k = p.object(value, at, KNOWN.cacheKey, `with at least one of ${KNOWN.cacheKey.join(', ')}`);
  if (k === undefined) return;
  if (!KNOWN.cacheKey.some((f) => given(k[f]))) p.add(at, `is empty; give at least one of ${KNOWN.cacheKey.join(', ')}`);
  if (given(k.query)) checkQueryPolicy(k.query, `${at}.query`, p);
  if (given(k.headers)) {
    p.array(k.headers, `${at}.headers`, KEY_FIELDS_MAX, 'request header names')?.forEach((h, i) => {
      const name = checkFieldName(h, `${at}.headers[${i}]`, 'header', p);
      if (name === 'cookie') p.add(`${at}.headers[${i}]`, 'the whole Cookie header would make one object per visitor; name the cookies in cacheKey.cookies instead');
    });
  }
  if (given(k.cookies)) p.array(k.cookies, `${at}.cookies`, KEY_FIELDS_MAX, 'cookie names')?.forEach((c, i) => checkFieldName(c, `${at}.cookies[${i}]`, 'cookie', p));
}

function checkQueryPolicy(value: unknown, at: string, p: Problems): void {
  const q = p.object(value, at, KNOWN.query, '{ "mode": "all" | "none" | "allow" | "deny", "names"? }');
  if (q === undefined) return;
  if (typeof q.mode !== 'string' || !(QUERY_KEY_MODES as readonly string[]).includes(q.mode)) {
    return p.add(`${at}.mode`, `must be one of ${QUERY_KEY_MODES.join(', ')}, got ${JSON.stringify(q.mode) ?? 'nothing'}`);
  }
  if (q.mode === 'all' || q.mode === 'none') {
    if (given(q.names)) p.add(`${at}.names`, `is only used with mode allow or deny; leave it out for mode ${q.mode}`);
    return;
  }
  if (!given(q.names)) return p.add(`${at}.names`, `must name the parameters to ${q.mode} (a name ending in "*" is a prefix, such as "utm_*")`);
  p.array(q.names, `${at}.names`, QUERY_ALLOW_MAX, 'query parameter names')?.forEach((n, i) => {
    const itemAt = `${at}.names[${i}]`;
    const s = p.string(n, itemAt, QUERY_PARAM_NAME_MAX);
    if (s === undefined) return;
    if (s === '') p.add(itemAt, 'must not be empty');
    else if (s === '*') p.add(itemAt, `"*" names every parameter; use mode ${q.mode === 'allow' ? 'all' : 'none'} instead`);
    else if (s.slice(0, -1).includes('*')) p.add(itemAt, `"${s}" has "*" before its end; "*" may only end a name, as a prefix ("utm_*")`);
  });
}

function checkHeaderOps(value: unknown, at: string, target: HeaderTarget, p: Problems): void {
  p.array(value, at, HEADER_OPS_MAX, 'header operations { "op", "name", "value"? }')?.forEach((raw, i) => {
    const opAt = `${at}[${i}]`;
    const o = p.object(raw, opAt, KNOWN.headerOp, '{ "op": "set" | "append" | "remove", "name", "value"? }');
    if (o === undefined) return;
    const op = typeof o.op === 'string' && (HEADER_OP_KINDS as readonly string[]).includes(o.op) ? (o.op as HeaderOpKind) : undefined;
    if (op === undefined) p.add(`${opAt}.op`, `must be one of ${HEADER_OP_KINDS.join(', ')}, got ${JSON.stringify(o.op) ?? 'nothing'}`);
    const name = given(o.name) ? checkFieldName(o.name, `${opAt}.name`, 'header', p) : (p.add(`${opAt}.name`, 'is required'), undefined);
    if (name !== undefined && op !== undefined) {
      const reason = protectedHeaderReason(name, op, target);
      if (reason !== undefined) p.add(`${opAt}.name`, `"${name}" ${reason}; the ${target === 'origin' ? 'origin request' : 'response'} keeps the edge's value`);
    }
    if (op === 'remove') {
      if (given(o.value)) p.add(`${opAt}.value`, 'must be left out for op "remove"');
    } else if (op !== undefined) {
      if (!given(o.value)) p.add(`${opAt}.value`, `is required for op "${op}"`);
      else {
        const v = p.string(o.value, `${opAt}.value`, HEADER_VALUE_MAX);
        if (v !== undefined && !HEADER_VALUE.test(v)) p.add(`${opAt}.value`, 'must be visible ASCII and spaces only (HTTP field values); percent-encode or drop other characters');
      }
    }
  });
}

function checkAccess(value: unknown, at: string, p: Problems): Record<string, unknown> | undefined {
  const a = p.object(value, at, KNOWN.access, `with at least one of ${KNOWN.access.join(', ')}`);
  if (a === undefined) return undefined;
  if (!KNOWN.access.some((k) => given(a[k]))) p.add(at, `is empty; give at least one of ${KNOWN.access.join(', ')}`);
  if (given(a.deny)) p.boolean(a.deny, `${at}.deny`);
  if (given(a.signedUrl)) p.boolean(a.signedUrl, `${at}.signedUrl`);
  for (const key of ['allowCidrs', 'denyCidrs'] as const) {
    if (!given(a[key])) continue;
    p.array(a[key], `${at}.${key}`, CIDRS_MAX, 'CIDR blocks such as "203.0.113.0/24"')?.forEach((c, i) => {
      const s = p.string(c, `${at}.${key}[${i}]`, 64);
      if (s === undefined) return;
      const cidr = parseCidr(s);
      if ('error' in cidr) p.add(`${at}.${key}[${i}]`, cidr.error);
    });
  }
  if (given(a.referers)) {
    const r = p.object(a.referers, `${at}.referers`, KNOWN.referers, '{ "allow": [host names], "allowEmpty"? }');
    if (r !== undefined) {
      if (!given(r.allow)) p.add(`${at}.referers.allow`, 'is required: the host names allowed to link here ("*.example.com" for subdomains)');
      else p.array(r.allow, `${at}.referers.allow`, REFERERS_MAX, 'host names')?.forEach((h, i) => checkRefererHost(h, `${at}.referers.allow[${i}]`, p));
      if (given(r.allowEmpty)) p.boolean(r.allowEmpty, `${at}.referers.allowEmpty`);
    }
  }
  if (given(a.rateLimit)) {
    const r = p.object(a.rateLimit, `${at}.rateLimit`, KNOWN.rateLimit, '{ "perSecond", "burst" }');
    if (r !== undefined) {
      p.integer(r.perSecond, `${at}.rateLimit.perSecond`, 1, RATE_PER_SECOND_MAX, 'requests per second');
      p.integer(r.burst, `${at}.rateLimit.burst`, 1, RATE_BURST_MAX, 'requests');
    }
  }
  return a;
}

function checkRefererHost(value: unknown, at: string, p: Problems): void {
  const s = p.string(value, at, 255);
  if (s === undefined) return;
  const host = s.startsWith('*.') ? s.slice(2) : s;
  if (host.includes('*')) return p.add(at, `"${s}" may use "*" only as its whole first label ("*.example.com")`);
  if (host.includes('/')) return p.add(at, `"${s}" must be a host name, not a URL: write "example.com" for https://example.com/page`);
  p.addAll(checkHostname(host, at));
}

function checkRedirect(value: unknown, at: string, p: Problems): void {
  const r = p.object(value, at, KNOWN.redirect, '{ "status": 301 | 302 | 307 | 308, "location" }');
  if (r === undefined) return;
  if (!(REDIRECT_STATUSES as readonly unknown[]).includes(r.status)) {
    p.add(`${at}.status`, `must be one of ${REDIRECT_STATUSES.join(', ')} (308 and 301 permanent, 307 and 302 temporary), got ${JSON.stringify(r.status) ?? 'nothing'}`);
  }
  if (!given(r.location)) return p.add(`${at}.location`, 'is required: an absolute http(s) URL or a path, such as "https://{host}/new{path}"');
  const location = p.string(r.location, `${at}.location`, REDIRECT_LOCATION_MAX);
  if (location === undefined) return;
  const problem = locationProblem(location);
  if (problem !== undefined) p.add(`${at}.location`, problem);
}

function locationProblem(location: string): string | undefined {
  const known = REDIRECT_PLACEHOLDERS.map((n) => `{${n}}`).join(', ');
  for (const m of location.matchAll(/\{([^{}]*)\}/g)) {
    if (!(REDIRECT_PLACEHOLDERS as readonly string[]).includes(m[1]!)) return `has the unknown placeholder ${JSON.stringify(m[0])}; the placeholders are ${known}`;
  }
  const sample = renderSample(location);
  if (/[{}]/.test(sample)) return `has an unmatched "{" or "}"; the placeholders are ${known}`;
  if (!LOCATION.test(sample)) return 'must be visible ASCII without spaces (percent-encode anything else, such as %20)';
  if (sample.startsWith('/')) {
    if (sample.startsWith('//') || sample.startsWith('/\\')) return 'must be an absolute http(s) URL or a path starting with one "/" ("//host" leaves the scheme to the browser)';
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(sample);
  } catch {
    return `${JSON.stringify(location)} is neither an absolute http(s) URL nor a path starting with "/"`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must use http or https, not ${url.protocol.slice(0, -1)}`;
  return undefined;
}

/** The location with every placeholder filled with a typical value, to check the result. */
function renderSample(location: string): string {
  const sample: Record<string, string> = { scheme: 'https', host: 'cdn.example.com', path: '/p', query: 'q=1', search: '?q=1' };
  return location.replace(/\{(scheme|host|path|query|search)\}/g, (_, name: string) => sample[name]!);
}

/** The referer host as stored (lower-case, no trailing dot). */
export function normalizeRefererHost(host: string): string {
  return host.startsWith('*.') ? `*.${normalizeHostname(host.slice(2))}` : normalizeHostname(host);
}

/** The canonical copy of accepted actions (see normalizeRules). */
export function normalizeActions(a: RuleActions): RuleActions {
  const out: RuleActions = {};
  if (given(a.cache)) {
    const c = a.cache!;
    out.cache = {
      ...(given(c.bypass) ? { bypass: c.bypass } : {}),
      ...(given(c.edgeTtl) ? { edgeTtl: { seconds: c.edgeTtl!.seconds, mode: c.edgeTtl!.mode } } : {}),
      ...(given(c.browserTtl) ? { browserTtl: c.browserTtl } : {}),
      ...(given(c.staleWhileRevalidate) ? { staleWhileRevalidate: c.staleWhileRevalidate } : {}),
      ...(given(c.staleIfError) ? { staleIfError: c.staleIfError } : {}),
    };
  }
  if (given(a.cacheKey)) {
    const k = a.cacheKey!;
    out.cacheKey = {
      ...(given(k.query) ? { query: { mode: k.query!.mode, ...(given(k.query!.names) ? { names: [...k.query!.names!] } : {}) } } : {}),
      ...(given(k.headers) ? { headers: [...new Set(k.headers!.map((h) => h.toLowerCase()))] } : {}),
      ...(given(k.cookies) ? { cookies: [...new Set(k.cookies!)] } : {}),
    };
  }
  const ops = (list: HeaderOp[]): HeaderOp[] =>
    list.map((o) => ({ op: o.op, name: o.name.toLowerCase(), ...(o.op !== 'remove' && given(o.value) ? { value: o.value } : {}) }));
  if (given(a.responseHeaders)) out.responseHeaders = ops(a.responseHeaders!);
  if (given(a.originHeaders)) out.originHeaders = ops(a.originHeaders!);
  if (given(a.access)) {
    const x = a.access!;
    out.access = {
      ...(given(x.deny) ? { deny: x.deny } : {}),
      ...(given(x.allowCidrs) ? { allowCidrs: x.allowCidrs!.map((c) => c.toLowerCase()) } : {}),
      ...(given(x.denyCidrs) ? { denyCidrs: x.denyCidrs!.map((c) => c.toLowerCase()) } : {}),
      ...(given(x.referers)
        ? { referers: { allow: x.referers!.allow.map(normalizeRefererHost), ...(given(x.referers!.allowEmpty) ? { allowEmpty: x.referers!.allowEmpty } : {}) } }
        : {}),
      ...(given(x.signedUrl) ? { signedUrl: x.signedUrl } : {}),
      ...(given(x.rateLimit) ? { rateLimit: { perSecond: x.rateLimit!.perSecond, burst: x.rateLimit!.burst } } : {}),
    };
  }
  if (given(a.redirect)) out.redirect = { status: a.redirect!.status, location: a.redirect!.location };
  return out;
}
