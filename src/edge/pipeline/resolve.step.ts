/**
 * Step `resolve`: which customer is this request for? Only the Host header counts
 * (RFC 9110 §7.2); X-Forwarded-Host is client-controlled and never used for routing.
 * An absolute-form target (RFC 9112 §3.2.2) must name the same host.
 */
import { normalizeHostname } from '../../core/customer.rules';
import { cdnError } from '../../core/errors';
import { requestHost } from '../../core/host.rules';
import { normalizeQuery, splitTarget } from '../cache/cache-key';
import type { EdgeTransaction, PipelineContext, StepName } from './transaction';

export function resolveStep(tx: EdgeTransaction, ctx: PipelineContext): StepName {
  const parsed = requestHost(tx.req.rawHeaders, tx.req.headers.host);
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
  // The customer's query-string policy shapes both the cache key and the origin request.
  tx.query = normalizeQuery(tx.query, customer.queryString);
  tx.cacheable = tx.req.method === 'GET' || tx.req.method === 'HEAD';
  return tx.cacheable ? 'lookup' : 'pass';
}

function badHost(tx: EdgeTransaction, why: string): 'synth' {
  return tx.synth(cdnError('CDN_ERR_EDGE_BAD_HOST', why));
}
