/**
 * Header rules between client, edge and origin.
 *
 * To the origin, by allow-list: a shared cache must not let one client's request shape an
 * answer that is then served to others, so a client field reaches the origin only when it
 * is one the origin must name in Vary if it uses it to choose content (RFC 9110 §12.5.5:
 * Accept, Accept-Language, User-Agent, Cookie, Origin, Referer), or when it decides
 * storing (Authorization, RFC 9111 §3.5). Framework override fields (X-Forwarded-*,
 * Forwarded, X-Original-URL, X-HTTP-Method-Override, ...) never pass: the edge sets the
 * forwarding fields itself from what it knows (RFC 7239) and names the customer's domain,
 * never the client's spelling of Host. A request that is never stored (a pass: any method
 * but GET/HEAD) also carries its body's framing and preconditions.
 *
 * Hop-by-hop fields (RFC 9110 §7.6.1) are never forwarded in either direction. Via and
 * CDN-Loop are chains (RFC 9110 §7.6.3, RFC 8586): the edge appends itself. The customer's
 * Basic Auth replaces any client Authorization.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isIPv6 } from 'node:net';
import { applyHeaderOps } from '../../core/delivery-rules.apply';
import type { HeaderOp } from '../../core/delivery-rules.types';
import type { StoredHeaders } from '../cache/cache-store.port';
import type { OriginTarget } from './origin-target';

export const VIA = '1.1 edgeplane';

/** HTTP2-Settings too: connection-specific (RFC 9113 §8.2.2), and h2 answers may not carry it. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'http2-settings']);

/**
 * Client fields forwarded on every origin request. An origin choosing content by one of
 * them must say so in Vary (RFC 9110 §12.5.5), which puts it in the cache key (vary.rules.ts;
 * a CORS answer is keyed on Origin even when the origin forgets to say so, see varyNames).
 * Authorization and Cookie are forwarded because a private answer needs them; whether that
 * answer may be stored is RFC 9111 §3.5 and freshness.rules.ts's personal-request rule.
 */
const FORWARDED_ALWAYS = new Set(['accept', 'accept-language', 'user-agent', 'cookie', 'origin', 'referer']);

/**
 * Also forwarded on a pass (never stored, so it only shapes its own answer): the body's
 * framing and the client's preconditions and ranges (RFC 9110 §8, §13, §14). On cacheable
 * fetches the edge answers preconditions and ranges itself from the whole stored object.
 */
const FORWARDED_ON_PASS = new Set([
  'content-type',
  'content-encoding',
  'content-language',
  'content-length',
  'range',
  'if-range',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
]);

/**
 * RFC 9213 §2.1: CDN-Cache-Control is for this cache (it decides freshness here) and is
 * not passed on to clients.
 */
const CONSUMED_FROM_ORIGIN = new Set(['cdn-cache-control']);

export interface OriginHeaderContext {
  target: OriginTarget;
  /** The customer's domain the client asked for, as the customer spelled it (normalised, no port). */
  domain: string;
  /** The client's address as the socket reports it (never a field the client wrote). */
  clientIp: string | undefined;
  /** True for a fetch whose answer may be stored (GET/HEAD). */
  cacheable: boolean;
  /** Conditional headers the edge adds to revalidate a stored object (RFC 9111 §4.3.1). */
  validators?: Record<string, string>;
  /** This CDN's CDN-Loop name (RFC 8586), appended to the client's field. */
  cdnId: string;
  /** The scheme the client used (X-Forwarded-Proto, Forwarded proto): https over the TLS port. Default http. */
  proto?: 'http' | 'https';
  /** The customer's delivery rules' origin field operations, applied last (Host, CDN-Loop and hop-by-hop fields are refused by their validation). */
  originOps?: readonly HeaderOp[] | undefined;
}

