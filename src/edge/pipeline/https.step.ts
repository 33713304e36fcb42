/**
 * Step `https`: a customer's HTTPS rules (core/tls.types.ts, CustomerTls), once resolve knows
 * the customer.
 *
 * - Plain HTTP, GET/HEAD `/.well-known/acme-challenge/<token>` for a challenge the customer
 *   has in progress: the key authorization (RFC 8555 §8.3), made up here, never stored, never
 *   asked of the origin. Any other token takes the pipeline as usual (an origin may answer
 *   challenges of its own).
 * - Plain HTTP otherwise, when redirectsToHttps says so: 308 (method and body kept) to
 *   `https://<the customer's domain><target>`, the host as resolve normalised it (never the
 *   client's spelling or port), the port only when CDN_EDGE_TLS_PUBLIC_PORT is not 443. An
 *   edge without a TLS listener never redirects: a TLS terminator in front of it would be
 *   sent round in circles.
 * - Over TLS: Strict-Transport-Security from the customer's policy on every answer (deliver
 *   and synth add it), and never over plain HTTP (RFC 6797 §7.2).
 *
 * The hit lane asks `plainNeedsPipeline` and `hstsOf` so it gives the same answers.
 */
import type { TLSSocket } from 'node:tls';
import { hstsHeader, nameMatches, pickCertificate, redirectsToHttps } from '../../core/certificate.rules';
import { normalizeHostname } from '../../core/customer.rules';
import { cdnError } from '../../core/errors';
import type { CustomerConfig } from '../../core/customer.types';
import { ACME_CHALLENGE_PREFIX, type HstsPolicy } from '../../core/tls.types';
import type { StoredHeaders } from '../cache/cache-store.port';
import { writeHead } from './deliver.steps';
import type { ClientRequest, EdgeTransaction, PipelineContext, StepName } from './transaction';

export function httpsStep(tx: EdgeTransaction, ctx: PipelineContext): StepName {
  // A shield's hop: the asking edge answered the client's HTTPS rules; its scheme is signed in the hop.
  if (tx.hop !== undefined) return 'rules';
  const tls = tx.customer!.tls;
  // RFC 9110 §15.5.20: a request on a TLS connection whose certificate does not cover its host
  // (a client reusing an h2 connection for another name, or a Host unlike the SNI name) is
  // misdirected: it never gets an answer under a certificate that is not the host's.
  if (tx.secure && !connectionCovers(tx, ctx)) return tx.synth(cdnError('CDN_ERR_EDGE_MISDIRECTED', tx.host));
  if (tls !== undefined) {
    if (tx.secure) {
      if (tls.hsts !== null) tx.hsts = hstsOf(tls.hsts);
    } else {
      const keyAuthorization = challengeAnswer(tx.customer!, tx.req.method, tx.path);
      if (keyAuthorization !== undefined) return answer(tx, 200, { 'content-type': 'text/plain; charset=utf-8' }, keyAuthorization);
      if (ctx.httpsPort !== undefined && redirectsToHttps(tls, tx.host, ctx.clock.now())) {
        return answer(tx, 308, { location: `https://${tx.host}${ctx.httpsPort === 443 ? '' : `:${ctx.httpsPort}`}${clientTarget(tx)}` }, '');
      }
    }
  }
  return 'rules';
}

/** The TLS server name (SNI) of the connection a request came on, normalised; undefined on plain HTTP. */
export function serverNameOf(req: ClientRequest): string | undefined {
  // h2's req.socket is a proxy of the session's TLS socket: the property reads through.
  const name = (req.socket as TLSSocket | undefined)?.servername;
  return typeof name === 'string' ? normalizeHostname(name) : undefined;
}

/**
 * Whether the certificate the connection presented covers the request's host: the same name
 * (the common case, no lookup), or a certificate of the host's own customer, chosen for the
 * SNI name, that also names the host (a client may reuse a connection for any name its
 * certificate covers, RFC 9113 §9.1.1).
 */
function connectionCovers(tx: EdgeTransaction, ctx: PipelineContext): boolean {
  const sni = serverNameOf(tx.req);
  if (sni === undefined) return false;
  if (sni === tx.host) return true;
  if (ctx.customers.byHost(sni) !== tx.customer) return false;
  const presented = pickCertificate(tx.customer!.tls, sni, ctx.clock.now());
  return presented !== undefined && presented.domains.some((name) => nameMatches(name, tx.host));
}

/**
 * Whether a plain-HTTP request for `path` of `customer` must take the pipeline for this
 * step's sake (a challenge answer or a redirect): the hit lane must not answer it.
 */
export function plainNeedsPipeline(customer: CustomerConfig, host: string, path: string, ctx: PipelineContext): boolean {
  const tls = customer.tls;
  if (tls === undefined) return false;
  if (tls.acmeChallenges.length > 0 && path.startsWith(ACME_CHALLENGE_PREFIX)) return true;
  return ctx.httpsPort !== undefined && redirectsToHttps(tls, host, ctx.clock.now());
}

/** The header value of a policy, made once per policy object (customers are immutable per version). */
const hstsValues = new WeakMap<HstsPolicy, string>();

export function hstsOf(policy: HstsPolicy): string {
  let value = hstsValues.get(policy);
  if (value === undefined) {
    value = hstsHeader(policy);
    hstsValues.set(policy, value);
  }
  return value;
}

function challengeAnswer(customer: CustomerConfig, method: string | undefined, path: string): string | undefined {
  if ((method !== 'GET' && method !== 'HEAD') || !path.startsWith(ACME_CHALLENGE_PREFIX)) return undefined;
  const token = path.slice(ACME_CHALLENGE_PREFIX.length);
  return customer.tls?.acmeChallenges.find((c) => c.token === token)?.keyAuthorization;
}

/** The target as the client sent it: origin-form as is; absolute-form (validated by resolve) reduced to path and query. */
function clientTarget(tx: EdgeTransaction): string {
  const target = tx.req.url ?? '/';
  if (target.startsWith('/')) return target;
  const url = new URL(target);
  return url.pathname + url.search;
}

/** An answer of the edge's own: never stored, never counted as a cache result (also the rules' redirects). */
export function answer(tx: EdgeTransaction, status: number, fields: StoredHeaders, text: string): 'done' {
  const body = Buffer.from(tx.isHead ? '' : text);
  tx.status = status;
  tx.bytes = body.length;
  const res = tx.res;
  if (tx.clientGone) return 'done';
  // A body the client sends (a redirected POST) is never read: the connection closes after the answer.
  if (tx.hasBody && !('stream' in res)) res.shouldKeepAlive = false;
  writeHead(res, status, { ...fields, 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store' });
  res.end(body);
  return 'done';
}
