/**
 * The concrete adapters, chosen from configuration: Redis or the in-process bus, fleet
 * channel and stats channel.
 */
import type { ChangeBus } from '../core/bus.port';
import type { EdgeFleet } from '../core/fleet.port';
import type { RateLimiter } from '../core/rate-limit.port';
import type { RevocationChannel } from '../core/revocation.port';
import { MemoryRevocations } from '../bus/memory-revocations';
import { createRedisRevocations } from '../bus/redis-revocations';
import type { StatsChannel } from '../core/stats.port';
import type { Logger } from '../obs/logger.factory';
import { MemoryBus } from '../bus/memory-bus';
import { MemoryFleet } from '../bus/memory-fleet';
import { MemoryRateLimiter } from '../bus/memory-rate-limiter';
import { MemoryStatsChannel } from '../bus/memory-stats';
import { createRedisBus } from '../bus/redis-bus';
import { createRedisFleet } from '../bus/redis-fleet';
import { createRedisRateLimiter } from '../bus/redis-rate-limiter';
import { createRedisStats } from '../bus/redis-stats';

export function createBus(options: { redisUrl: string | undefined; prefix: string; logger: Logger }): ChangeBus {
  if (options.redisUrl === undefined) return new MemoryBus();
  return createRedisBus({ url: options.redisUrl, prefix: options.prefix, logger: options.logger });
}

/**
 * Edges' heartbeats and purge acks: on Redis under the bus's prefix, or in-process (then
 * one instance is shared by the api and the edge of `cdn start`).
 */
export function createFleet(options: { redisUrl: string | undefined; prefix: string; logger: Logger }): EdgeFleet {
  if (options.redisUrl === undefined) return new MemoryFleet();
  return createRedisFleet({ url: options.redisUrl, prefix: options.prefix, logger: options.logger });
}

/**
 * Edges' per-second stats reports: the stream `<prefix>stats` on Redis, or in-process (then
 * one instance is shared by the api and the edge of `cdn start`). Reports older than
 * `retentionMs` (default 15 minutes) are dropped.
 */
export function createStatsChannel(options: {
  redisUrl: string | undefined;
  prefix: string;
  logger: Logger;
  retentionMs?: number;
}): StatsChannel {
  if (options.redisUrl === undefined) return new MemoryStatsChannel({ retentionMs: options.retentionMs });
  return createRedisStats({ url: options.redisUrl, prefix: options.prefix, logger: options.logger, retentionMs: options.retentionMs });
}

/**
 * Token revocations between api processes: on Redis under the bus's prefix, or in-process
 * (one api; `cdn start`).
 */
export function createRevocations(options: { redisUrl: string | undefined; prefix: string; logger: Logger }): RevocationChannel {
  if (options.redisUrl === undefined) return new MemoryRevocations();
  return createRedisRevocations({ url: options.redisUrl, prefix: options.prefix, logger: options.logger });
}

/**
 * The api's per-caller rate limits: budgets under `<prefix>rate:` on Redis, shared by every
 * api process, or in-process for a single api without REDIS_URL.
 */
export function createRateLimiter(options: { redisUrl: string | undefined; prefix: string; logger: Logger }): RateLimiter {
  if (options.redisUrl === undefined) return new MemoryRateLimiter();
  return createRedisRateLimiter({ url: options.redisUrl, prefix: options.prefix, logger: options.logger });
}

/** A URL with its password hidden, for banners and logs. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}
