
/**
 * The cache key: customer id first, so no customer can ever address another's object
 * (ids are slugs and never contain "\n"); one definition with the api's explainRequest
 * (core/delivery-key.ts). Callers pass the query through the delivery rules' query policy.
 */
export { cacheKey } from '../../core/delivery-key';

/** Splits a request target (`/a/b?x=1`) into path and query without a URL parser. */
export function splitTarget(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  return q < 0 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q + 1) };
}

/** The customer id a key belongs to. */
export function customerOfKey(key: string): string {
  return key.slice(0, key.indexOf('\n'));
}

/**
 * The key of one variant of a URL whose response varies (RFC 9111 §4.1): the URL's key,
 * then an id derived from the varied request header values. Sorted right after the URL's
 * own key, so a prefix range over keys still covers every variant.
 */
export function variantKey(key: string, variantId: string): string {
  return `${key}\n${variantId}`;
}

/**
 * The key of an encoded copy of a stored body (the edge's own brotli or gzip of it): the
 * object's key (a URL's or a Vary variant's), then `~<coding>`. Like a Vary variant it sorts
 * right after the object's key, so a URL purge (which removes `<key>` and `<key>\n…`), a prefix
 * range and the lurker cover it; `~` never begins a variant id (base64url), so the two never meet.
 */
export function encodedKey(objectKey: string, coding: 'br' | 'gzip'): string {
  return variantKey(objectKey, `~${coding}`);
}

/** Whether a key (or its `path?query…` rest) is an encoded copy's. */
export function isEncodedRest(rest: string): boolean {
  return rest.endsWith('\n~br') || rest.endsWith('\n~gzip');
}
