/**
 * Step `fetch`: ask the customer's origin. A cache miss always fetches with GET (a HEAD
 * miss is answered from the full GET, which is stored); a pass forwards the client's
 * method and streams its body.
 */
import { CdnError } from '../../core/errors';
import { isStorableResponse } from '../cache/storage.rules';
import { endToEndResponseHeaders, originRequestHeaders } from '../origin/origin-headers';
import { originError } from '../origin/origin-errors';
import type { StepName } from './request.fsm';
import type { EdgeTransaction, PipelineContext } from './transaction';

export async function fetchStep(tx: EdgeTransaction, ctx: PipelineContext): Promise<StepName> {
  const customer = tx.customer!;
  const target = ctx.targets.of(customer);
  if (target.authorization === null) {
    const err = new CdnError('CDN_ERR_SECRET_UNREADABLE', [`the origin Basic Auth password of customer "${customer.id}"`]);
    ctx.logger.error({ customer: customer.id }, err.message);
    tx.cache = 'ERROR';
    return tx.synth(err.status, { error: 'secret_unreadable', message: err.message });
  }
  const abort = new AbortController();
  tx.abort = abort;
  const headers = originRequestHeaders(tx.req.headers, {
    target,
    clientHost: tx.req.headers.host ?? tx.host,
    clientIp: tx.req.socket.remoteAddress,
    cacheable: tx.cacheable,
  });
  const hasBody = !tx.cacheable && (tx.req.headers['content-length'] !== undefined || tx.req.headers['transfer-encoding'] !== undefined);
  const path = target.pathPrefix + tx.path + (tx.query === '' ? '' : `?${tx.query}`);
  const started = performance.now();
  try {
    tx.origin = await ctx.pools.request(target, {
      method: tx.cacheable ? 'GET' : tx.req.method!,
      path,
      headers,
      body: hasBody ? tx.req : null,
      signal: abort.signal,
    });
  } catch (err) {
    tx.cache = 'ERROR';
    if (abort.signal.aborted) return 'done';
    const e = originError(err, customer.id);
    ctx.logger.warn({ customer: customer.id, code: e.code, cause: (err as { code?: string }).code ?? String(err) }, 'origin request failed');
    return tx.synth(e.status, { error: SYNTH_ERRORS[e.code] ?? 'origin_error', message: e.message });
  } finally {
    tx.originMs = performance.now() - started;
    ctx.metrics.originDuration.observe({ customer: customer.id }, tx.originMs / 1000);
  }
  const origin = tx.origin;
  tx.status = origin.statusCode;
  tx.headers = endToEndResponseHeaders(origin.headers);
  if (tx.cacheable && isStorableResponse(origin.statusCode, origin.headers, customer.cacheTtl) && fitsInStore(origin.headers['content-length'], ctx.maxObjectBytes)) {
    return 'store';
  }
  if (tx.isHead) {
    origin.body.destroy();
  } else {
    tx.body = origin.body;
  }
  return 'deliver';
}

const SYNTH_ERRORS: Partial<Record<string, string>> = {
  CDN_ERR_ORIGIN_UNREACHABLE: 'origin_unreachable',
  CDN_ERR_ORIGIN_TIMEOUT: 'origin_timeout',
  CDN_ERR_ORIGIN_FORBIDDEN_ADDRESS: 'origin_forbidden_address',
};

/** A declared length above the limit is not worth writing; an undeclared one is checked while writing. */
function fitsInStore(contentLength: string | string[] | undefined, max: number): boolean {
  if (typeof contentLength !== 'string') return true;
  const n = Number(contentLength);
  return !Number.isFinite(n) || n <= max;
}
