/**
 * Step `fetch`: ask the customer's origin.
 *
 * - A cacheable request (GET/HEAD) joins the fetch in flight for its key or starts one
 *   (fetch.flight.ts: collapsing, storing, revalidation). HEAD is fetched with GET so the
 *   object stored is whole.
 * - A pass (any other method) forwards the client's method and body (a small body read
 *   whole first, a larger one streamed: see passFetch); it is never collapsed, and never
 *   sent to a second origin unless its method is safe and its body held whole; a non-error answer to an unsafe method invalidates the stored URL and same-host
 *   Location / Content-Location (RFC 9111 §4.4).
 */
import { CdnError } from '../../core/errors';
import { normalizeHostname } from '../../core/customer.rules';
import { applyQueryPolicy, requestFacts } from '../../core/delivery-rules.compile';
import { cacheKey, splitTarget, variantKey } from '../cache/cache-key';
import { mayServeStaleIfError } from '../cache/freshness.rules';
import { variantId } from '../cache/vary.rules';
import { endToEndResponseHeaders, originRequestHeaders } from '../origin/origin-headers';
import type { OriginTarget } from '../origin/origin-target';
import { serveStored } from './cache.steps';
import { codeStreamedAnswer } from './content-coding.choice';
import { planAnswer, releaseStored } from './deliver.steps';
import { discardBody, type Flight, type Ticket } from './fetch.flight';
import { flightRequest, originPath, variantHeadersOf } from './flight-request';
import { askOrigin } from './origin.request';
import type { ClientRequest, EdgeTransaction, PipelineContext, StepName } from './transaction';

/** How often one request may look up or join again before it goes to the origin alone. */
const MAX_RETRIES = 2;

/**
 * A shared body of at most this many bytes (by its Content-Length) reaches its clients whole,
 * in one write after it has arrived, instead of streaming through a stream of its own to each
 * (Flight.whole): at these sizes the streams cost more than the wait for the rest of a body
 * that is usually already in hand. Docs: docs/BENCHMARKS.md "Small misses answered whole".
 */
export const WHOLE_BODY_MAX = 16 * 1024;

