/**
 * Rate limits in one process (an api without REDIS_URL). GCRA: per key, the "theoretical
 * arrival time" (TAT) at which its budget is full again; each unit pushes it 60000/perMinute ms
 * later, and a take is refused when the TAT would run more than a minute ahead of now.
 * Bounded: at most `maxKeys` keys (least recently used dropped, which only forgives that
 * caller's spending). The clock is injectable so tests need not wait.
 */
import { LRUCache } from 'lru-cache';
import { checkTake, RATE_WINDOW_MS, type RateDecision, type RateLimit, type RateLimiter } from '../core/rate-limit.port';

export const MEMORY_RATE_LIMITER_MAX_KEYS_DEFAULT = 100_000;

export class MemoryRateLimiter implements RateLimiter {
  readonly #now: () => number;
  /** key -> TAT, epoch ms. */
  readonly #tats: LRUCache<string, number>;
  #closed = false;

  constructor(options: { now?: () => number; maxKeys?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#tats = new LRUCache({ max: options.maxKeys ?? MEMORY_RATE_LIMITER_MAX_KEYS_DEFAULT });
  }

  async take(key: string, cost: number, limit: RateLimit): Promise<RateDecision> {
    if (this.#closed) throw new Error('the rate limiter is closed');
    checkTake(key, cost, limit);
    const now = this.#now();
    const decision = gcra(this.#tats.get(key) ?? now, now, cost, limit.perMinute);
    if (decision.allowed) this.#tats.set(key, decision.tat);
    return { allowed: decision.allowed, remaining: decision.remaining, retryAfterMs: decision.retryAfterMs };
  }

  /** Keys held now (for the memory bound's test). */
  get size(): number {
    return this.#tats.size;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#tats.clear();
  }
}

/**
 * The same arithmetic as the Redis script (redis-rate-limiter.ts). A take counts as on time
 * up to half an interval early, so floating-point rounding of a fractional interval never
 * costs a caller the last unit of a burst; the long-run rate is unchanged (the TAT still
 * moves a whole interval per unit).
 */
function gcra(storedTat: number, now: number, cost: number, perMinute: number): RateDecision & { tat: number } {
  const interval = RATE_WINDOW_MS / perMinute;
  const tat = Math.max(storedTat, now) + cost * interval;
  const early = tat - RATE_WINDOW_MS - now;
  if (early > interval / 2) return { allowed: false, remaining: 0, retryAfterMs: Math.ceil(early), tat: storedTat };
  return { allowed: true, remaining: Math.floor((now + RATE_WINDOW_MS - tat) / interval + 0.5), retryAfterMs: 0, tat };
}
