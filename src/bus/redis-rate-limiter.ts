/**
 * Rate limits on Redis, shared by every api process: one key per caller budget,
 * `${prefix}rate:${key}`, holding its GCRA "theoretical arrival time" (epoch ms) and
 * expiring when the budget is full again, so idle callers cost nothing. One Lua script reads
 * Redis' own clock (TIME), decides and stores, so api processes with skewed clocks agree.
 * The arithmetic is memory-rate-limiter.ts's. While Redis is unreachable every call rejects
 * within a few seconds.
 */
import { checkTake, RATE_WINDOW_MS, type RateDecision, type RateLimit, type RateLimiter } from '../core/rate-limit.port';
import type { Logger } from '../obs/logger.factory';
import { RedisConnections, type RedisWhere, where } from './redis-connections';

/** How long the api waits for a budget before letting the operation through unlimited. */
const LIMITER_TIMEOUT_MS = 1_000;

/** KEYS[1] the budget; ARGV: cost, perMinute, window ms. Returns { allowed, remaining, retryAfterMs }. */
const TAKE_SCRIPT = `
local cost = tonumber(ARGV[1])
local interval = tonumber(ARGV[3]) / tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local stored = tonumber(redis.call('GET', KEYS[1]) or '')
local tat = math.max(stored or now, now) + cost * interval
local early = tat - tonumber(ARGV[3]) - now
if early > interval / 2 then
  return { 0, 0, math.ceil(early) }
end
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now))
return { 1, math.floor((now + tonumber(ARGV[3]) - tat) / interval + 0.5), 0 }
`;

export type RedisRateLimiterOptions = RedisWhere & {
  prefix: string;
  logger?: Logger;
};

export function createRedisRateLimiter(options: RedisRateLimiterOptions): RateLimiter {
  return new RedisRateLimiter(options);
}

class RedisRateLimiter implements RateLimiter {
  readonly #redis: RedisConnections;
  readonly #prefix: string;

  constructor(options: RedisRateLimiterOptions) {
    this.#redis = new RedisConnections({
      ...where(options),
      name: 'rate-limits',
      what: 'rate limits',
      logger: options.logger,
      // Every api request waits for its budget: a Redis that hangs must not hang the api (the
      // rate guard lets the operation through when the limiter cannot answer).
      commandTimeoutMs: LIMITER_TIMEOUT_MS,
      scripts: { edgeplaneRateTake: { numberOfKeys: 1, lua: TAKE_SCRIPT } },
    });
    this.#prefix = options.prefix;
  }

  async take(key: string, cost: number, limit: RateLimit): Promise<RateDecision> {
    if (this.#redis.closed) throw new Error('the rate limiter is closed');
    checkTake(key, cost, limit);
    const command = this.#redis.command as unknown as {
      edgeplaneRateTake(key: string, cost: number, perMinute: number, windowMs: number): Promise<[number, number, number]>;
    };
    const [allowed, remaining, retryAfterMs] = await command.edgeplaneRateTake(`${this.#prefix}rate:${key}`, cost, limit.perMinute, RATE_WINDOW_MS);
    return { allowed: allowed === 1, remaining, retryAfterMs };
  }

  async close(): Promise<void> {
    await this.#redis.close();
  }
}
