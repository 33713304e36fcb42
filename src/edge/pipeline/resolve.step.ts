/**
 * Step `resolve`: which customer is this request for? Only the Host header counts
 * (RFC 9110 §7.2), or on h2 the `:authority` pseudo-header that takes its place (RFC 9113
 * §8.3.1); X-Forwarded-Host is client-controlled and never used for routing. An
 * absolute-form target (RFC 9112 §3.2.2) must name the same host.
 */
import { normalizeHostname } from '../../core/customer.rules';
import { cdnError } from '../../core/errors';
import { parseHostHeader, requestHost, type HostParse } from '../../core/host.rules';
import { splitTarget } from '../cache/cache-key';
import type { EdgeTransaction, PipelineContext, StepName } from './transaction';

export function resolveStep(tx: EdgeTransaction, ctx: PipelineContext): StepName {
  const parsed = tx.transport === 'h2' ? authorityOf(tx.req.rawHeaders) : requestHost(tx.req.rawHeaders, tx.req.headers.host);
  if (!parsed.ok) return badHost(tx, parsed.reason);
  tx.host = parsed.host;

  const target = tx.req.url ?? '/';
  if (target.startsWith('/')) {
    const { path, query } = splitTarget(target);
    tx.path = path;
    tx.query = query;
  } else {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return badHost(tx, `the request target "${target.slice(0, 100)}" is neither a path nor an absolute URL`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || normalizeHostname(url.hostname) !== tx.host) {
      return badHost(tx, `the request target names "${url.host}" but the Host header names "${tx.host}"`);
    }
    tx.path = url.pathname;
    tx.query = url.search.slice(1);
  }

  const customer = ctx.customers.byHost(tx.host);
  if (customer === undefined) {
    if (!ctx.customers.isReady()) return tx.synth(cdnError('CDN_ERR_EDGE_NOT_READY'));
    return tx.synth(cdnError('CDN_ERR_EDGE_UNKNOWN_HOST', tx.host), { host: tx.host });
  }
  tx.customer = customer;
  tx.cacheable = tx.req.method === 'GET' || tx.req.method === 'HEAD';
  // The customer's HTTPS rules come first: an ACME challenge or a redirect is answered before
  // the delivery rules shape the query (a redirect keeps the target as the client sent it).
  return 'https';
}


/**
 * The host of an h2 request: `:authority` (nghttp2 refuses a repeated pseudo-header), else a
 * Host field as on HTTP/1 (RFC 9113 §8.3.1 allows either). Both present must name the same
 * host; two Host fields are refused as on HTTP/1.
 */
function authorityOf(rawHeaders: readonly string[]): HostParse {
  let authority: string | undefined;
  let host: string | undefined;
  let hosts = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name === ':authority') authority = rawHeaders[i + 1];
    else if (name.length === 4 && name.toLowerCase() === 'host') {
      hosts += 1;
      host = rawHeaders[i + 1];
    }
  }
  if (hosts > 1) return { ok: false, reason: 'the request has more than one Host header' };
  if (authority === undefined) return parseHostHeader(host);
  const parsed = parseHostHeader(authority);
  if (!parsed.ok || host === undefined) return parsed;
  const other = parseHostHeader(host);
  if (!other.ok || other.host !== parsed.host) return { ok: false, reason: `the :authority names "${authority}" but the Host header names "${host}"` };
  return parsed;
}

function badHost(tx: EdgeTransaction, why: string): 'synth' {
  return tx.synth(cdnError('CDN_ERR_EDGE_BAD_HOST', why));
}
