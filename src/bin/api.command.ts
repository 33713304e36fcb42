import { loadApiConfig } from '../api/config';
import { createDataSource, migrate } from '../api/db/data-source';
import { startApi } from '../api/server';
import { createLogger } from '../obs/logger.factory';
import { closeOnSignals } from './lifecycle';
import { createBus, createFleet } from './wiring';

export const API_HELP = `Usage: cdn api

Runs the control plane: the GraphQL API (and IDE) at http://CDN_API_HOST:CDN_API_PORT/graphql,
/healthz, /readyz and /metrics. Applies pending migrations first. Run as many as you like
behind a load balancer; they share PostgreSQL and Redis.

Required: DATABASE_URL, REDIS_URL, CDN_ADMIN_TOKEN, CDN_SECRET_KEY (the same on every api and edge).
Optional: CDN_API_HOST (127.0.0.1), CDN_API_PORT (4000), CDN_REDIS_PREFIX (edgeplane:),
CDN_ALLOW_PRIVATE_ORIGINS (false), CDN_LOG_LEVEL (info).
`;

export async function runApi(): Promise<void> {
  const config = loadApiConfig(process.env);
  if (config.databaseUrl === undefined || config.redisUrl === undefined) {
    throw new Error(
      '`cdn api` runs beside other apis and edges, so it needs DATABASE_URL (PostgreSQL) and REDIS_URL. ' +
        'For everything in one process with embedded storage, run `cdn start`.',
    );
  }
  const logger = createLogger({ name: 'api', level: config.logLevel });
  const dataSource = createDataSource({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await dataSource.initialize();
  const applied = await migrate(dataSource);
  if (applied.length > 0) logger.info({ migrations: applied }, 'applied migrations');
  const bus = createBus({ redisUrl: config.redisUrl, prefix: config.redisPrefix, logger });
  const fleet = createFleet({ redisUrl: config.redisUrl, prefix: config.redisPrefix, logger });
  const api = await startApi(config, { dataSource, bus, fleet, logger });
  closeOnSignals(
    [
      { name: 'database', close: () => dataSource.destroy() },
      { name: 'bus', close: () => bus.close() },
      { name: 'fleet', close: () => fleet.close() },
      { name: 'api', close: () => api.close() },
    ],
    (msg) => logger.info(msg),
  );
}
