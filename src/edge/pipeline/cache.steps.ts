/**
 * Steps `lookup`, `hit`, `miss`, `pass` and `store`: the cache side of the request.
 */
import type { Readable } from 'node:stream';
import { cacheKey } from '../cache/cache-key';
import type { PutOutcome } from '../cache/cache-store.port';
import { ageSeconds, isFresh } from '../cache/storage.rules';
import { teeStream } from './tee-stream';
import type { StepName } from './request.fsm';
import type { EdgeTransaction, PipelineContext } from './transaction';

export async function lookupStep(tx: EdgeTransaction, ctx: PipelineContext): Promise<StepName> {
  tx.key = cacheKey(tx.customer!.id, tx.path, tx.query);
  const stored = await ctx.store.get(tx.key);
  if (stored === undefined) return 'miss';
  if (isFresh(stored.meta, ctx.clock.now())) {
    tx.stored = stored;
    return 'hit';
  }
  // Expired: refetch (revalidation with validators comes with RFC 9111 support).
  await stored.release();
  return 'miss';
}

export function hitStep(tx: EdgeTransaction, ctx: PipelineContext): StepName {
  const stored = tx.stored!;
  tx.cache = 'HIT';
  tx.status = stored.meta.status;
  // RFC 9111 §5.1: Age on every response served from cache.
  tx.headers = { ...stored.meta.headers, age: String(ageSeconds(stored.meta, ctx.clock.now())) };
  if (tx.isHead) {
    void stored.release();
  } else {
    tx.body = stored.openBody();
  }
  return 'deliver';
}

export function missStep(tx: EdgeTransaction): StepName {
  tx.cache = 'MISS';
  return 'fetch';
}

export function passStep(tx: EdgeTransaction): StepName {
  tx.cache = 'BYPASS';
  return 'fetch';
}

/** Tees the origin body to the client and to the store; a HEAD client gets headers only. */
export function storeStep(tx: EdgeTransaction, ctx: PipelineContext): StepName {
  const origin = tx.origin!;
  // A copy: deliver adds X-Cache and Via to tx.headers, which must not be stored.
  const meta = { status: tx.status, headers: { ...tx.headers }, storedAt: ctx.clock.now(), ttl: tx.customer!.cacheTtl };
  const key = tx.key;
  const customerId = tx.customer!.id;
  let stored: Promise<PutOutcome> | undefined;
  let toStore: Readable = origin.body;
  if (!tx.isHead) {
    const [client, store] = teeStream(origin.body, () => stored ?? Promise.resolve());
    tx.body = client;
    toStore = store;
  }
  stored = ctx.store.put(key, meta, toStore).then((outcome) => {
    if (outcome !== 'stored') ctx.logger.debug({ customer: customerId, outcome }, 'object not stored');
    return outcome;
  });
  return 'deliver';
}
