/**
 * RFC 9111 §4.1: a response with Vary is stored once per combination of the request
 * header values it names. Under the URL's key the edge keeps a bodyless marker naming the
 * varied headers (ObjectMeta.vary); each variant lives under variantKey(key, id), id being
 * a hash of the normalised values. The marker carries an epoch that its variants repeat,
 * so deleting or replacing the marker retires every variant at once.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Headers } from './freshness.rules';

/**
 * Request headers that cannot change what the origin sends, because the edge never
 * forwards them: the origin always gets an identity request (no Accept-Encoding), so
 * `Vary: Accept-Encoding` would only split one object into copies.
 */
const NOT_FORWARDED = new Set(['accept-encoding']);

/**
 * The header names a response varies on (lower-case, sorted, unique); `*` is handled by
 * isVaryStar. A CORS answer that allows one origin (Access-Control-Allow-Origin other than
 * `*`) was chosen by the request's Origin whether or not the origin server says so: it
 * varies on Origin (the Fetch standard asks servers for `Vary: Origin` there), or the answer
 * for one site would be served to every other.
 *
 * Limitation: an origin that grants CORS only when asked, without `Vary: Origin`, may have an
 * answer to a request without Origin (no grant) served to CORS requests until it expires;
 * that withholds a grant, it never hands one to the wrong site.
 */
export function varyNames(headers: Headers, markerNames?: readonly string[]): string[] {
  const raw = headers.vary;
  const value = Array.isArray(raw) ? raw.join(',') : raw;
  const names = new Set<string>();
  for (const part of (value ?? '').split(',')) {
    const name = part.trim().toLowerCase();
    if (name !== '' && name !== '*' && !NOT_FORWARDED.has(name)) names.add(name);
  }
  // Once a URL is known to vary on Origin it keeps doing so (its answer without a grant is
  // one variant), or the answers with and without Origin would replace each other's marker.
  if (allowsOneOrigin(headers) || markerNames?.includes('origin') === true) names.add('origin');
  return [...names].sort();
}

function allowsOneOrigin(headers: Headers): boolean {
  const raw = headers['access-control-allow-origin'];
  if (raw === undefined) return false;
  return (Array.isArray(raw) ? raw.join(',') : raw).trim() !== '*';
}

/** The Vary field sent with a stored answer: the origin's, plus Origin when the edge keys on it (so browsers key on it too). */
export function varyField(headers: Headers, names: readonly string[]): string | string[] | undefined {
  const raw = headers.vary;
  if (!names.includes('origin')) return raw;
  const value = Array.isArray(raw) ? raw.join(', ') : raw;
  if (value !== undefined && value.split(',').some((n) => n.trim().toLowerCase() === 'origin')) return raw;
  return value === undefined || value.trim() === '' ? 'Origin' : `${value}, Origin`;
}

/**
 * RFC 9111 §4.1: values match after normalising whitespace around commas and runs of
 * spaces (the field's syntax allows both); an absent header differs from an empty one.
 */
export function variantId(names: readonly string[], requestHeaders: Headers): string {
  const hash = createHash('sha256');
  for (const name of names) {
    const raw = requestHeaders[name];
    const value = raw === undefined ? '\u0000absent' : (Array.isArray(raw) ? raw.join(',') : raw).trim().replace(/\s*,\s*/g, ',').replace(/\s+/g, ' ');
    hash.update(name).update('\u0000').update(value).update('\u0001');
  }
  return hash.digest('base64url').slice(0, 22);
}

export function newVaryEpoch(): string {
  return randomBytes(8).toString('base64url');
}
