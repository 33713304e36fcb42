/**
 * The fleet channels the EdgeFleet contract suites run against (test/integration/fleet*.contract.test.ts):
 * the in-process MemoryFleet and the RedisFleet on a given Redis, each a fresh, empty channel per
 * test; and, for what only the Redis one can meet, a RedisFleet beside a raw connection to the
 * same keys. One copy, so the ack suite and the warm report suite open their channels alike.
 */
import Redis from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryFleet } from '../../src/bus/memory-fleet';
import { createRedisFleet } from '../../src/bus/redis-fleet';
import type { EdgeFleet } from '../../src/core/fleet.port';
import type { Logger } from '../../src/obs/logger.factory';
import type { TestRedisTarget } from './redis-ha';
import { createTestRedisPrefix } from './services';

/** One empty fleet channel for one test. */
export interface FleetFixture {
  fleet: EdgeFleet;
  /** Another handle on the same storage (another process, for Redis). */
  peer(): EdgeFleet;
  /** Lets `ms` pass for heartbeats (in-process: the injected clock moves; Redis: real time). */
  elapse(ms: number): Promise<void>;
  dispose(): Promise<void>;
}

export interface FleetOptions {
  /** How many entries each stream (acks, warm reports, origin health) keeps: RedisFleet has one bound for both. */
  max?: number;
}

export interface FleetHarness {
  name: string;
  /** Whether `max` trims exactly (in-process) or roughly (Redis `MAXLEN ~`). */
  exactTrim: boolean;
  open(options?: FleetOptions): Promise<FleetFixture>;
}

export const memoryFleetHarness: FleetHarness = {
  name: 'MemoryFleet',
  exactTrim: true,
  async open(options = {}) {
    let offset = 0;
    const fleet = new MemoryFleet({ maxAcks: options.max, maxWarmReports: options.max, maxOriginHealth: options.max, now: () => Date.now() + offset });
    return {
      fleet,
      peer: () => fleet,
      async elapse(ms) {
        offset += ms;
      },
      dispose: () => fleet.close(),
    };
  },
};

/** A RedisFleet on what `connect` gives (a server, a cluster), under a key prefix of its own per test. */
export function redisFleetHarness(name: string, connect: () => Promise<TestRedisTarget>): FleetHarness {
  return {
    name,
    exactTrim: false,
    async open(options = {}) {
      const redis = await connect();
      const make = (): EdgeFleet => createRedisFleet({ ...redis.where, prefix: redis.prefix, ackStreamMaxLength: options.max });
      const fleets = [make()];
      return {
        fleet: fleets[0]!,
        peer() {
          const fleet = make();
          fleets.push(fleet);
          return fleet;
        },
        elapse: (ms) => sleep(ms),
        async dispose() {
          await Promise.all(fleets.map((f) => f.close()));
          await redis.cleanup();
        },
      };
    },
  };
}

export interface Warning {
  fields: Record<string, unknown>;
  message: string;
}

/** A RedisFleet whose warnings are kept, and a raw connection to write its keys behind its back. */
export interface RawRedisFleet {
  fleet: EdgeFleet;
  raw: Redis;
  prefix: string;
  warnings: Warning[];
}

/** Runs `body` on a fresh RawRedisFleet, and cleans it up whatever happens. */
export async function withRawRedisFleet(body: (fixture: RawRedisFleet) => Promise<void>): Promise<void> {
  const redis = createTestRedisPrefix();
  const warnings: Warning[] = [];
  const logger = { warn: (fields: Record<string, unknown>, message: string) => warnings.push({ fields, message }), info: () => {} } as unknown as Logger;
  const fleet = createRedisFleet({ url: redis.url, prefix: redis.prefix, logger });
  const raw = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await raw.connect();
  try {
    await body({ fleet, raw, prefix: redis.prefix, warnings });
  } finally {
    await fleet.close();
    raw.disconnect();
    await redis.cleanup();
  }
}
