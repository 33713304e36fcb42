/**
 * What a request asks of the origin when it starts a fetch (fetch.flight.ts's FlightRequest):
 * its key, the URL it has at the origin, its headers and client, and the stale object it may
 * revalidate. Shared by the `fetch` step and the background refresh of the `stale` step.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { variantRequestHeaders } from '../origin/origin-headers';
import type { FlightRequest } from './fetch.flight';
import type { EdgeTransaction, PipelineContext } from './transaction';

export function flightRequest(tx: EdgeTransaction, ctx: PipelineContext): FlightRequest {
  const customer = tx.customer!;
  return {
    key: tx.key,
    collapseKey: tx.variantKey ?? tx.key,
    markerVary: tx.markerVary,
    customer,
    path: originPath(tx),
    requestHeaders: tx.req.headers,
    domain: tx.host,
    clientIp: tx.clientAddress,
    proto: tx.proto,
    decision: tx.decision,
    headersRead: headersReadOf(tx, ctx),
    stale: tx.stored !== undefined && tx.policy !== undefined ? { meta: tx.stored.meta, policy: tx.policy, objectKey: tx.variantKey ?? tx.key } : undefined,
  };
}

/** The request's fields as its origin request carries them: what its variant is chosen by (origin-headers.ts). */
export function variantHeadersOf(tx: EdgeTransaction): IncomingHttpHeaders {
  return variantRequestHeaders(tx.req.headers, { domain: tx.host, clientIp: tx.clientAddress, proto: tx.proto });
}

/** The fields the customer's rules read: a fill sent to a shield carries them (edge/shield). */
function headersReadOf(tx: EdgeTransaction, ctx: PipelineContext): readonly string[] {
  const rules = ctx.rules(tx.customer!);
  return 'failed' in rules ? NONE : rules.compiled.headersRead;
}

const NONE: readonly string[] = Object.freeze([]);

/** The request's path and normalised query at the origin (askOrigin puts the chosen origin's path in front). */
export function originPath(tx: EdgeTransaction): string {
  return tx.path + (tx.query === '' ? '' : `?${tx.query}`);
}
