/**
 * One origin request, as both kinds of fetch make it (a collapsed cache fill in
 * fetch.flight.ts, a pass in fetch.step.ts): the choice of origin (origin-selector.ts:
 * healthy, lowest priority, weighted), a slot under the customer's cap (customer-slots.ts),
 * the chosen origin's path prefix, Host and credentials; timed, counted (the customer's
 * origin latency, or its failure by kind), fed to the origin's health, and a failure turned
 * into the catalog error the client sees, logged with what the client must not see (the
 * cause; for an SSRF refusal the host and the address it resolved to).
 *
 * A retryable request (a safe method whose body, if any, is held whole: a fill, or such a
 * pass) that fails with a connection error, a timeout or a 5xx is sent once more, to another
 * origin, when the customer's retry budget allows. Anything else reaches the origin at most
 * once: undici itself never retries, so a body that was sent is never sent again.
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { CustomerConfig } from '../../core/customer.types';
import { CdnError, httpErrorBody } from '../../core/errors';
import { findForbidden, originError } from '../origin/origin-errors';
import { streamsBody, type OriginRequest } from '../origin/origin-pools';
import type { SlotGrant } from '../origin/customer-slots';
import type { OriginPick, ResolvedOriginPolicy } from '../origin/origin-selector';
import type { CustomerOrigins, OriginTarget } from '../origin/origin-target';
import type { FlightContext, Synthetic } from './flight.context';
import { originFailureKind } from './origin-failure.rules';

export interface AskOrigin {
  method: string;
  /** Path and normalised query at the origin, before the chosen origin's path prefix. */
  path: string;
  /** The request's fields for one origin (its Host, its Basic Auth). */
  headers: (target: OriginTarget) => Record<string, string | string[]>;
  body: OriginRequest['body'];
  signal: AbortSignal;
  /** May go to another origin after a failure: a safe method whose body is held whole (or none). */
  retryable: boolean;
}

export type OriginOutcome =
  | { ok: true; res: Dispatcher.ResponseData; ms: number }
  /**
   * `synthetic` is the client's answer; none when the request was aborted (the client left).
   * `allDown`: every origin of the customer is down now (this request may be answered stale
   * within the all-down window: fetch.step.ts).
   */
  | { ok: false; ms: number; synthetic: Synthetic | undefined; allDown: boolean };

/** A 5xx that says the origin is in trouble; 501 and 505 are about the request. */
export function isOriginFailureStatus(status: number): boolean {
  return status >= 500 && status !== 501 && status !== 505;
}

export async function askOrigin(ctx: FlightContext, customer: CustomerConfig, req: AskOrigin): Promise<OriginOutcome> {
  const selector = ctx.origins;
  const origins = ctx.targets.of(customer);
  const policy = selector.policy(customer);
  const meter = ctx.metrics.meter(customer.id);
  const tried = new Set<string>();
  let ms = 0;
  /** The answer for the client if no attempt succeeds: the last failure's. */
  let failure: Synthetic | undefined;
  // RFC 9110 §9.2.2: a safe request may be sent again. Once, to an untried origin, within the budget.
  const mayRetry = (): boolean => {
    if (tried.size > 1 || !req.retryable || !selector.hasCandidate(origins, tried, true)) return false;
    if (!selector.budgets.tryRetry(customer.id, policy.retryBudgetPercent, selector.defaults.minRetries)) return false;
    ctx.metrics.originRetry(customer.id);
    return true;
  };
  // A body still streaming from the client goes through the origin's upload pool (origin-pools.ts),
  // capped on its own: counted here, slow uploads would take the slots this customer's misses need.
  const counted = !streamsBody(req.body);
  for (;;) {
    const slot = counted ? await selector.slots.acquire(customer.id, policy.maxConnections, policy.queueTimeoutMs, req.signal) : UNCOUNTED;
    if (typeof slot === 'string') return refusedSlot(ctx, customer.id, policy, slot, ms);
    if (slot.waitedMs > 0) ctx.metrics.originQueueWait(customer.id, slot.waitedMs / 1000);
    const pick = selector.pick(origins, tried, req.retryable);
    if (pick === undefined) {
      slot.release();
      return unanswered(ctx, customer, origins, ms, failure);
    }
    if (tried.size === 0) selector.budgets.requested(customer.id);
    tried.add(pick.target.name);
    const started = performance.now();
    let res: Dispatcher.ResponseData;
    try {
      res = await ctx.pools.request(pick.target, {
        method: req.method,
        path: pick.target.pathPrefix + req.path,
        headers: req.headers(pick.target),
        body: req.body,
        signal: req.signal,
      });
    } catch (err) {
      slot.release();
      ms = performance.now() - started;
      if (req.signal.aborted) {
        selector.health.requestSettled(pick.breaker, pick.trial);
        return { ok: false, ms, synthetic: undefined, allDown: false };
      }
      failure = failed(ctx, customer, pick, err);
      // A configuration the api should have refused, not an outage: said as it is, never retried.
      if (findForbidden(err) !== undefined) {
        selector.health.requestSettled(pick.breaker, pick.trial);
        return { ok: false, ms, synthetic: failure, allDown: false };
      }
      if (mayRetry()) continue;
      return unanswered(ctx, customer, origins, ms, failure);
    }
    ms = performance.now() - started;
    // The slot is the connection's: free once the body is read or dropped.
    holdUntilRead(res.body, slot.release);
    meter.originResponse(ms, res.statusCode);
    if (!isOriginFailureStatus(res.statusCode)) {
      selector.health.requestPassed(customer.id, pick.breaker, pick.trial);
      return { ok: true, res, ms };
    }
    selector.health.requestFailed(customer.id, pick.breaker, `status ${res.statusCode}`, pick.trial);
    // The 5xx goes to the client only when no other origin may answer instead.
    if (!mayRetry()) return { ok: true, res, ms };
    discardBody(res.body);
    const err = new CdnError('CDN_ERR_ORIGIN_ERROR', [`the origin answered ${res.statusCode}`]);
    failure = { status: err.status, body: httpErrorBody(err) };
  }
}

