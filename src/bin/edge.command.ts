import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startEdgePrimary } from '../edge/cluster/edge.primary';
import { ClusterFillLocks } from '../edge/cluster/cluster-fill-locks';
import { ClusterClientRates } from '../edge/cluster/cluster-client-rates';
import { announceInvalidation, joinPrimary, reportToPrimary } from '../edge/cluster/edge.worker';
import { loadEdgeConfig, type EdgeConfig } from '../edge/config';
import { startEdge } from '../edge/server';
import { createBusCustomerFeed } from '../edge/sync/bus-sync';
import { createStaticCustomerFeed, loadCustomersFile } from '../edge/sync/static-feed';
import type { EdgeFleet } from '../core/fleet.port';
import type { RedisTarget } from '../core/redis-target';
import type { StatsChannel } from '../core/stats.port';
import type { EdgeCustomerFeed } from '../edge/customer-feed.port';
import { createLogger, type Logger } from '../obs/logger.factory';
import { closeOnSignals, type Closer } from './lifecycle';
import { createAccessLogChannel, createBus, createFleet, createStatsChannel } from './wiring';
import type { AccessLogChannel } from '../core/access-log.port';

export const EDGE_HELP = `Usage: cdn edge [--config customers.json]

Runs the data plane: serves every customer domain on CDN_EDGE_HOST:CDN_EDGE_PORT (HTTP) and
CDN_EDGE_TLS_HOST:CDN_EDGE_TLS_PORT (HTTPS: h2 and HTTP/1.1, the certificate chosen by SNI;
default 8443, "off" disables it), with /healthz, /readyz and /metrics on the admin port
CDN_EDGE_ADMIN_PORT only.

Runs CDN_EDGE_WORKERS worker processes (default: one per core) sharing the public port and
the disk cache; the primary process serves the admin port for all of them and restarts a
worker that dies. CDN_EDGE_WORKERS=1 serves from this one process.

Follows the api's changes over Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES), or with --config serves a fixed list of
customers from a JSON file: [{ "id", "originUrl" (or "origins": [{ "name", "url", "priority"?,
"weight"?, "basicAuth"?, "hostHeader"?, "tlsServerName"?, "healthCheck"? }], "originPolicy"?),
"domains": [...], "cacheTtl"?, "basicAuth"?, "queryString"?, "staleIfErrorSeconds"?, "rules"?,
"compressTypes"?, "tls"?: { "certificates": [{ "certPem", "keyPem" }], "httpsRedirect"?, "hsts"? } }]
(every field as docs/API.md describes it; checked by the api's rules).

Required: CDN_SECRET_KEY (the same as the api's). Optional: CDN_EDGE_HOST (127.0.0.1),
CDN_EDGE_PORT (8080), CDN_EDGE_TLS_HOST (CDN_EDGE_HOST), CDN_EDGE_TLS_PORT (8443),
CDN_EDGE_TLS_PUBLIC_PORT (443: the port redirects to HTTPS name), CDN_EDGE_ADMIN_PORT (8081), CDN_EDGE_WORKERS, CDN_EDGE_ACCEPT_HANDLES, CDN_CACHE_DIR
(<CDN_DATA_DIR>/cache), CDN_DATA_DIR (./.data), CDN_EDGE_ID, CDN_REDIS_PREFIX,
CDN_ALLOW_PRIVATE_ORIGINS, CDN_LOG_LEVEL, CDN_EDGE_LOG_SAMPLE, CDN_EDGE_STATS_INTERVAL_MS, and the client limits CDN_EDGE_MAX_URL_BYTES,
CDN_EDGE_MAX_HEADER_BYTES, CDN_EDGE_MAX_BODY_BYTES, CDN_EDGE_CLIENT_TIMEOUT_MS, CDN_EDGE_BODY_TIMEOUT_MS,
CDN_EDGE_KEEPALIVE_TIMEOUT_MS, compression (CDN_EDGE_COMPRESS*), origins (CDN_EDGE_ORIGIN_*),
warming (CDN_EDGE_WARM_*) and CDN_EDGE_SIGNED_URL_LEEWAY_SECONDS (see the README).
`;

/** Workers share stdout: writes of at most PIPE_BUF bytes keep every JSON line whole. */
const SHARED_STDOUT_MAX_WRITE = 4096;

