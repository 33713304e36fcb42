/**
 * Rate limits per client (a delivery rule's `rateLimit` action, issue 14): how many requests
 * one key — built by the caller from the customer, the rule and the client's address — may
 * send, as `perSecond` requests per second after a `burst` of requests at once. A refused
 * request is answered 429 with Retry-After (the pipeline's business, not this file's).
 *
 * `ClientRates` is the port. `LocalClientRates` keeps the budgets of one process; a cluster
 * worker asks its primary instead, so the workers of an edge share one budget per key
 * (edge/cluster/cluster-client-rates.ts, the primary answering from a LocalClientRates).
 */
import { LRUCache } from 'lru-cache';
import type { RateLimitAction } from '../../core/delivery-rules.types';

export interface RateVerdict {
  allowed: boolean;
  /** 0 when allowed; otherwise how long until this key's next request would be allowed (whole ms, rounded up). */
  retryAfterMs: number;
}

export interface ClientRates {
  /**
   * Spends one request of `key`'s budget under `limit`. Synchronous where the answer is at
   * hand (one process), so the hot path allocates no promise when it need not; a promise when
   * another process keeps the budget. Never rejects for want of that process: it answers alone.
   */
  take(key: string, limit: RateLimitAction): RateVerdict | Promise<RateVerdict>;
}

export const CLIENT_RATES_MAX_KEYS_DEFAULT = 100_000;

/** Shared by every allowed take: the common answer allocates nothing. */
export const RATE_ALLOWED: RateVerdict = Object.freeze({ allowed: true, retryAfterMs: 0 });

/**
 * Slack in the comparisons, in requests (and in ms for Retry-After): a request arriving on
 * its exact schedule must not be refused because 1000/3 does not add up exactly in binary.
 */
const EPSILON = 1e-9;

/**
 * A key's bucket, GCRA in its continuous-state form (ITU-T I.371, the "leaky bucket" twin of
 * the virtual-scheduling TAT form the api uses in bus/memory-rate-limiter.ts): `level` is how
 * many requests the bucket holds at `at`, draining at perSecond. The same decisions as a TAT;
 * kept as a level because it stays a small number: a TAT in epoch milliseconds (~1.8e12, where
 * a double resolves only 2.4e-4 ms) that adds 1000/7 per request rounds enough to refuse the
 * last request of a burst (test/unit/client-rates.test.ts), and Retry-After inherits the error.
 */
interface Bucket {
  level: number;
  at: number;
}

/**
 * The budgets of one process: `burst` requests at once, then one every 1000/perSecond ms.
 * At most `maxKeys` keys are kept (least recently used dropped first): dropping a key only
 * forgives that client's spending, never refuses anyone.
 */
export class LocalClientRates implements ClientRates {
  readonly #now: () => number;
  readonly #buckets: LRUCache<string, Bucket>;

  /** `now`: milliseconds, injectable so tests need not wait (default Date.now). */
  constructor(options: { now?: () => number; maxKeys?: number } = {}) {
    this.#now = options.now ?? Date.now;
    const max = options.maxKeys ?? CLIENT_RATES_MAX_KEYS_DEFAULT;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`LocalClientRates: maxKeys must be a positive integer (got ${max})`);
    this.#buckets = new LRUCache({ max });
  }

  take(key: string, limit: RateLimitAction): RateVerdict {
    checkRateLimit(limit);
    const now = this.#now();
    const bucket = this.#buckets.get(key);
    // Drained since the last request; a clock stepping back drains nothing.
    const level = bucket === undefined ? 0 : Math.max(0, bucket.level - (Math.max(0, now - bucket.at) * limit.perSecond) / 1000);
    if (level + 1 <= limit.burst + EPSILON) {
      if (bucket === undefined) this.#buckets.set(key, { level: level + 1, at: now });
      else {
        bucket.level = level + 1;
        bucket.at = now;
      }
      return RATE_ALLOWED;
    }
    // Refused requests spend nothing: a client retrying too early is not punished further.
    // Allowed again once the level has drained to burst - 1.
    const waitMs = ((level + 1 - limit.burst) * 1000) / limit.perSecond;
    return { allowed: false, retryAfterMs: Math.max(1, Math.ceil(waitMs - EPSILON)) };
  }

  /** Keys held now (for the bound's test). */
  get size(): number {
    return this.#buckets.size;
  }
}

/** Throws on a limit no request could live with; validation upstream keeps them out of configurations. */
export function checkRateLimit(limit: RateLimitAction): void {
  if (!(Number.isFinite(limit.perSecond) && limit.perSecond > 0) || !(Number.isFinite(limit.burst) && limit.burst >= 1)) {
    throw new RangeError(
      `a rate limit needs perSecond > 0 and burst >= 1 (got perSecond ${limit.perSecond}, burst ${limit.burst}): fix the delivery rule's rateLimit`,
    );
  }
}