/** RFC 9110 §9.2.1: safe methods never invalidate. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export async function fetchStep(tx: EdgeTransaction, ctx: PipelineContext): Promise<StepName> {
  const customer = tx.customer!;
  // Origins whose Basic Auth this CDN_SECRET_KEY cannot open are never asked; with none left, nothing can be.
  if (ctx.targets.of(customer).usable.length === 0) {
    const err = new CdnError('CDN_ERR_SECRET_UNREADABLE', [`the origin Basic Auth password of customer "${customer.id}"`]);
    ctx.logger.error({ customer: customer.id }, err.message);
    tx.cache = 'ERROR';
    return tx.synth(err);
  }
  return tx.cacheable ? collapsedFetch(tx, ctx) : passFetch(tx, ctx);
}

async function collapsedFetch(tx: EdgeTransaction, ctx: PipelineContext): Promise<StepName> {
  const collapseKey = tx.variantKey ?? tx.key;
  let flight = tx.solo ? undefined : ctx.flights.get(collapseKey);
  const leader = flight === undefined;
  if (flight === undefined) flight = ctx.flights.start(flightRequest(tx, ctx), ctx, !tx.solo);
  const ticket = flight.attach();
  const gone = new AbortController();
  tx.abort = gone;
  gone.signal.addEventListener('abort', () => ticket.leave(true), { once: true });
  // Request collapsing: this request waits on another one's origin fetch.
  if (!leader) ctx.metrics.meter(tx.customer!.id).collapsedRequest();
  const result = await flight.result;
  if (leader) tx.originMs = flight.originMs;
  if (gone.signal.aborted || tx.clientGone) {
    if (leader && flight.own !== undefined) discardBody(flight.own.body);
    void releaseStored(tx);
    return 'done';
  }

  switch (result.kind) {
    case 'stream': {
      if (!leader) {
        // RFC 9111 §4: only a response that could be reused is shared.
        if (!result.shareable) return goSolo(tx, ticket);
        if (result.variant !== undefined && variantId(result.names, variantHeadersOf(tx)) !== result.variant) {
          // RFC 9111 §4.1: another variant; find or start the fetch for ours.
          ticket.leave(false);
          tx.variantKey = variantKey(tx.key, variantId(result.names, variantHeadersOf(tx)));
          return again(tx, 'fetch');
        }
      }
      void releaseStored(tx);
      tx.status = result.status;
      tx.headers = { ...result.headers };
      // RFC 9111 §5.1: an object that arrived with age says so.
      const age = Math.floor(result.policy.age());
      if (age > 0) tx.headers.age = String(age);
      tx.size = result.length;
      codeStreamedAnswer(tx, ctx);
      if (leader && tx.recode !== undefined && 'encode' in tx.recode) warmCopy(tx, ctx, flight, result.variant, tx.recode.encode);
      if (!planAnswer(tx)) {
        ticket.leave(false);
        return 'deliver';
      }
      if (result.length !== undefined && result.length <= WHOLE_BODY_MAX && tx.ranges === undefined && tx.recode === undefined) {
        const whole = await flight.whole();
        ticket.leave(false);
        if (whole === undefined || tx.clientGone) {
          // The origin's body failed: the client's connection closes, never a short body that looks whole.
          if (!tx.clientGone) tx.res.destroy();
          return 'done';
        }
        tx.wholeBody = whole;
        return 'deliver';
      }
      const body = flight.join(ticket);
      if (body === undefined) {
        // Too far along to replay: read the stored object once it is in place.
        ticket.leave(false);
        await flight.stored;
        return again(tx, 'lookup');
      }
      tx.body = body;
      return 'deliver';
    }
    case 'revalidated': {
      ticket.leave(false);
      if (tx.stored === undefined) return again(tx, 'lookup');
      tx.cache = 'REVALIDATED';
      await serveStored(tx, { ...result.meta, size: tx.stored.meta.size }, ctx);
      return 'deliver';
    }
    case 'elsewhere': {
      // Another process of this edge fetched it and stored it: read it from the shared store.
      ticket.leave(false);
      if (leader) ctx.metrics.meter(tx.customer!.id).collapsedRequest();
      return again(tx, 'lookup');
    }
    case 'retry': {
      ticket.leave(false);
      return again(tx, 'fetch');
    }
    case 'unshared': {
      if (leader && flight.own !== undefined) return takeOwn(tx, flight, ctx);
      return goSolo(tx, ticket);
    }
    case 'failed': {
      // RFC 5861 §4: within stale-if-error (the origin's, or the customer's opt-in) a stale object answers for a failing origin;
      // with every origin down, within the customer's all-down window too (never what forbids stale: RFC 9111 §4.2.4).
      if (tx.stored !== undefined && tx.policy !== undefined && (mayServeStaleIfError(tx.policy, staleIfErrorOf(tx)) || (result.allDown === true && mayServeStaleIfError(tx.policy, ctx.origins.policy(tx.customer!).staleIfDownSeconds)))) {
        if (leader && flight.own !== undefined) discardBody(flight.own.body);
        ticket.leave(false);
        tx.cache = 'STALE';
        await serveStored(tx, tx.stored.meta, ctx);
        return 'deliver';
      }
      if (leader && flight.own !== undefined) return takeOwn(tx, flight, ctx);
      ticket.leave(false);
      if (result.synthetic !== undefined) {
        tx.cache = 'ERROR';
        tx.synthetic = result.synthetic;
        tx.synthHeaders = result.synthetic.headers;
        return 'synth';
      }
      if (!leader) return goSolo(tx, ticket);
      return 'done';
    }
  }
}

/** The stale-if-error window the rules grant (the default rule's is the customer's staleIfErrorSeconds). */
function staleIfErrorOf(tx: EdgeTransaction): number | null | undefined {
  return tx.decision === undefined ? tx.customer!.staleIfErrorSeconds : (tx.decision.staleIfError ?? null);
}

