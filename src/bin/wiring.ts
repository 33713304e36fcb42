/**
 * The concrete adapters, chosen from configuration: Redis or the in-process bus.
 */
import type { ChangeBus } from '../core/bus.port';
import type { Logger } from '../obs/logger.factory';
import { MemoryBus } from '../bus/memory-bus';
import { createRedisBus } from '../bus/redis-bus';

export function createBus(options: { redisUrl: string | undefined; prefix: string; logger: Logger }): ChangeBus {
  if (options.redisUrl === undefined) return new MemoryBus();
  return createRedisBus({ url: options.redisUrl, prefix: options.prefix, logger: options.logger });
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
