/**
 * Steps `lookup`, `hit`, `stale`, `miss` and `pass`: the cache side of the request.
 */
import { keyWithParts } from '../../core/delivery-key';
import { cacheKey, variantKey } from '../cache/cache-key';
import type { ObjectMeta, StoredObject } from '../cache/cache-store.port';
import { ageAt, freshAt, freshnessLine, mayServeStaleWhileRevalidate, policyOf, type StoredPolicy } from '../cache/freshness.rules';
import { variantId } from '../cache/vary.rules';
import { codeStoredAnswer } from './content-coding.choice';
import { planAnswer, releaseStored } from './deliver.steps';
import { flightRequest, variantHeadersOf } from './flight-request';
import type { EdgeTransaction, PipelineContext, StepName } from './transaction';

export async function lookupStep(tx: EdgeTransaction, ctx: PipelineContext): Promise<StepName> {
  tx.key = keyWithParts(cacheKey(tx.customer!.id, tx.path, tx.query), tx.keyParts);
  tx.variantKey = undefined;
  tx.markerVary = undefined;
  // A shield's hop from an edge that applied changes this shield has not (a purge among them):
  // its cache may hold what the edge purged, so the answer comes from the origin, fetched alone.
  if (tx.hop !== undefined && ctx.shieldGate !== undefined && !(await ctx.shieldGate.caughtUp(tx.hop))) {
    ctx.metrics.shieldHop('behind');
    tx.solo = true;
    return 'miss';
  }
  let stored: StoredObject | undefined = await ctx.store.get(tx.key);
  if (stored?.meta.vary !== undefined) {
    // RFC 9111 §4.1: the URL varies; this request's variant is keyed by its header values.
    const marker = stored;
    stored = undefined;
    const epoch = (marker.meta.policy as { epoch?: unknown } | undefined)?.epoch;
    tx.variantKey = variantKey(tx.key, variantId(marker.meta.vary!, variantHeadersOf(tx)));
    tx.markerVary = marker.meta.vary;
    void marker.release();
    const variant = await ctx.store.get(tx.variantKey);
    // A variant from before the marker was replaced or deleted is retired.
    if (variant !== undefined && (variant.meta.policy as StoredPolicy | undefined)?.epoch === epoch) stored = variant;
    else void variant?.release();
  }
  if (stored === undefined) return 'miss';
  // Purges (edge/purge): a hard ban makes it a miss; a soft one makes it stale.
  const banned = ctx.purges?.judge(tx.customer!.id, stored.meta);
  if (banned === 'hard') {
    void stored.release();
    ctx.purges!.discard(tx.customer!.id, stored.meta);
    return 'miss';
  }
  const policy = policyOf(stored.meta, ctx.clock);
  if (policy === undefined) {
    // Stored without RFC 9111 state (an older edge): fetch it again.
    void stored.release();
    return 'miss';
  }
  tx.stored = stored;
  tx.policy = policy;
  if (banned === undefined && freshAt(freshnessLine(stored.meta, ctx.clock)!, ctx.clock.now())) return 'hit';
  if (mayServeStaleWhileRevalidate(policy)) return 'stale';
  // Stale: revalidate (validators) or refetch; kept for stale-if-error meanwhile.
  return 'miss';
}

export async function hitStep(tx: EdgeTransaction, ctx: PipelineContext): Promise<StepName> {
  tx.cache = 'HIT';
  await serveStored(tx, tx.stored!.meta, ctx);
  return 'deliver';
}

/** RFC 5861 §3: serve the stale object now and refresh it once, in the background. */
export async function staleStep(tx: EdgeTransaction, ctx: PipelineContext): Promise<StepName> {
  tx.cache = 'STALE';
  const collapseKey = tx.variantKey ?? tx.key;
  if (ctx.flights.get(collapseKey) === undefined && ctx.targets.of(tx.customer!).usable.length > 0) {
    const flight = ctx.flights.start({ ...flightRequest(tx, ctx), background: true }, ctx);
    void flight.result.then((result) => {
      if (result.kind === 'failed') ctx.logger.debug({ customer: tx.customer!.id }, 'background revalidation failed');
    });
  }
  await serveStored(tx, tx.stored!.meta, ctx);
  return 'deliver';
}

/**
 * The stored object as the answer: its headers, Age (RFC 9111 §5.1), its content coding
 * (the stored encoded copy in its place, content-coding.choice.ts), then preconditions and ranges.
 */
export async function serveStored(tx: EdgeTransaction, meta: ObjectMeta, ctx: PipelineContext): Promise<void> {
  const clock = ctx.clock;
  const line = freshnessLine(meta, clock);
  tx.status = meta.status;
  tx.headers = { ...meta.headers, age: String(line === undefined ? 0 : Math.max(0, Math.floor(ageAt(line, clock.now())))) };
  tx.size = meta.size;
  await codeStoredAnswer(tx, ctx, meta);
  tx.fromStore = planAnswer(tx);
  if (!tx.fromStore) void releaseStored(tx);
}

export function missStep(tx: EdgeTransaction): StepName {
  tx.cache = 'MISS';
  return 'fetch';
}

export function passStep(tx: EdgeTransaction): StepName {
  tx.cache = 'BYPASS';
  return 'fetch';
}