export function originRequestHeaders(headers: IncomingHttpHeaders, ctx: OriginHeaderContext): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  // A field the client names in Connection is hop-by-hop for this request (RFC 9110 §7.6.1).
  const named = connectionTokens(headers.connection);
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || (named !== undefined && named.has(name))) continue;
    if (FORWARDED_ALWAYS.has(name) || (!ctx.cacheable && FORWARDED_ON_PASS.has(name))) out[name] = value;
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
  // RFC 7239 and its de-facto X- forms: one hop, this edge's own knowledge. A client's
  // X-Forwarded-For or Forwarded is its own claim, so neither is passed on.
  if (ctx.clientIp !== undefined) out['x-forwarded-for'] = ctx.clientIp;
  out['x-forwarded-host'] = ctx.domain;
  const proto = ctx.proto ?? 'http';
  out['x-forwarded-proto'] = proto;
  out.forwarded = forwardedElement(ctx.clientIp, ctx.domain, proto);
  const via = headers.via;
  out.via = via ? `${Array.isArray(via) ? via.join(', ') : via}, ${VIA}` : VIA;
  // RFC 8586: an origin that leads back to an edge is caught there (508) instead of looping.
  const loop = headers['cdn-loop'];
  out['cdn-loop'] = loop ? `${Array.isArray(loop) ? loop.join(', ') : loop}, ${ctx.cdnId}` : ctx.cdnId;
  return ctx.originOps === undefined || ctx.originOps.length === 0 ? out : applyHeaderOps(out, ctx.originOps);
}

export interface ShieldHeaderContext {
  /** The customer's domain (the shield finds the customer by it, as an edge does). */
  domain: string;
  /** Fields the customer's delivery rules read (CompiledRules.headersRead): the shield decides as this edge did. */
  headersRead: readonly string[];
  validators?: Record<string, string> | undefined;
  cdnId: string;
  /** The Edgeplane-Hop field (core/shield-hop.ts). */
  hop: string;
}

/**
 * A miss sent to an origin shield (edge/shield) instead of the origin: by allow-list too, the
 * client fields an origin may see (the shield applies the origin rules above itself) and the
 * fields the customer's rules read, so the shield keys and decides as this edge did; the
 * end user's address and scheme travel signed in the hop field, never as fields a client
 * could have written. Via and CDN-Loop name this hop (the shield accepts one CDN-Loop of
 * its own CDN, with a valid hop field only).
 */
export function shieldRequestHeaders(headers: IncomingHttpHeaders, ctx: ShieldHeaderContext): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const named = connectionTokens(headers.connection);
  const pass = (name: string): void => {
    const value = headers[name];
    if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'host' && (named === undefined || !named.has(name))) out[name] = value;
  };
  for (const name of FORWARDED_ALWAYS) pass(name);
  pass('authorization');
  for (const name of ctx.headersRead) if (!FORWARDED_ON_PASS.has(name)) pass(name);
  out.host = ctx.domain;
  if (ctx.validators !== undefined) Object.assign(out, ctx.validators);
  const via = headers.via;
  out.via = via ? `${Array.isArray(via) ? via.join(', ') : via}, ${VIA}` : VIA;
  const loop = headers['cdn-loop'];
  out['cdn-loop'] = loop ? `${Array.isArray(loop) ? loop.join(', ') : loop}, ${ctx.cdnId}` : ctx.cdnId;
  out['edgeplane-hop'] = ctx.hop;
  return out;
}

/**
 * The request fields as the origin receives them, for choosing a variant (RFC 9111 §4.1: a
 * response varies on the request fields its origin saw): the client's fields where they are
 * forwarded, the forwarding fields as this edge sets them (X-Forwarded-Proto is `https` over
 * the HTTPS port), nothing of what is never forwarded. So `Vary: X-Forwarded-Proto` keeps the
 * http and https answers apart, and a client's own X-Forwarded-Proto (never forwarded) can
 * never file an answer under the other scheme's variant.
 */
export function variantRequestHeaders(headers: IncomingHttpHeaders, ctx: Pick<OriginHeaderContext, 'domain' | 'clientIp' | 'proto'>): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  const named = connectionTokens(headers.connection);
  for (const name of FORWARDED_ALWAYS) {
    const value = headers[name];
    if (value !== undefined && (named === undefined || !named.has(name))) out[name] = value;
  }
  if (headers.authorization !== undefined && (named === undefined || !named.has('authorization'))) out.authorization = headers.authorization;
  if (ctx.clientIp !== undefined) out['x-forwarded-for'] = ctx.clientIp;
  out['x-forwarded-host'] = ctx.domain;
  const proto = ctx.proto ?? 'http';
  out['x-forwarded-proto'] = proto;
  out.forwarded = forwardedElement(ctx.clientIp, ctx.domain, proto);
  return out;
}

/** RFC 7239 §4: `for` (IPv6 bracketed and quoted, §6), `host`, `proto`. */
function forwardedElement(clientIp: string | undefined, host: string, proto: string): string {
  const parts: string[] = [];
  if (clientIp !== undefined) parts.push(`for=${isIPv6(clientIp) ? `"[${clientIp}]"` : clientIp}`);
  parts.push(`host=${host}`, `proto=${proto}`);
  return parts.join(';');
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