function again(tx: EdgeTransaction, step: 'lookup' | 'fetch'): StepName {
  tx.retries += 1;
  if (tx.retries > MAX_RETRIES) tx.solo = true;
  if (step === 'lookup') void releaseStored(tx);
  return tx.solo ? 'fetch' : step;
}

/** The shared answer does not fit this request: it asks the origin itself, uncollapsed. */
function goSolo(tx: EdgeTransaction, ticket: Ticket): StepName {
  ticket.leave(false);
  tx.solo = true;
  return 'fetch';
}

/**
 * After a miss whose client wanted `coding`, the encoded copy is made as soon as the identity
 * is stored (encoded-variants.ts): the next client that wants it gets a hit, not a compression.
 */
function warmCopy(tx: EdgeTransaction, ctx: PipelineContext, flight: Flight, variant: string | undefined, coding: 'br' | 'gzip'): void {
  const variants = ctx.compression;
  if (variants === undefined) return;
  const objectKey = variant === undefined ? tx.key : variantKey(tx.key, variant);
  void flight.stored.then((outcome) => (outcome === 'stored' ? variants.warm(objectKey, coding) : undefined)).catch(() => {});
}

/** The origin's answer meant for the leader alone, streamed straight through. */
function takeOwn(tx: EdgeTransaction, flight: Flight, ctx: PipelineContext): StepName {
  const own = flight.own!;
  void releaseStored(tx);
  tx.origin = own;
  tx.status = own.statusCode;
  tx.headers = endToEndResponseHeaders(own.headers);
  const length = Number(own.headers['content-length']);
  tx.size = typeof own.headers['content-length'] === 'string' && Number.isSafeInteger(length) ? length : undefined;
  codeStreamedAnswer(tx, ctx);
  if (planAnswer(tx)) tx.body = own.body;
  else discardBody(own.body);
  return 'deliver';
}

/**
 * Request bodies up to this size are read whole before the origin is asked (nginx's
 * proxy_request_buffering, for small bodies only: held in memory, and only until the body
 * timeout if the client stalls). 64 KiB covers forms and API calls.
 */
export const PASS_BODY_BUFFER_BYTES = 64 * 1024;

async function passFetch(tx: EdgeTransaction, ctx: PipelineContext): Promise<StepName> {
  // The client limits (client-limits.ts) may have refused the body already.
  if (tx.res.headersSent || tx.clientGone) return 'done';
  const customer = tx.customer!;
  const abort = new AbortController();
  tx.abort = abort;
  const headers = (target: OriginTarget): Record<string, string | string[]> =>
    originRequestHeaders(tx.req.headers, {
      target,
      domain: tx.host,
      clientIp: tx.clientAddress,
      proto: tx.proto,
      cacheable: false,
      cdnId: ctx.cdnId,
      originOps: tx.decision?.originHeaders,
    });
  const hasBody = tx.hasBody;
  // Slow request bodies must not take the origin connections cache fills need. A small body
  // is read whole first, so however slowly it comes it holds no origin connection, and the
  // request then goes out at once like a miss. A larger one streams, which holds a connection
  // while the client sends: OriginPools gives streamed bodies a pool of their own, so uploads
  // wait only for uploads, and the body timeout (client-limits.ts) aborts a stalled one.
  let body: Buffer | ClientRequest | null = null;
  if (hasBody) {
    const whole = await readSmallBody(tx.req, PASS_BODY_BUFFER_BYTES, abort.signal);
    if (whole === 'gone' || abort.signal.aborted) return 'done';
    body = whole === 'larger' ? tx.req : whole;
  }
  // Only a safe method whose body is held whole may go to a second origin after a failure:
  // anything else reaches an origin at most once, and a streamed body is never sent twice.
  const retryable = SAFE_METHODS.has(tx.req.method!) && !(body !== null && !Buffer.isBuffer(body));
  const outcome = await askOrigin(ctx, customer, { method: tx.req.method!, path: originPath(tx), headers, body, signal: abort.signal, retryable });
  tx.originMs = outcome.ms;
  if (!outcome.ok) {
    tx.cache = 'ERROR';
    if (outcome.synthetic === undefined) return 'done';
    tx.synthetic = outcome.synthetic;
    tx.synthHeaders = outcome.synthetic.headers;
    return 'synth';
  }
  const origin = outcome.res;
  tx.origin = origin;
  if (!SAFE_METHODS.has(tx.req.method!) && origin.statusCode >= 200 && origin.statusCode < 400) await invalidate(tx, ctx);
  tx.status = origin.statusCode;
  tx.headers = endToEndResponseHeaders(origin.headers);
  tx.body = origin.body;
  codeStreamedAnswer(tx, ctx);
  return 'deliver';
}

