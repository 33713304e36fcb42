/**
 * Real PostgreSQL and Redis for tests. Each test file gets its own database (created
 * here, dropped at the end) and its own Redis key prefix, so runs never collide.
 * Override the servers with TEST_PG_URL / TEST_REDIS_URL.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import Redis from 'ioredis';

export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database; `drop()` removes it (terminating leftover connections). */
export async function createTestDatabase(prefix = 'edgeplane_test'): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  const admin = new Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface TestRedis {
  url: string;
  /** Key (and channel) prefix unique to this test, ending in ":". */
  prefix: string;
  /** Deletes every key under the prefix. */
  cleanup(): Promise<void>;
}

export function createTestRedisPrefix(): TestRedis {
  const prefix = `${uniqueName('edgeplane_test')}:`;
  return {
    url: REDIS_URL,
    prefix,
    async cleanup() {
      const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await redis.connect();
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    },
  };
}
