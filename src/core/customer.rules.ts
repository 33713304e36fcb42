/**
 * Validation rules for customer input, shared by every entry point (GraphQL, the
 * standalone customers.json, the demo). Each rule returns problems instead of throwing,
 * so a caller can report every bad field at once.
 */
import { isIP } from 'node:net';
import type { FieldProblem } from './errors';
import {
  CACHE_TTL_MAX,
  CUSTOMER_ID_MAX,
  CUSTOMER_NAME_MAX,
  DOMAINS_MAX,
  ORIGIN_URL_MAX,
  STALE_IF_ERROR_MAX,
  type QueryStringMode,
  type QueryStringPolicy,
} from './customer.types';
import { checkText } from './text.rules';

const SLUG = /^[a-z0-9][a-z0-9-]*$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export function checkCustomerId(id: string, field = 'id'): FieldProblem[] {
  if (id.length === 0) return [{ field, message: 'must not be empty' }];
  if (id.length > CUSTOMER_ID_MAX) {
    return [{ field, message: `must be at most ${CUSTOMER_ID_MAX} characters (got ${id.length})` }];
  }
  if (!SLUG.test(id)) {
    return [{ field, message: `"${id}" is not a slug: use lower-case letters, digits and "-", starting with a letter or digit` }];
  }
  return [];
}

export function checkCustomerName(name: string, field = 'name'): FieldProblem[] {
  // Checked before trimming: a control character is refused wherever it is.
  const text = checkText(name, field);
  if (text.length > 0) return text;
  const trimmed = name.trim();
  if (trimmed.length === 0) return [{ field, message: 'must not be empty' }];
  if (trimmed.length > CUSTOMER_NAME_MAX) {
    return [{ field, message: `must be at most ${CUSTOMER_NAME_MAX} characters` }];
  }
  return [];
}

/**
 * Lower-cases a hostname and drops one trailing dot. Does not validate: see checkHostname.
 */
export function normalizeHostname(hostname: string): string {
  const lower = hostname.trim().toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** A DNS hostname a customer can point at the CDN (no IP literals, no ports, no wildcards). */
export function checkHostname(hostname: string, field: string): FieldProblem[] {
  const host = normalizeHostname(hostname);
  const problem = (message: string): FieldProblem[] => [{ field, message: `"${hostname}" ${message}` }];
  const text = checkText(hostname, field);
  if (text.length > 0) return text;
  if (host.length === 0) return [{ field, message: 'must not be empty' }];
  if (host.length > 253) return problem('is longer than 253 characters');
  if (isIP(host) !== 0 || host.startsWith('[')) return problem('is an IP address; use a host name');
  if (host.includes(':')) return problem('must not contain a port');
  const labels = host.split('.');
  if (labels.length < 2) return problem('must have at least two labels, such as cdn.example.com');
  if (!labels.every((l) => LABEL.test(l))) {
    return problem('is not a valid host name (letters, digits and "-" in dot-separated labels of at most 63)');
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return problem('must not end in a numeric label');
  return [];
}

export function checkDomains(domains: string[], field = 'domains'): FieldProblem[] {
  if (domains.length === 0) return [{ field, message: 'must list at least one domain' }];
  if (domains.length > DOMAINS_MAX) return [{ field, message: `must list at most ${DOMAINS_MAX} domains` }];
  const problems = domains.flatMap((d, i) => checkHostname(d, `${field}[${i}]`));
  const seen = new Map<string, number>();
  domains.forEach((d, i) => {
    const n = normalizeHostname(d);
    const first = seen.get(n);
    if (first !== undefined) {
      problems.push({ field: `${field}[${i}]`, message: `"${d}" repeats ${field}[${first}]` });
    } else {
      seen.set(n, i);
    }
  });
  return problems;
}

export function checkOriginUrl(value: string, field = 'originUrl'): FieldProblem[] {
  if (value.length > ORIGIN_URL_MAX) return [{ field, message: `must be at most ${ORIGIN_URL_MAX} characters` }];
  // The URL parser would drop tabs and line breaks and percent-encode other controls: refuse them instead.
  const text = checkText(value, field);
  if (text.length > 0) return text;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return [{ field, message: `"${value}" is not an absolute URL such as https://origin.example.com` }];
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return [{ field, message: `must use http or https, not ${url.protocol.replace(':', '')}` }];
  }
  if (url.username !== '' || url.password !== '') {
    return [{ field, message: 'must not contain credentials; set basicAuth { username password } instead' }];
  }
  if (url.search !== '' || url.hash !== '') {
    return [{ field, message: 'must not contain a query string or fragment' }];
  }
  if (url.hostname === '') return [{ field, message: 'must name a host' }];
  return [];
}

/** Canonical form stored and compared: no trailing slash on the path. */
export function normalizeOriginUrl(value: string): string {
  const url = new URL(value);
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.protocol}//${url.host}${path}`;
}

