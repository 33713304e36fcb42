/**
 * The cache key as the delivery rules shape it: the customer id first (no customer can ever
 * address another's object: ids are slugs and never contain "\n"), then the path and the
 * query as the rule's query policy leaves it, then, when a rule adds request headers or
 * cookies to the key, a digest of their values. Everything after the URL's own key is joined
 * with "\n", so it sorts right after it and a URL purge (a range over the URL's key and what
 * follows "\n") covers every object the rules split a URL into, as it covers Vary variants.
 * The edge and the api's explainRequest build keys here, so they cannot disagree.
 */
import { createHash } from 'node:crypto';

/** The URL's key: customer, path, normalised query. */
export function cacheKey(customerId: string, path: string, query: string): string {
  return `${customerId}\n${path}?${query}`;
}

/** What a request offers the key: its header values (lower-case names) and cookies. */
export interface KeyFacts {
  header(name: string): string | undefined;
  cookie(name: string): string | undefined;
}

/**
 * The values the key's extra fields take for this request, `name=value` in the rule's order
 * (`h:` headers, `c:` cookies; absent fields are empty), for explainRequest to show.
 */
export function keyParts(headers: readonly string[], cookies: readonly string[], facts: KeyFacts): string[] {
  return [...headers.map((h) => `h:${h}=${facts.header(h) ?? ''}`), ...cookies.map((c) => `c:${c}=${facts.cookie(c) ?? ''}`)];
}

/**
 * The URL's key extended by the extra fields' values: a SHA-256 digest of them (base64url),
 * so a long cookie cannot make a key longer than the index allows, and no value, however
 * crafted, can imitate another key's structure.
 */
export function keyWithParts(urlKey: string, parts: readonly string[]): string {
  if (parts.length === 0) return urlKey;
  return `${urlKey}\n#${createHash('sha256').update(parts.join('\n')).digest('base64url')}`;
}
