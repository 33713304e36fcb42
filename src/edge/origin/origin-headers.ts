/**
 * Header rules between client, edge and origin. RFC 9110 §7.6.1: hop-by-hop fields (and
 * any the Connection field names) are not forwarded. The origin gets its own Host,
 * X-Forwarded-*, Via (RFC 9110 §7.6.3), and the customer's Basic Auth in place of any
 * client Authorization.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { StoredHeaders } from '../cache/cache-store.port';
import type { OriginTarget } from './origin-target';

export const VIA = '1.1 edgeplane';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization']);

/** Dropped on every origin request: replaced by the edge, or would change the stored bytes. */
const REPLACED_TO_ORIGIN = new Set(['host', 'authorization', 'accept-encoding', 'x-forwarded-host', 'x-forwarded-proto', 'via', 'x-forwarded-for', 'content-length']);

/**
 * Dropped on cacheable fetches so the stored object is the whole 200 (RFC 9110 §13.1 and
 * §14.2 let a server ignore conditionals and Range); revalidation and Range from cache
 * come later.
 */
const PARTIAL_OR_CONDITIONAL = new Set(['range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since']);

export interface OriginHeaderContext {
  target: OriginTarget;
  /** The Host the client sent. */
  clientHost: string;
  clientIp: string | undefined;
  /** True for a fetch whose answer may be stored (GET/HEAD). */
  cacheable: boolean;
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
  if (ctx.target.authorization) {
    out.authorization = ctx.target.authorization;
  } else if (!ctx.cacheable && headers.authorization !== undefined) {
    // Passed (never stored) requests may carry the client's own credentials; cacheable
    // ones never do, so one user's credentials cannot shape a shared object.
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
  return out;
}

/** The origin's response headers minus hop-by-hop ones: what is stored and replayed. */
export function endToEndResponseHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): StoredHeaders {
  const out: StoredHeaders = {};
  const named = connectionTokens(headers.connection);
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || (named !== undefined && named.has(name))) continue;
    out[name] = value;
  }
  return out;
}

function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const tokens = (Array.isArray(value) ? value.join(',') : value).split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
  return tokens.length === 0 ? undefined : new Set(tokens);
}
