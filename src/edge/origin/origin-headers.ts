/**
 * Header rules between client, edge and origin. RFC 9110 §7.6.1: hop-by-hop fields (and
 * any the Connection field names) are not forwarded, in either direction. The origin gets
 * its own Host, X-Forwarded-*, Via (RFC 9110 §7.6.3), and the customer's Basic Auth in
 * place of any client Authorization; without one, the client's Authorization is forwarded
 * (RFC 9111 §3.5 then decides whether the answer may be stored). The edge's own fields
 * are set after the client's are filtered, so no Connection token can remove them.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { StoredHeaders } from '../cache/cache-store.port';
import type { OriginTarget } from './origin-target';

export const VIA = '1.1 edgeplane';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization']);

/**
 * Dropped on every origin request: replaced by the edge, or would change the stored bytes
 * (the edge stores identity bodies: no Accept-Encoding, so no Content-Encoding variants).
 */
const REPLACED_TO_ORIGIN = new Set(['host', 'authorization', 'accept-encoding', 'x-forwarded-host', 'x-forwarded-proto', 'via', 'x-forwarded-for', 'content-length', 'cdn-loop']);

/**
 * RFC 9213 §2.1: CDN-Cache-Control is for this cache (it decides freshness here) and is
 * not passed on to clients.
 */
const CONSUMED_FROM_ORIGIN = new Set(['cdn-cache-control']);

/**
 * Dropped on cacheable fetches so the stored object is the whole 200 (RFC 9110 §13.1 and
 * §14.2 let a server ignore conditionals and Range): the edge answers the client's
 * conditionals and ranges itself and sends its own validators when it revalidates.
 */
const PARTIAL_OR_CONDITIONAL = new Set(['range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since']);

export interface OriginHeaderContext {
  target: OriginTarget;
  /** The Host the client sent. */
  clientHost: string;
  clientIp: string | undefined;
  /** True for a fetch whose answer may be stored (GET/HEAD). */
  cacheable: boolean;
  /** Conditional headers the edge adds to revalidate a stored object (RFC 9111 §4.3.1). */
  validators?: Record<string, string>;
  /** This CDN's CDN-Loop name (RFC 8586), appended to the client's field. */
  cdnId: string;
}

export function originRequestHeaders(headers: IncomingHttpHeaders, ctx: OriginHeaderContext): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const named = connectionTokens(headers.connection);
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || name.startsWith('proxy-') || REPLACED_TO_ORIGIN.has(name)) continue;
    if (named !== undefined && named.has(name)) continue;
    if (ctx.cacheable && PARTIAL_OR_CONDITIONAL.has(name)) continue;
    out[name] = value;
  }
  out.host = ctx.target.hostHeader;
  if (ctx.validators !== undefined) Object.assign(out, ctx.validators);
  if (ctx.target.authorization) {
    out.authorization = ctx.target.authorization;
  } else if (headers.authorization !== undefined && (named === undefined || !named.has('authorization'))) {
    // The client's own credentials: RFC 9111 §3.5 keeps the answer out of the shared cache
    // unless the origin marks it public, s-maxage or must-revalidate.
    out.authorization = headers.authorization;
  }
  if (!ctx.cacheable && headers['content-length'] !== undefined) out['content-length'] = headers['content-length'];
  const xff = headers['x-forwarded-for'];
  const prior = Array.isArray(xff) ? xff.join(', ') : xff;
  if (ctx.clientIp !== undefined) out['x-forwarded-for'] = prior ? `${prior}, ${ctx.clientIp}` : ctx.clientIp;
  else if (prior) out['x-forwarded-for'] = prior;
  out['x-forwarded-host'] = ctx.clientHost;
  out['x-forwarded-proto'] = 'http';
  const via = headers.via;
  out.via = via ? `${Array.isArray(via) ? via.join(', ') : via}, ${VIA}` : VIA;
  // RFC 8586: an origin that leads back to an edge is caught there (508) instead of looping.
  const loop = headers['cdn-loop'];
  out['cdn-loop'] = loop ? `${Array.isArray(loop) ? loop.join(', ') : loop}, ${ctx.cdnId}` : ctx.cdnId;
  return out;
}

/** The origin's response headers minus hop-by-hop ones and CDN-Cache-Control: what is stored and replayed. */
export function endToEndResponseHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): StoredHeaders {
  const out: StoredHeaders = {};
  const named = connectionTokens(headers.connection);
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || CONSUMED_FROM_ORIGIN.has(name) || (named !== undefined && named.has(name))) continue;
    out[name] = value;
  }
  return out;
}

function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const tokens = (Array.isArray(value) ? value.join(',') : value).split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
  return tokens.length === 0 ? undefined : new Set(tokens);
}
