/**
 * Turns what undici and the connector throw into catalog errors the client sees:
 * unreachable (502), too slow (504) or a forbidden address (502, without the address).
 */
import { CdnError } from '../../core/errors';
import { ForbiddenAddressError } from './address-guard';

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

export function originError(err: unknown, customerId: string): CdnError {
  if (err instanceof CdnError) return err;
  // The client's answer names neither the origin host nor the address it resolved to: that
  // would map the inside of the network for anyone. The warning the pipeline logs names both.
  if (findForbidden(err) !== undefined) return new CdnError('CDN_ERR_ORIGIN_FORBIDDEN_ADDRESS', [customerId], { customerId });
  const code = String((err as { code?: unknown })?.code ?? '');
  if (TIMEOUT_CODES.has(code)) return new CdnError('CDN_ERR_ORIGIN_TIMEOUT', [customerId], { customerId });
  const why = code !== '' ? code : err instanceof Error ? err.message : 'unknown error';
  return new CdnError('CDN_ERR_ORIGIN_UNREACHABLE', [customerId, why], { customerId });
}

/** undici may wrap the connector's error (AggregateError from autoSelectFamily, `cause`). */
export function findForbidden(err: unknown, depth = 0): ForbiddenAddressError | undefined {
  if (err instanceof ForbiddenAddressError) return err;
  if (depth > 3 || typeof err !== 'object' || err === null) return undefined;
  const e = err as { cause?: unknown; errors?: unknown[] };
  for (const inner of [e.cause, ...(Array.isArray(e.errors) ? e.errors : [])]) {
    const found = findForbidden(inner, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}
