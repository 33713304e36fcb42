/**
 * Client preconditions answered by the edge from the response it is about to send (RFC 9110
 * §13): a stored or freshly fetched 2xx is compared with If-Match, If-Unmodified-Since,
 * If-None-Match and If-Modified-Since, in the order of §13.2.2.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { StoredHeaders } from '../cache/cache-store.port';

type Outcome = 200 | 304 | 412;

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Entity-tags of a list field; `*` as itself (RFC 9110 §8.8.3). */
function entityTags(value: string): string[] {
  if (value.trim() === '*') return ['*'];
  return value.match(/(?:W\/)?"[^"]*"/g) ?? [];
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** RFC 9110 §8.8.3.2 strong comparison: both strong and identical. */
export function strongMatch(a: string, b: string): boolean {
  return !a.startsWith('W/') && !b.startsWith('W/') && a === b;
}

/** RFC 9110 §8.8.3.2 weak comparison: identical opaque tags. */
export function weakMatch(a: string, b: string): boolean {
  return opaque(a) === opaque(b);
}

function httpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  return Number.isFinite(t) ? t : undefined;
}

/** RFC 9110 §13.2.2: evaluate the preconditions of a GET/HEAD against a 2xx response. */
export function evaluatePreconditions(req: IncomingHttpHeaders, res: StoredHeaders): Outcome {
  const etag = one(res.etag);
  const lastModified = httpDate(one(res['last-modified']));
  const ifMatch = one(req['if-match']);
  if (ifMatch !== undefined) {
    // §13.1.1: strong comparison; `*` matches any current representation.
    const tags = entityTags(ifMatch);
    if (!tags.includes('*') && (etag === undefined || !tags.some((t) => strongMatch(t, etag)))) return 412;
  } else {
    // §13.1.4: only without If-Match.
    const since = httpDate(one(req['if-unmodified-since']));
    if (since !== undefined && lastModified !== undefined && lastModified > since) return 412;
  }
  const ifNoneMatch = one(req['if-none-match']);
  if (ifNoneMatch !== undefined) {
    // §13.1.2: weak comparison; a match means 304 for GET and HEAD.
    const tags = entityTags(ifNoneMatch);
    if (tags.includes('*') || (etag !== undefined && tags.some((t) => weakMatch(t, etag)))) return 304;
    return 200;
  }
  // §13.1.3: If-Modified-Since only without If-None-Match.
  const since = httpDate(one(req['if-modified-since']));
  if (since !== undefined && lastModified !== undefined && lastModified <= since) return 304;
  return 200;
}

/** RFC 9110 §15.4.5: the fields a 304 carries (plus the edge's own, added at delivery). */
const NOT_MODIFIED_FIELDS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified', 'age'];

export function notModifiedHeaders(headers: StoredHeaders): StoredHeaders {
  const out: StoredHeaders = {};
  for (const name of NOT_MODIFIED_FIELDS) {
    const v = headers[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/**
 * RFC 9110 §13.1.5 If-Range: the Range applies only when the validator still matches the
 * representation (an entity-tag by strong comparison, a date by exact Last-Modified).
 */
export function ifRangeMatches(ifRange: string | undefined, res: StoredHeaders): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  const etag = one(res.etag);
  if (value.startsWith('"') || value.startsWith('W/')) return etag !== undefined && strongMatch(value, etag);
  const date = httpDate(value);
  const lastModified = httpDate(one(res['last-modified']));
  return date !== undefined && lastModified !== undefined && date === lastModified;
}