/**
 * The request body whole if it is at most `max` bytes; 'larger' once it is known to be
 * larger (by Content-Length, or while a chunked body is read: what was read is put back in
 * front, and `req` is passed on paused, as it was); 'gone' if the client left or the
 * request was refused meanwhile (`signal`).
 */
function readSmallBody(req: ClientRequest, max: number, signal: AbortSignal): Promise<Buffer | 'larger' | 'gone'> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && !(Number(declared) <= max)) return Promise.resolve('larger');
  if (signal.aborted) return Promise.resolve('gone');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (result: Buffer | 'larger' | 'gone'): void => {
      req.off('data', onData).off('end', onEnd).off('close', onGone).off('error', onGone);
      signal.removeEventListener('abort', onGone);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size <= max) return;
      req.pause();
      settle('larger');
      req.unshift(Buffer.concat(chunks, size));
    };
    const onEnd = (): void => settle(Buffer.concat(chunks, size));
    const onGone = (): void => settle('gone');
    signal.addEventListener('abort', onGone, { once: true });
    req.on('data', onData).on('end', onEnd).on('close', onGone).on('error', onGone);
  });
}

/** Another URL's query as the customer's rules key it, judged for this request's headers (a Location the origin names). */
function queryOf(ctx: PipelineContext, tx: EdgeTransaction, path: string, query: string): string {
  const rules = ctx.rules(tx.customer!);
  if ('failed' in rules) return applyQueryPolicy(query, { mode: 'all' });
  return applyQueryPolicy(query, rules.compiled.decide(requestFacts({ method: 'GET', path, headers: tx.req.headers })).query);
}

/**
 * RFC 9111 §4.4: a non-error answer to an unsafe method invalidates the target URI and the
 * Location / Content-Location URIs on the same host. Deleting a URL's key also retires
 * its variants (the Vary marker goes with it).
 */
async function invalidate(tx: EdgeTransaction, ctx: PipelineContext): Promise<void> {
  const customer = tx.customer!;
  const keys = new Set([cacheKey(customer.id, tx.path, tx.query)]);
  const base = `http://${tx.host}${tx.path}`;
  for (const name of ['location', 'content-location'] as const) {
    const value = tx.origin!.headers[name];
    if (typeof value !== 'string') continue;
    let url: URL;
    try {
      url = new URL(value, base);
    } catch {
      continue;
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || normalizeHostname(url.hostname) !== tx.host) continue;
    const { path, query } = splitTarget(url.pathname + url.search);
    keys.add(cacheKey(customer.id, path, queryOf(ctx, tx, path, query)));
  }
  await Promise.all(
    [...keys].map((key) =>
      ctx.store.delete(key).catch((err: unknown) => ctx.logger.warn({ customer: customer.id, err: err instanceof Error ? err.message : String(err) }, 'cannot invalidate a stored object')),
    ),
  );
}
