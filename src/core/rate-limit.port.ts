/**
 * Rate limits per caller, shared by every api process: a budget of `perMinute` units per
 * key that refills continuously (GCRA, the token bucket's single-number form), so a caller
 * may spend a whole minute's budget at once and then one unit every 60000/perMinute ms.
 *
 * One contract, two implementations (Redis for several api processes, in-process for one);
 * one contract suite runs against both (test/integration/rate-limiter.contract.test.ts).
 */

export interface RateLimit {
  /** Units per minute, and the largest burst; a positive integer. */
  perMinute: number;
}

export interface RateDecision {
  /** Whether the units were taken. A refusal takes nothing. */
  allowed: boolean;
  /** Whole units left right after this call (0 when refused). */
  remaining: number;
  /** When refused: ms until `cost` units are available again; 0 when allowed. */
  retryAfterMs: number;
}

export interface RateLimiter {
  /**
   * Takes `cost` units (a positive integer, at most `limit.perMinute`) from `key`'s budget,
   * or none. Rejects with a RangeError for a bad cost or limit, and when the storage is
   * unreachable (callers decide whether to let the operation through).
   */
  take(key: string, cost: number, limit: RateLimit): Promise<RateDecision>;
  /** Releases connections; later calls reject. */
  close(): Promise<void>;
}

/** The checks both implementations make, so they refuse the same things the same way. */
export function checkTake(key: string, cost: number, limit: RateLimit): void {
  if (typeof key !== 'string' || key === '' || key.length > 300) throw new RangeError(`a rate-limit key must be 1 to 300 characters, got ${JSON.stringify(key)}`);
  if (!Number.isSafeInteger(limit.perMinute) || limit.perMinute < 1) throw new RangeError(`perMinute must be a positive integer, got ${limit.perMinute}`);
  if (!Number.isSafeInteger(cost) || cost < 1 || cost > limit.perMinute) {
    throw new RangeError(`cost must be an integer from 1 to perMinute (${limit.perMinute}), got ${cost}`);
  }
}

export const RATE_WINDOW_MS = 60_000;
