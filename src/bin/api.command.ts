import { loadApiConfig } from '../api/config';
import { createDataSource, migrate } from '../api/db/data-source';
import { startApi } from '../api/server';
import { createLogger } from '../obs/logger.factory';
import { closeOnSignals } from './lifecycle';
import { createAccessLogChannel, createBus, createFleet, createRateLimiter, createRevocations, createStatsChannel } from './wiring';

export const API_HELP = `Usage: cdn api

Runs the control plane: the GraphQL API (and IDE) at http://CDN_API_HOST:CDN_API_PORT/graphql,
/healthz, /readyz and /metrics. Applies pending migrations first. Run as many as you like
behind a load balancer; they share PostgreSQL and Redis.

Required: DATABASE_URL, REDIS_URL (or REDIS_SENTINELS, or REDIS_CLUSTER_NODES), CDN_ADMIN_TOKEN, CDN_SECRET_KEY (the same on every api and edge).
Optional: CDN_API_HOST (127.0.0.1), CDN_API_PORT (4000), CDN_REDIS_PREFIX (edgeplane:),
CDN_ALLOW_PRIVATE_ORIGINS (false), CDN_LOG_LEVEL (info), CDN_STATS_RETENTION_MINUTES (15),
CDN_STATS_GRACE_MS (1500), CDN_STATS_MAX_CUSTOMERS (1000); limits (docs/API.md, "Limits"): CDN_API_MAX_DEPTH (10),
CDN_API_MAX_ALIASES (20), CDN_API_MAX_COST (10000), CDN_API_INTROSPECTION (true), CDN_API_IDE (true),
CDN_API_MAX_BODY_BYTES (1048576), CDN_API_RATE_LIMIT_PER_MINUTE (600), CDN_API_PURGE_RATE_LIMIT_PER_MINUTE (60).
`;

export async function runApi(): Promise<void> {
  const config = loadApiConfig(process.env);
  if (config.databaseUrl === undefined || config.redis === undefined) {
    throw new Error(
      '`cdn api` runs beside other apis and edges, so it needs DATABASE_URL (PostgreSQL) and Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES). ' +
        'For everything in one process with embedded storage, run `cdn start`.',
    );
  }
  const logger = createLogger({ name: 'api', level: config.logLevel });
  // The pool warns through it when PostgreSQL closes an idle connection (a restart, a failover).
  const dataSource = createDataSource({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
  await dataSource.initialize();
  const applied = await migrate(dataSource);
  if (applied.length > 0) logger.info({ migrations: applied }, 'applied migrations');
  const bus = createBus({ redis: config.redis, prefix: config.redisPrefix, logger });
  const fleet = createFleet({ redis: config.redis, prefix: config.redisPrefix, logger });
  const stats = createStatsChannel({
    redis: config.redis,
    prefix: config.redisPrefix,
    logger,
    retentionMs: config.statsRetentionMinutes * 60_000,
  });
  const rateLimiter = createRateLimiter({ redis: config.redis, prefix: config.redisPrefix, logger });
  const revocations = createRevocations({ redis: config.redis, prefix: config.redisPrefix, logger });
  const accessLogs = createAccessLogChannel({ redis: config.redis, prefix: config.redisPrefix, logger });
  const api = await startApi(config, { dataSource, bus, fleet, stats, accessLogs, rateLimiter, revocations, logger });
  closeOnSignals(
    [
      { name: 'database', close: () => dataSource.destroy() },
      { name: 'bus', close: () => bus.close() },
      { name: 'fleet', close: () => fleet.close() },
      { name: 'stats', close: () => stats.close() },
      { name: 'access log', close: () => accessLogs.close() },
      { name: 'rate limiter', close: () => rateLimiter.close() },
      { name: 'token revocations', close: () => revocations.close() },
      { name: 'api', close: () => api.close() },
    ],
    (msg) => logger.info(msg),
  );
}
