/**
 * The cache key: customer id first, so no customer can ever address another's object
 * (ids are slugs and never contain "\n"). The query string is kept as sent for now; a
 * later issue normalises it per customer option and adds the Vary'ed headers.
 */
export function cacheKey(customerId: string, path: string, query: string): string {
  return `${customerId}\n${path}?${query}`;
}

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
