import type { QueryStringPolicy } from '../../core/customer.types';

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

/**
 * The query string as the customer's policy wants it in the key (and at the origin):
 * `keep` sorts parameters by name (stable, so repeated names keep their order),
 * `ignore` drops it, `allowlist` keeps only the named parameters, sorted.
 */
export function normalizeQuery(query: string, policy: QueryStringPolicy | undefined): string {
  const mode = policy?.mode ?? 'keep';
  if (mode === 'ignore' || query === '') return '';
  // One parameter kept as it is: nothing to drop or sort (the hit path's common case).
  if (mode === 'keep' && !query.includes('&')) return query;
  const params = query.split('&').filter((p) => p !== '');
  const kept = mode === 'allowlist' ? params.filter((p) => policy!.allow.includes(paramName(p))) : params;
  return kept
    .map((p, i) => ({ p, i, name: paramName(p) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.i - b.i))
    .map((x) => x.p)
    .join('&');
}

function paramName(param: string): string {
  const eq = param.indexOf('=');
  const raw = (eq < 0 ? param : param.slice(0, eq)).replace(/\+/g, ' ');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
