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

/** The header names a response varies on (lower-case, sorted, unique); `*` is handled by isVaryStar. */
export function varyNames(headers: Headers): string[] {
  const raw = headers.vary;
  const value = Array.isArray(raw) ? raw.join(',') : raw;
  if (value === undefined) return [];
  const names = new Set<string>();
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name !== '' && name !== '*' && !NOT_FORWARDED.has(name)) names.add(name);
  }
  return [...names].sort();
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
