/**
 * The api role's configuration: read once from the environment, every problem listed
 * in one error, returned frozen. Nothing else in src/api reads process.env.
 */
import path from 'node:path';
import type { LevelWithSilent } from 'pino';
import { EnvReader, type Env } from '../core/env.reader';
import { SECRET_KEY_MIN_LENGTH } from '../core/secret-box';
import { LOG_LEVELS } from '../obs/logger.factory';

export const ADMIN_TOKEN_MIN_LENGTH = 16;

export interface ApiConfig {
  host: string;
  port: number;
  /** postgres:// URL; absent means the embedded PGlite under `dataDir`. */
  databaseUrl: string | undefined;
  /** redis:// URL; absent means the caller wires the in-process bus. */
  redisUrl: string | undefined;
  redisPrefix: string;
  adminToken: string;
  secretKey: string;
  /** Absolute. */
  dataDir: string;
  /** Lets origins resolve to loopback/private addresses (local demos and tests). */
  allowPrivateOrigins: boolean;
  logLevel: LevelWithSilent;
}

export function loadApiConfig(env: Env, cwd: string = process.cwd()): Readonly<ApiConfig> {
  const r = new EnvReader(env);
  const adminToken = r.string('CDN_ADMIN_TOKEN');
  if (adminToken === undefined) {
    r.problem('CDN_ADMIN_TOKEN', `is required: a secret of at least ${ADMIN_TOKEN_MIN_LENGTH} characters that clients send as "Authorization: Bearer <token>"`);
  } else if (adminToken.length < ADMIN_TOKEN_MIN_LENGTH) {
    r.problem('CDN_ADMIN_TOKEN', `must be at least ${ADMIN_TOKEN_MIN_LENGTH} characters (got ${adminToken.length})`);
  }
  const secretKey = r.string('CDN_SECRET_KEY');
  if (secretKey === undefined) {
    r.problem('CDN_SECRET_KEY', `is required: a secret of at least ${SECRET_KEY_MIN_LENGTH} characters, the same on every api and edge`);
  } else if (secretKey.length < SECRET_KEY_MIN_LENGTH) {
    r.problem('CDN_SECRET_KEY', `must be at least ${SECRET_KEY_MIN_LENGTH} characters (got ${secretKey.length})`);
  }
  const config: ApiConfig = {
    host: r.string('CDN_API_HOST', '127.0.0.1'),
    port: r.port('CDN_API_PORT', 4000),
    databaseUrl: r.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    redisUrl: r.url('REDIS_URL', ['redis:', 'rediss:']),
    redisPrefix: r.string('CDN_REDIS_PREFIX', 'edgeplane:'),
    adminToken: adminToken ?? '',
    secretKey: secretKey ?? '',
    dataDir: path.resolve(cwd, r.string('CDN_DATA_DIR', './.data')),
    allowPrivateOrigins: r.bool('CDN_ALLOW_PRIVATE_ORIGINS', false),
    logLevel: r.oneOf('CDN_LOG_LEVEL', LOG_LEVELS, 'info'),
  };
  return r.finish('api', config);
}

export interface DatabaseConfig {
  databaseUrl: string | undefined;
  dataDir: string;
}

/** Only what `cdn migrate` needs: where the database is. */
export function loadDatabaseConfig(env: Env, cwd: string = process.cwd()): Readonly<DatabaseConfig> {
  const r = new EnvReader(env);
  return r.finish('database', {
    databaseUrl: r.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir: path.resolve(cwd, r.string('CDN_DATA_DIR', './.data')),
  });
}
