/**
 * The concrete adapters, chosen from configuration: Redis or the in-process bus, fleet
 * channel and stats channel. Every Redis adapter connects to the same RedisTarget (one
 * server, the master Redis Sentinel names, or a Redis Cluster: core/redis-target.ts).
 */
import type { ChangeBus } from '../core/bus.port';
import type { EdgeFleet } from '../core/fleet.port';
import type { RateLimiter } from '../core/rate-limit.port';
import type { RedisTarget } from '../core/redis-target';
import type { RevocationChannel } from '../core/revocation.port';
import { MemoryRevocations } from '../bus/memory-revocations';
import { createRedisRevocations } from '../bus/redis-revocations';
import type { StatsChannel } from '../core/stats.port';
import type { Logger } from '../obs/logger.factory';
import { MemoryBus } from '../bus/memory-bus';
import { MemoryFleet } from '../bus/memory-fleet';
import { MemoryRateLimiter } from '../bus/memory-rate-limiter';
import { MemoryStatsChannel } from '../bus/memory-stats';
import { MemoryAccessLogChannel } from '../bus/memory-access-log';
import { createRedisAccessLog } from '../bus/redis-access-log';
import type { AccessLogChannel } from '../core/access-log.port';
import { createRedisBus } from '../bus/redis-bus';
import { createRedisFleet } from '../bus/redis-fleet';
import { createRedisRateLimiter } from '../bus/redis-rate-limiter';
import { createRedisStats } from '../bus/redis-stats';

export function createBus(options: { redis: RedisTarget | undefined; prefix: string; logger: Logger }): ChangeBus {
  if (options.redis === undefined) return new MemoryBus();
  return createRedisBus({ target: options.redis, prefix: options.prefix, logger: options.logger });
}

/**
 * Edges' heartbeats and purge acks: on Redis under the bus's prefix, or in-process (then
 * one instance is shared by the api and the edge of `cdn start`).
 */
export function createFleet(options: { redis: RedisTarget | undefined; prefix: string; logger: Logger }): EdgeFleet {
  if (options.redis === undefined) return new MemoryFleet();
  return createRedisFleet({ target: options.redis, prefix: options.prefix, logger: options.logger });
}

/**
 * Edges' per-second stats reports: the stream `<prefix>stats` on Redis, or in-process (then
 * one instance is shared by the api and the edge of `cdn start`). Reports older than
 * `retentionMs` (default 15 minutes) are dropped.
 */
export function createStatsChannel(options: {
  redis: RedisTarget | undefined;
  prefix: string;
  logger: Logger;
  retentionMs?: number;
}): StatsChannel {
  if (options.redis === undefined) return new MemoryStatsChannel({ retentionMs: options.retentionMs });
  return createRedisStats({ target: options.redis, prefix: options.prefix, logger: options.logger, retentionMs: options.retentionMs });
}

/**
 * Token revocations between api processes: on Redis under the bus's prefix, or in-process
 * (one api; `cdn start`).
 */
export function createRevocations(options: { redis: RedisTarget | undefined; prefix: string; logger: Logger }): RevocationChannel {
  if (options.redis === undefined) return new MemoryRevocations();
  return createRedisRevocations({ target: options.redis, prefix: options.prefix, logger: options.logger });
}

/**
 * The api's per-caller rate limits: budgets under `<prefix>rate:` on Redis, shared by every
 * api process, or in-process for a single api without Redis.
 */
export function createRateLimiter(options: { redis: RedisTarget | undefined; prefix: string; logger: Logger }): RateLimiter {
  if (options.redis === undefined) return new MemoryRateLimiter();
  return createRedisRateLimiter({ target: options.redis, prefix: options.prefix, logger: options.logger });
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

/** Where Redis is, for banners and logs (passwords hidden). */
export function describeRedis(target: RedisTarget): string {
  const nodes = (list: Array<{ host: string; port: number }>): string => list.map((n) => `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`).join(', ');
  switch (target.mode) {
    case 'server':
      return redactUrl(target.url);
    case 'sentinel':
      return `Redis Sentinel master "${target.masterName}" via ${nodes(target.sentinels)}`;
    case 'cluster':
      return `Redis Cluster via ${nodes(target.nodes)}`;
  }
}

/**
 * Live access log tails (core/access-log.port.ts): `<prefix>log-tail` and `<prefix>access-log`
 * on Redis, or in-process (then one instance is shared by the api and the edge of `cdn start`).
 */
export function createAccessLogChannel(options: { redis: RedisTarget | undefined; prefix: string; logger: Logger }): AccessLogChannel {
  if (options.redis === undefined) return new MemoryAccessLogChannel();
  return createRedisAccessLog({ target: options.redis, prefix: options.prefix, logger: options.logger });
}
