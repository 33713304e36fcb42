import { parseArgs } from 'node:util';
import path from 'node:path';
import { loadApiConfig, loadDatabaseConfig } from '../api/config';
import { createDataSource, migrate } from '../api/db/data-source';
import { startApi } from '../api/server';
import { loadEdgeConfig } from '../edge/config';
import { startEdge } from '../edge/server';
import { createBusCustomerFeed } from '../edge/sync/bus-sync';
import { createLogger } from '../obs/logger.factory';
import { DEMO_CUSTOMERS, demoDomain, setUpDemo } from './demo-seed';
import { ensureDemoCa } from './demo-tls';
import { ensureDir, readOrCreateSecret } from './data-dir';
import { lockDataDir } from './data-dir.lock';
import { closeAll, closeOnSignals, type Closer } from './lifecycle';
import { createAccessLogChannel, createBus, createFleet, createRateLimiter, createRevocations, createStatsChannel, describeRedis, redactUrl } from './wiring';

export const START_HELP = `Usage: cdn start [--no-demo]

Everything in one process for a first look: the api (GraphQL + IDE) on CDN_API_PORT (4000),
an edge on CDN_EDGE_PORT (8080) and, for HTTPS and HTTP/2, CDN_EDGE_TLS_PORT (8443), with its
admin port CDN_EDGE_ADMIN_PORT (8081), and three demo customers (customer-a, customer-b,
customer-c on cdn.<id>.local), each with its own demo origin on loopback and a certificate
signed by a demo CA made once in CDN_DATA_DIR/tls/ (trust it with curl --cacert).

Storage: DATABASE_URL if set, otherwise an embedded PostgreSQL (PGlite) under CDN_DATA_DIR
(./.data). Change bus: REDIS_URL if set, otherwise in-process.
CDN_ADMIN_TOKEN and CDN_SECRET_KEY default to secrets generated once into CDN_DATA_DIR.
CDN_ALLOW_PRIVATE_ORIGINS defaults to true here, because the demo origins are on loopback.

Options:
  --no-demo   start without demo origins and customers
`;

export async function runStart(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { 'no-demo': { type: 'boolean' } } });
  const dataDir = path.resolve(process.env.CDN_DATA_DIR ?? './.data');
  await ensureDir(dataDir);
  // Before anything in the directory is read or written: a second `cdn start` (or `cdn token`)
  // on the same embedded database must change nothing. Released when this process exits.
  if (usesEmbeddedDatabase()) lockDataDir(dataDir, 'cdn start');
  const token = process.env.CDN_ADMIN_TOKEN ?? (await readOrCreateSecret(dataDir, 'admin-token')).value;
  const secretKey = process.env.CDN_SECRET_KEY ?? (await readOrCreateSecret(dataDir, 'secret-key')).value;
  const env = {
    ...process.env,
    CDN_DATA_DIR: dataDir,
    CDN_ADMIN_TOKEN: token,
    CDN_SECRET_KEY: secretKey,
    CDN_ALLOW_PRIVATE_ORIGINS: process.env.CDN_ALLOW_PRIVATE_ORIGINS ?? 'true',
  };
  const apiConfig = loadApiConfig(env);
  const edgeConfig = loadEdgeConfig(env);
  const logger = createLogger({ name: 'cdn', level: apiConfig.logLevel });
  const apiLogger = createLogger({ name: 'api', level: apiConfig.logLevel });
  const edgeLogger = createLogger({ name: 'edge', level: edgeConfig.logLevel });

  const closers: Closer[] = [];
  try {
    const dataSource = createDataSource({ databaseUrl: apiConfig.databaseUrl, dataDir });
    await dataSource.initialize();
    closers.push({ name: 'database', close: () => dataSource.destroy() });
    await migrate(dataSource);
    const bus = createBus({ redis: apiConfig.redis, prefix: apiConfig.redisPrefix, logger });
    closers.push({ name: 'bus', close: () => bus.close() });
    // One fleet channel for the api and the edge of this process (in-process unless REDIS_URL is set).
    const fleet = createFleet({ redis: apiConfig.redis, prefix: apiConfig.redisPrefix, logger });
    closers.push({ name: 'fleet', close: () => fleet.close() });
    // Likewise one stats channel: the edge publishes its traffic, the api reads it.
    const stats = createStatsChannel({ redis: apiConfig.redis, prefix: apiConfig.redisPrefix, logger, retentionMs: apiConfig.statsRetentionMinutes * 60_000 });
    closers.push({ name: 'stats', close: () => stats.close() });
    // And one access log channel: the api marks tailed customers, the edge publishes their records.
    const accessLogs = createAccessLogChannel({ redis: apiConfig.redis, prefix: apiConfig.redisPrefix, logger });
    closers.push({ name: 'access log', close: () => accessLogs.close() });
    const rateLimiter = createRateLimiter({ redis: apiConfig.redis, prefix: apiConfig.redisPrefix, logger });
    closers.push({ name: 'rate limiter', close: () => rateLimiter.close() });
    const revocations = createRevocations({ redis: apiConfig.redis, prefix: apiConfig.redisPrefix, logger });
    closers.push({ name: 'token revocations', close: () => revocations.close() });
    const api = await startApi(apiConfig, { dataSource, bus, fleet, stats, accessLogs, rateLimiter, revocations, logger: apiLogger });
    closers.push({ name: 'api', close: () => api.close() });
    const customers = createBusCustomerFeed(bus, { dataDir, logger: edgeLogger, maxDetachedSeconds: edgeConfig.maxDetachedSeconds });
    const edge = await startEdge(edgeConfig, { customers, fleet, stats, accessLogs, logger: edgeLogger });
    closers.push({ name: 'edge', close: () => edge.close() });
    // The demo CA only where the edge has an HTTPS port to present its certificates on.
    const demoCa = values['no-demo'] !== true && edge.tlsPort !== undefined ? await ensureDemoCa(dataDir) : undefined;
    if (values['no-demo'] !== true) {
      const demo = await setUpDemo(api.url, token, customers, demoCa?.ca);
      closers.push({ name: 'demo origins', close: () => demo.close() });
    }
    process.stdout.write(
      banner({
        api: api.url,
        edge: edge.url,
        tlsPort: edge.tlsPort,
        caFile: demoCa?.certFile,
        admin: edge.adminUrl,
        token,
        tokenFromEnv: process.env.CDN_ADMIN_TOKEN !== undefined,
        database: apiConfig.databaseUrl === undefined ? `embedded PGlite in ${dataDir}/pglite` : redactUrl(apiConfig.databaseUrl),
        bus: apiConfig.redis === undefined ? 'in-process' : describeRedis(apiConfig.redis),
        demo: values['no-demo'] !== true,
      }),
    );
  } catch (err) {
    await closeAll(closers, (msg) => logger.warn(msg));
    throw err;
  }
  // npm_lifecycle_event: we are an npm script (`npm start`), and npm waits for us.
  closeOnSignals(closers, (msg) => logger.info(msg), { exitWithParent: process.env.npm_lifecycle_event !== undefined });
}

