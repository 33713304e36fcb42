/**
 * The concrete adapters, chosen from configuration: Redis or the in-process bus and
 * fleet channel.
 */
import type { ChangeBus } from '../core/bus.port';
import type { EdgeFleet } from '../core/fleet.port';
import type { Logger } from '../obs/logger.factory';
import { MemoryBus } from '../bus/memory-bus';
import { MemoryFleet } from '../bus/memory-fleet';
import { createRedisBus } from '../bus/redis-bus';
import { createRedisFleet } from '../bus/redis-fleet';

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
