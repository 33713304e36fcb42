/**
 * When the edge may store a response and whether a stored one is still fresh.
 * First version: freshness is the customer's cacheTtl; full RFC 9111 (origin max-age,
 * validators, stale-*) comes with http-cache-semantics in a later issue.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ObjectMeta } from './cache-store.port';

/** RFC 9111 §3: a shared cache stores only what it understands; here, 200 to GET. */
export function isStorableStatus(status: number): boolean {
  return status === 200;
}

/** RFC 9111 §3 + §5.2.2.5 (no-store) + §5.2.2.7 (private, shared caches); Set-Cookie is per-user. */
export function isStorableResponse(status: number, headers: IncomingHttpHeaders, ttlSeconds: number): boolean {
  if (ttlSeconds <= 0 || !isStorableStatus(status)) return false;
  if (headers['set-cookie'] !== undefined) return false;
  const cc = headers['cache-control'];
  if (cc === undefined) return true;
  const value = Array.isArray(cc) ? cc.join(',') : cc;
  return !hasDirective(value, 'no-store') && !hasDirective(value, 'private');
}

/** RFC 9111 §4.2: fresh while its age is below its freshness lifetime. */
export function isFresh(meta: ObjectMeta, now: number): boolean {
  return meta.storedAt + meta.ttl * 1000 > now;
}

/** RFC 9111 §5.1 Age: whole seconds since the edge stored it (never negative). */
export function ageSeconds(meta: ObjectMeta, now: number): number {
  return Math.max(0, Math.floor((now - meta.storedAt) / 1000));
}

/** Cache-Control directive names are case-insensitive tokens (RFC 9111 §5.2). */
export function hasDirective(cacheControl: string, name: string): boolean {
  for (const part of cacheControl.split(',')) {
    const eq = part.indexOf('=');
    const directive = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (directive === name) return true;
  }
  return false;
}