export async function runEdge(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
  const config = loadEdgeConfig(process.env);
  if (cluster.isWorker) return runWorker(config, values.config);
  const logger = createLogger({ name: 'edge', level: config.logLevel, destination: pino.destination({ sync: false, maxWrite: SHARED_STDOUT_MAX_WRITE }) });
  if (config.workers === 1) return runSingle(config, values.config, logger);

  // Refuse a bad customers file (or missing Redis) here, once, rather than in every worker.
  if (values.config !== undefined) await loadCustomersFile(values.config, config.secretKey);
  else requireRedis(config);
  const edge = await startEdgePrimary(config, { logger });
  logger.info({ url: edge.url, tlsUrl: edge.tlsUrl, admin: edge.adminUrl, edgeId: config.edgeId, workers: edge.workers }, 'edge listening');
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal} received: draining the workers and shutting down`);
    void edge.stop().then((code) => {
      logger.info({ code }, 'edge stopped');
      logger.flush();
      process.exit(code);
    });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

async function runSingle(config: Readonly<EdgeConfig>, customersFile: string | undefined, logger: Logger): Promise<void> {
  const closers: Closer[] = [];
  const { customers, fleet, stats, accessLogs } = await createCustomerFeed(config, customersFile, logger, closers);
  const edge = await startEdge(config, { customers, fleet, stats, accessLogs, logger });
  closers.push({ name: 'edge', close: () => edge.close() });
  logger.info({ url: edge.url, tlsUrl: edge.tlsUrl, admin: edge.adminUrl, edgeId: config.edgeId }, 'edge listening');
  closeOnSignals(closers, (msg) => logger.info(msg));
}

/** A cluster worker: a whole edge without the admin port, drained by a signal or the primary. */
async function runWorker(config: Readonly<EdgeConfig>, customersFile: string | undefined): Promise<void> {
  const logger = createLogger({
    name: 'edge',
    level: config.logLevel,
    destination: pino.destination({ sync: false, maxWrite: SHARED_STDOUT_MAX_WRITE }),
  }).child({ worker: cluster.worker!.id });
  // Handlers first: a drain asked for while the edge is still starting closes what has started.
  const closers: Closer[] = [];
  closeOnSignals(closers, (msg) => logger.info(msg));
  joinPrimary(() => process.kill(process.pid, 'SIGTERM'));
  const { customers, fleet, stats, accessLogs } = await createCustomerFeed(config, customersFile, logger, closers);
  // Each worker follows the bus and applies purges itself, so each reports (heartbeats, stats) as its own edge.
  const edgeId = `${config.edgeId}#${cluster.worker!.id}`;
  // One origin fetch per key for the whole machine, not per worker (the primary keeps the table).
  const fills = new ClusterFillLocks({ followTimeoutMs: 2 * config.originTimeoutMs + 5_000 });
  // One rate budget per client for the whole machine, kept by the primary (delivery rules' rateLimit).
  const clientRates = new ClusterClientRates();
  const edge = await startEdge(config, { customers, fleet, stats, accessLogs, edgeId, logger, serveAdmin: false, onInvalidate: announceInvalidation, fills, clientRates });
  const stopReporting = reportToPrimary(edge);
  closers.push({
    name: 'edge',
    close: () => {
      stopReporting();
      return edge.close();
    },
  });
}

/**
 * A fixed customers file, or the api's change bus plus the fleet channel (heartbeats,
 * purge acks) and the stats channel (per-customer traffic). Closers run in reverse: the
 * edge stops (publishing its last stats, leaving the fleet) before the channels close.
 */
async function createCustomerFeed(
  config: Readonly<EdgeConfig>,
  customersFile: string | undefined,
  logger: Logger,
  closers: Closer[],
): Promise<{ customers: EdgeCustomerFeed; fleet: EdgeFleet | undefined; stats: StatsChannel | undefined; accessLogs: AccessLogChannel | undefined }> {
  if (customersFile !== undefined) {
    return { customers: createStaticCustomerFeed(await loadCustomersFile(customersFile, config.secretKey)), fleet: undefined, stats: undefined, accessLogs: undefined };
  }
  const redis = requireRedis(config);
  const bus = createBus({ redis, prefix: config.redisPrefix, logger });
  closers.push({ name: 'bus', close: () => bus.close() });
  const fleet = createFleet({ redis, prefix: config.redisPrefix, logger });
  closers.push({ name: 'fleet', close: () => fleet.close() });
  const stats = createStatsChannel({ redis, prefix: config.redisPrefix, logger });
  closers.push({ name: 'stats', close: () => stats.close() });
  // Live access log tails: the api marks the customers tailed, the edge publishes their records.
  const accessLogs = createAccessLogChannel({ redis, prefix: config.redisPrefix, logger });
  closers.push({ name: 'access log', close: () => accessLogs.close() });
  return { customers: createBusCustomerFeed(bus, { dataDir: config.dataDir, logger, maxDetachedSeconds: config.maxDetachedSeconds }), fleet, stats, accessLogs };
}

function requireRedis(config: Readonly<EdgeConfig>): RedisTarget {
  if (config.redis === undefined) {
    throw new Error('`cdn edge` needs Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES) to follow the api, or --config customers.json to serve a fixed list.');
  }
  return config.redis;
}
