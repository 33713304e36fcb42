/**
 * The `kind` of a failed origin request, for cdn_edge_origin_errors_total: what undici,
 * the connector or the body stream threw, looked for through wrapped causes (undici wraps
 * socket errors; autoSelectFamily throws an AggregateError of every address tried).
 * A 5xx answer is not a thrown error: the meter counts it from the status. An origin the SSRF
 * guard refused (no connection made) is `forbidden_address`.
 */
import type { OriginErrorKind } from '../metrics.catalog';
import { ForbiddenAddressError } from '../origin/address-guard';

const KIND_BY_CODE: Readonly<Record<string, OriginErrorKind>> = {
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ETIMEDOUT: 'timeout',
  CDN_ERR_ORIGIN_TIMEOUT: 'timeout',
  CDN_ERR_ORIGIN_FORBIDDEN_ADDRESS: 'forbidden_address',
  ECONNREFUSED: 'refused',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  UND_ERR_SOCKET: 'reset',
  EDGE_BODY_ABORTED: 'reset',
};

export function originFailureKind(err: unknown, depth = 0): OriginErrorKind {
  if (typeof err !== 'object' || err === null || depth > 3) return 'other';
  // Refused by the SSRF guard before any connection: the address is in the warning log, the count here.
  if (err instanceof ForbiddenAddressError) return 'forbidden_address';
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  const kind = typeof e.code === 'string' ? KIND_BY_CODE[e.code] : undefined;
  if (kind !== undefined) return kind;
  for (const inner of [e.cause, ...(Array.isArray(e.errors) ? (e.errors as unknown[]) : [])]) {
    const found = originFailureKind(inner, depth + 1);
    if (found !== 'other') return found;
  }
  return 'other';
}