function usesEmbeddedDatabase(): boolean {
  try {
    return loadDatabaseConfig(process.env).databaseUrl === undefined;
  } catch {
    // A bad DATABASE_URL: loadApiConfig reports it below with every other problem, and stops
    // before anything is opened.
    return false;
  }
}

function banner(o: {
  api: string;
  edge: string;
  tlsPort: number | undefined;
  caFile: string | undefined;
  admin: string;
  token: string;
  tokenFromEnv: boolean;
  database: string;
  bus: string;
  demo: boolean;
}): string {
  const lines = [
    '',
    'Edgeplane is running.',
    '',
    `  GraphQL API + IDE  ${o.api}/graphql`,
    `  live dashboard     ${o.api}/dashboard  (paste the admin token)`,
    `  customer portal    ${o.api}/portal  (a customer's token, or the admin token)`,
    `  edge (public)      ${o.edge}`,
    ...(o.tlsPort === undefined ? [] : [`  edge (HTTPS)       port ${o.tlsPort}: HTTP/2 and HTTP/1.1, each customer's certificate by SNI`]),
    `  edge admin         ${o.admin}  (/healthz /readyz /metrics)`,
    `  database           ${o.database}`,
    `  change bus         ${o.bus}`,
    `  admin token        ${o.token}${o.tokenFromEnv ? '  (from CDN_ADMIN_TOKEN)' : '  (kept in the data directory)'}`,
    '',
  ];
  if (o.demo) {
    lines.push(
      `  demo customers     ${DEMO_CUSTOMERS.map((id) => `${id} (${demoDomain(id)})`).join(', ')}`,
      '',
      'Try it:',
      `  curl -i -H 'Host: ${demoDomain(DEMO_CUSTOMERS[0])}' ${o.edge}/test.json     # X-Cache: MISS, then HIT`,
      ...(o.tlsPort === undefined || o.caFile === undefined
        ? []
        : [
            `  curl -i --cacert ${o.caFile} --resolve ${demoDomain(DEMO_CUSTOMERS[0])}:${o.tlsPort}:127.0.0.1 \\`,
            `       https://${demoDomain(DEMO_CUSTOMERS[0])}:${o.tlsPort}/test.json     # HTTP/2, X-Cache: HIT (certificate of the demo CA)`,
          ]),
      `  curl -s -H 'Authorization: Bearer ${o.token}' -H 'content-type: application/json' \\`,
      `       -d '{"query":"{ customers { nodes { id domains originUrl } } }"}' ${o.api}/graphql`,
      '',
    );
  }
  lines.push('Stop with Ctrl-C (SIGINT) or SIGTERM.', '');
  return lines.join('\n');
}
