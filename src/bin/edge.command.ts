import { parseArgs } from 'node:util';
import { loadEdgeConfig } from '../edge/config';
import { startEdge } from '../edge/server';
import { createBusTenantFeed } from '../edge/sync/bus-sync';
import { createStaticTenantFeed, loadCustomersFile } from '../edge/sync/static-feed';
import { createLogger } from '../obs/logger.factory';
import { closeOnSignals, type Closer } from './lifecycle';
import { createBus } from './wiring';

export const EDGE_HELP = `Usage: cdn edge [--config customers.json]

Runs the data plane: serves every customer domain on CDN_EDGE_HOST:CDN_EDGE_PORT, with
/healthz, /readyz and /metrics on the admin port CDN_EDGE_ADMIN_PORT only.

Follows the api's changes over Redis (REDIS_URL), or with --config serves a fixed list of
customers from a JSON file: [{ "id", "originUrl", "domains": [...], "cacheTtl"?, "basicAuth"? }].

Required: CDN_SECRET_KEY (the same as the api's). Optional: CDN_EDGE_HOST (127.0.0.1),
CDN_EDGE_PORT (8080), CDN_EDGE_ADMIN_PORT (8081), CDN_CACHE_DIR (<CDN_DATA_DIR>/cache),
CDN_DATA_DIR (./.data), CDN_EDGE_ID, CDN_REDIS_PREFIX, CDN_ALLOW_PRIVATE_ORIGINS, CDN_LOG_LEVEL.
`;

export async function runEdge(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
  const config = loadEdgeConfig(process.env);
  const logger = createLogger({ name: 'edge', level: config.logLevel });
  const closers: Closer[] = [];
  let tenants;
  if (values.config !== undefined) {
    tenants = createStaticTenantFeed(await loadCustomersFile(values.config, config.secretKey));
  } else {
    if (config.redisUrl === undefined) {
      throw new Error('`cdn edge` needs REDIS_URL to follow the api, or --config customers.json to serve a fixed list.');
    }
    const bus = createBus({ redisUrl: config.redisUrl, prefix: config.redisPrefix, logger });
    closers.push({ name: 'bus', close: () => bus.close() });
    tenants = createBusTenantFeed(bus, { dataDir: config.dataDir, logger });
  }
  const edge = await startEdge(config, { tenants, logger });
  closers.push({ name: 'edge', close: () => edge.close() });
  logger.info({ url: edge.url, admin: edge.adminUrl, edgeId: config.edgeId }, 'edge listening');
  closeOnSignals(closers, (msg) => logger.info(msg));
}