export function checkCacheTtl(ttl: number, field = 'cacheTtl'): FieldProblem[] {
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > CACHE_TTL_MAX) {
    return [{ field, message: `must be a whole number of seconds from 0 to ${CACHE_TTL_MAX} (one year), got ${ttl}` }];
  }
  return [];
}

export function checkBasicAuth(
  auth: { username: string; password: string },
  field = 'basicAuth',
): FieldProblem[] {
  // RFC 7617 §2: neither the user-id nor the password may contain control characters.
  const problems: FieldProblem[] = [...checkText(auth.username, `${field}.username`), ...checkText(auth.password, `${field}.password`)];
  if (auth.username.length === 0) problems.push({ field: `${field}.username`, message: 'must not be empty' });
  if (auth.username.includes(':')) problems.push({ field: `${field}.username`, message: 'must not contain ":"' });
  if (auth.username.length > 255) problems.push({ field: `${field}.username`, message: 'must be at most 255 characters' });
  if (auth.password.length === 0) problems.push({ field: `${field}.password`, message: 'must not be empty' });
  if (auth.password.length > 1024) problems.push({ field: `${field}.password`, message: 'must be at most 1024 characters' });
  return problems;
}

export const CACHE_QUOTA_MIN_BYTES = 1024 ** 2;
/** 1 PiB: far above any one disk, and still well inside Number.MAX_SAFE_INTEGER (2^53). */
export const CACHE_QUOTA_MAX_BYTES = 1024 ** 5;
export const QUERY_STRING_MODES: readonly QueryStringMode[] = ['keep', 'ignore', 'allowlist'];
export const QUERY_ALLOW_MAX = 100;
export const QUERY_PARAM_NAME_MAX = 256;

/** null means "no quota of its own" and is always valid. */
export function checkCacheQuota(bytes: number | null, field = 'cacheQuotaBytes'): FieldProblem[] {
  if (bytes === null) return [];
  if (!Number.isSafeInteger(bytes) || bytes < CACHE_QUOTA_MIN_BYTES || bytes > CACHE_QUOTA_MAX_BYTES) {
    return [{
      field,
      message: `must be a whole number of bytes from ${CACHE_QUOTA_MIN_BYTES} (1 MiB) to ${CACHE_QUOTA_MAX_BYTES} (1 PiB), got ${bytes}; use null for no quota`,
    }];
  }
  return [];
}

/** null means "off" (only the origin's stale-if-error applies) and is always valid. */
export function checkStaleIfError(value: number | null, field = 'staleIfErrorSeconds'): FieldProblem[] {
  if (value === null) return [];
  if (!Number.isInteger(value) || value < 0 || value > STALE_IF_ERROR_MAX) {
    return [{ field, message: `must be a whole number of seconds from 0 to ${STALE_IF_ERROR_MAX} (one week), got ${value}; use null to turn it off` }];
  }
  return [];
}

/**
 * `allow` names query parameters as the edge compares them: after percent-decoding
 * (normalizeQuery decodes each name), so `a%20b` in a request matches "a b" here.
 */
export function checkQueryString(policy: { mode: string; allow?: readonly string[] | null }, field = 'queryString'): FieldProblem[] {
  if (!(QUERY_STRING_MODES as readonly string[]).includes(policy.mode)) {
    return [{ field: `${field}.mode`, message: `"${policy.mode}" is not one of ${QUERY_STRING_MODES.join(', ')}` }];
  }
  const allow = policy.allow ?? [];
  const at = `${field}.allow`;
  if (policy.mode !== 'allowlist') {
    return allow.length === 0 ? [] : [{ field: at, message: `is only used with mode allowlist; leave it out (or empty) for mode ${policy.mode}` }];
  }
  if (allow.length === 0) return [{ field: at, message: 'must name at least one query parameter for mode allowlist' }];
  if (allow.length > QUERY_ALLOW_MAX) return [{ field: at, message: `must name at most ${QUERY_ALLOW_MAX} parameters (got ${allow.length})` }];
  const problems: FieldProblem[] = [];
  allow.forEach((name, i) => {
    const text = checkText(name, `${at}[${i}]`);
    if (name.length === 0) problems.push({ field: `${at}[${i}]`, message: 'must not be empty' });
    else if (text.length > 0) problems.push(...text);
    else if (name.length > QUERY_PARAM_NAME_MAX) {
      problems.push({ field: `${at}[${i}]`, message: `must be at most ${QUERY_PARAM_NAME_MAX} characters (got ${name.length})` });
    }
  });
  return problems;
}

/** The stored form of a policy that passed checkQueryString: `allow` deduplicated (first kept), empty unless allowlist. */
export function normalizeQueryString(policy: { mode: QueryStringMode; allow?: readonly string[] | null }): QueryStringPolicy {
  return { mode: policy.mode, allow: policy.mode === 'allowlist' ? [...new Set(policy.allow ?? [])] : [] };
}