const UNCOUNTED: SlotGrant = Object.freeze({ waitedMs: 0, release: () => {} });

/**
 * A slot under the customer's cap on concurrent origin requests (origin/customer-slots.ts),
 * for a request that goes elsewhere than askOrigin (a fill sent to an origin shield): held
 * until the response body is read or dropped (`holdUntilRead`). A string: no slot, with the
 * outcome to answer (busy, or the client left).
 */
export async function customerSlot(ctx: FlightContext, customer: CustomerConfig, signal: AbortSignal): Promise<SlotGrant | OriginOutcome> {
  const policy = ctx.origins.policy(customer);
  const slot = await ctx.origins.slots.acquire(customer.id, policy.maxConnections, policy.queueTimeoutMs, signal);
  if (typeof slot === 'string') return refusedSlot(ctx, customer.id, policy, slot, 0);
  if (slot.waitedMs > 0) ctx.metrics.originQueueWait(customer.id, slot.waitedMs / 1000);
  return slot;
}

/** No slot: the client left (no answer), or 503 origin_busy with Retry-After (the queue was full, or the wait too long). */
function refusedSlot(ctx: FlightContext, customerId: string, policy: ResolvedOriginPolicy, slot: 'aborted' | 'full' | 'timeout', ms: number): OriginOutcome {
  if (slot === 'aborted') return { ok: false, ms, synthetic: undefined, allDown: false };
  ctx.metrics.originQueueRejected(customerId);
  const err = new CdnError('CDN_ERR_ORIGIN_BUSY', [customerId, policy.maxConnections, slot === 'full' ? 0 : policy.queueTimeoutMs], { customerId });
  return { ok: false, ms, synthetic: { status: err.status, body: httpErrorBody(err), headers: { 'retry-after': '1' } }, allDown: false };
}

/** Counts, logs and feeds to health one failed attempt; returns the client's answer for it. */
function failed(ctx: FlightContext, customer: CustomerConfig, pick: OriginPick, err: unknown): Synthetic {
  const kind = originFailureKind(err);
  ctx.metrics.meter(customer.id).originFailure(kind);
  const e = originError(err, customer.id);
  const forbidden = findForbidden(err);
  ctx.logger.warn(
    {
      customer: customer.id,
      origin: pick.target.name,
      code: e.code,
      cause: (err as { code?: string }).code ?? String(err),
      ...(forbidden === undefined ? {} : { originHost: forbidden.host, address: forbidden.address }),
    },
    'origin request failed',
  );
  if (forbidden === undefined) ctx.origins.health.requestFailed(customer.id, pick.breaker, kind, pick.trial);
  return { status: e.status, body: httpErrorBody(e) };
}

/**
 * No answer. A request that could ask no origin at all (every one down, none due for a trial)
 * learns that and when to come back: 503 with Retry-After. One that asked and failed gets its
 * last attempt's error (502, 504), which says what happened to it. Either way `allDown` says
 * whether every origin is down now, for the all-down stale window.
 */
function unanswered(ctx: FlightContext, customer: CustomerConfig, origins: CustomerOrigins, ms: number, failure: Synthetic | undefined): OriginOutcome {
  const selector = ctx.origins;
  const allDown = selector.allDown(origins);
  if (failure !== undefined) return { ok: false, ms, synthetic: failure, allDown };
  const seconds = selector.retryAfterSeconds(origins);
  const err = new CdnError('CDN_ERR_ORIGIN_ALL_DOWN', [customer.id, seconds], { customerId: customer.id });
  return { ok: false, ms, synthetic: { status: err.status, body: httpErrorBody(err), headers: { 'retry-after': String(seconds) } }, allDown: true };
}

/** Calls `release` once the body has been read to its end, dropped or cut. */
export function holdUntilRead(body: Readable, release: () => void): void {
  body.once('end', release).once('close', release).once('error', release);
}

/** Drops an origin body nobody reads; undici reports the abort as an error, which is expected here. */
export function discardBody(body: Readable): void {
  body.on('error', () => {});
  const dump = (body as Readable & { dump?: () => Promise<void> }).dump;
  if (typeof dump === 'function') void dump.call(body).catch(() => {});
  else body.destroy();
}
