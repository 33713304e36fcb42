/**
 * The api role's configuration: read once from the environment, every problem listed
 * in one error, returned frozen. Nothing else in src/api reads process.env.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LevelWithSilent } from 'pino';
import { RULES_MAX_DEFAULT } from '../core/delivery-rules.types';
import { EnvReader, type Env } from '../core/env.reader';
import { readRedisTarget, type RedisTarget, type RedisVariables } from '../core/redis-target';
import { SECRET_KEY_MIN_LENGTH } from '../core/secret-box';
import { WARM_MAX_URLS_CAP, WARM_MAX_URLS_DEFAULT } from '../core/warm.types';
import { LOG_LEVELS } from '../obs/logger.factory';
import type { GrantThresholds } from './services/access-stats.service';
import type { AcmeSettings } from './services/acme-orders.service';
import type { CertificateExpiryThresholds } from './services/certificate-stats.service';

export const ADMIN_TOKEN_MIN_LENGTH = 16;

export interface ApiConfig {
  host: string;
  port: number;
  /** postgres:// URL; absent means the embedded PGlite under `dataDir`. */
  databaseUrl: string | undefined;
  /** Where Redis is (one server, Sentinel or Cluster); absent means the caller wires the in-process bus. */
  redis: RedisTarget | undefined;
  /** REDIS_URL as given; undefined under Sentinel or Cluster. Adapters connect by `redis`. */
  redisUrl: string | undefined;
  redisPrefix: string;
  adminToken: string;
  secretKey: string;
  /** Absolute. */
  dataDir: string;
  /** Lets origins resolve to loopback/private addresses (local demos and tests). */
  allowPrivateOrigins: boolean;
  logLevel: LevelWithSilent;
  /** Most delivery rules one customer may have (CDN_RULES_MAX). */
  rulesMax: number;
  /** Most URLs one warmCache may name (CDN_WARM_MAX_URLS). */
  warmMaxUrls: number;
  /** Live stats (stats-aggregator.service.ts): how long per-second stats are kept, and so how far back cacheStatsHistory reaches. */
  statsRetentionMinutes: number;
  /** How long after a second ends its stats are final and shown (late edge reports still count). */
  statsGraceMs: number;
  /** Customers kept per second (memory bound); traffic beyond still counts in the fleet totals. */
  statsMaxCustomersPerSecond: number;
  /** Audit log entries older than this many days are deleted (audit.service.ts). */
  auditRetentionDays: number;
  /** How often each api evaluates the alert rules (services/alert-evaluator.service.ts): CDN_ALERT_EVAL_INTERVAL_MS. */
  alertEvalIntervalMs: number;
  /** How often each api reads the edges' quota spells for `quota.reached` (services/quota-watch.service.ts): CDN_QUOTA_POLL_MS. */
  quotaPollMs: number;
  /** Top URLs and status codes (services/traffic-top.service.ts): minute summaries older than this many hours are deleted, and trafficTop reaches this far back. */
  topRetentionHours: number;
  /** The hardened GraphQL surface (docs/API.md, "Limits"). */
  limits: Readonly<ApiLimits>;
  /** Grant monitoring thresholds (accessStats, cdn_api_tokens_threshold). */
  grants: Readonly<GrantThresholds>;
  /** Certificate monitoring thresholds, in days before notAfter (cdn_api_certificates_expiring, cdn_api_certificate_expiry_threshold_seconds). */
  certificateExpiry: Readonly<CertificateExpiryThresholds>;
  /** Certificates from an ACME CA (services/acme-orders.service.ts); undefined: CDN_ACME_DIRECTORY_URL unset, uploads only. */
  acme: Readonly<AcmeSettings> | undefined;
  /** Webhook deliveries (services/webhook-dispatcher.ts, docs/API.md "Webhooks"). */
  webhooks: Readonly<WebhookSettings>;
}

export interface WebhookSettings {
  /** Lets webhook URLs resolve to loopback/private addresses (tests, a lab): CDN_ALLOW_PRIVATE_WEBHOOKS. */
  allowPrivate: boolean;
  /** One request's limit, connect to last byte (CDN_WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** Requests in flight per api (CDN_WEBHOOK_CONCURRENCY). */
  concurrency: number;
  /** How long a delivery is retried before it is FAILED (CDN_WEBHOOK_RETRY_SECONDS, a day). */
  retryWindowMs: number;
  /** First retry delay, doubled each time (CDN_WEBHOOK_RETRY_BASE_MS), and the longest (CDN_WEBHOOK_RETRY_MAX_MS). */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How often each api looks for due deliveries (CDN_WEBHOOK_POLL_MS). */
  pollMs: number;
  /** Most webhooks per customer, and fleet-wide (CDN_WEBHOOKS_MAX). */
  maxPerCustomer: number;
}


function readAcme(r: EnvReader, cwd: string): AcmeSettings | undefined {
  const directoryUrl = r.url('CDN_ACME_DIRECTORY_URL', ['https:', 'http:']);
  const caFile = r.string('CDN_ACME_CA_FILE');
  let caPem: string | undefined;
  if (caFile !== undefined) {
    try {
      caPem = readFileSync(path.resolve(cwd, caFile), 'utf8');
      if (!caPem.includes('-----BEGIN CERTIFICATE-----')) r.problem('CDN_ACME_CA_FILE', `${caFile} holds no PEM certificate`);
    } catch (err) {
      r.problem('CDN_ACME_CA_FILE', `cannot read ${caFile}: ${(err as Error).message}`);
    }
  }
  const settings: AcmeSettings = {
    directoryUrl: directoryUrl ?? '',
    email: r.string('CDN_ACME_EMAIL'),
    caPem,
    auto: r.bool('CDN_ACME_AUTO', true),
    checkIntervalMs: r.int('CDN_ACME_CHECK_INTERVAL_MS', 60_000, 100, 24 * 3600_000),
    renewBeforeDays: r.int('CDN_ACME_RENEW_BEFORE_DAYS', 30, 1, 60),
    retryBaseMs: r.int('CDN_ACME_RETRY_BASE_MS', 60_000, 100, 24 * 3600_000),
    propagationTimeoutMs: r.int('CDN_ACME_PROPAGATION_TIMEOUT_MS', 30_000, 0, 600_000),
  };
  return directoryUrl === undefined ? undefined : settings;
}

export interface ApiLimits {
  /** Deepest field nesting an operation may have (fragments expanded). */
  maxDepth: number;
  /** Aliases per operation (fragments expanded). */
  maxAliases: number;
  /** Cost per operation: every field 1, a list field's selection times its page size. */
  maxCost: number;
  /** Whether __schema/__type queries are answered. */
  introspection: boolean;
  /** Whether browsers get the GraphiQL page at GET /graphql. */
  ide: boolean;
  /** Largest request body on /graphql. */
  maxBodyBytes: number;
  /** Operations per caller (token) per minute, over HTTP and graphql-ws. */
  ratePerMinute: number;
  /** purgeCache mutations per caller per minute (each aliased purgeCache counts). */
  purgeRatePerMinute: number;
}

/** Where Redis is: the same variables as the edge's (rules in core/redis-target.ts). */
const redisVariables: RedisVariables = {
  url: 'REDIS_URL',
  sentinels: 'REDIS_SENTINELS',
  sentinelMaster: 'REDIS_SENTINEL_MASTER',
  sentinelPassword: 'REDIS_SENTINEL_PASSWORD',
  clusterNodes: 'REDIS_CLUSTER_NODES',
  username: 'REDIS_USERNAME',
  password: 'REDIS_PASSWORD',
  prefix: 'CDN_REDIS_PREFIX',
};

function readRedis(r: EnvReader): Pick<ApiConfig, 'redis' | 'redisUrl' | 'redisPrefix'> {
  const { target, prefix } = readRedisTarget(r, redisVariables);
  return { redis: target, redisUrl: target?.mode === 'server' ? target.url : undefined, redisPrefix: prefix };
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
    ...readRedis(r),
    adminToken: adminToken ?? '',
    secretKey: secretKey ?? '',
    dataDir: path.resolve(cwd, r.string('CDN_DATA_DIR', './.data')),
    allowPrivateOrigins: r.bool('CDN_ALLOW_PRIVATE_ORIGINS', false),
    logLevel: r.oneOf('CDN_LOG_LEVEL', LOG_LEVELS, 'info'),
    rulesMax: r.int('CDN_RULES_MAX', RULES_MAX_DEFAULT, 1, 1000),
    warmMaxUrls: r.int('CDN_WARM_MAX_URLS', WARM_MAX_URLS_DEFAULT, 1, WARM_MAX_URLS_CAP),
    statsRetentionMinutes: r.int('CDN_STATS_RETENTION_MINUTES', 15, 1, 1440),
    statsGraceMs: r.int('CDN_STATS_GRACE_MS', 1500, 0, 10_000),
    statsMaxCustomersPerSecond: r.int('CDN_STATS_MAX_CUSTOMERS', 1000, 1, 100_000),
    auditRetentionDays: r.int('CDN_AUDIT_RETENTION_DAYS', 90, 1, 36_500),
    alertEvalIntervalMs: r.int('CDN_ALERT_EVAL_INTERVAL_MS', 5000, 100, 600_000),
    quotaPollMs: r.int('CDN_QUOTA_POLL_MS', 5000, 100, 600_000),
    topRetentionHours: r.int('CDN_API_TOP_RETENTION_HOURS', 24, 1, 720),
    limits: Object.freeze({
      maxDepth: r.int('CDN_API_MAX_DEPTH', 10, 2, 100),
      maxAliases: r.int('CDN_API_MAX_ALIASES', 20, 0, 1000),
      maxCost: r.int('CDN_API_MAX_COST', 10_000, 1, 10_000_000),
      introspection: r.bool('CDN_API_INTROSPECTION', true),
      ide: r.bool('CDN_API_IDE', true),
      maxBodyBytes: r.int('CDN_API_MAX_BODY_BYTES', 1024 * 1024, 1024, 100 * 1024 * 1024),
      ratePerMinute: r.int('CDN_API_RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
      purgeRatePerMinute: r.int('CDN_API_PURGE_RATE_LIMIT_PER_MINUTE', 60, 1, 1_000_000),
    }),
    grants: Object.freeze({
      roles: Object.freeze({
        admin: { warning: r.int('CDN_GRANTS_ADMIN_WARNING', 3, 1, 1_000_000), critical: r.int('CDN_GRANTS_ADMIN_CRITICAL', 10, 1, 1_000_000) },
        operator: { warning: r.int('CDN_GRANTS_OPERATOR_WARNING', 10, 1, 1_000_000), critical: r.int('CDN_GRANTS_OPERATOR_CRITICAL', 25, 1, 1_000_000) },
        viewer: { warning: r.int('CDN_GRANTS_VIEWER_WARNING', 25, 1, 1_000_000), critical: r.int('CDN_GRANTS_VIEWER_CRITICAL', 100, 1, 1_000_000) },
      }),
      customer: { warning: r.int('CDN_GRANTS_CUSTOMER_WARNING', 25, 1, 1_000_000), critical: r.int('CDN_GRANTS_CUSTOMER_CRITICAL', 100, 1, 1_000_000) },
    }),
    certificateExpiry: Object.freeze({
      warningDays: r.int('CDN_CERTIFICATES_EXPIRY_WARNING_DAYS', 14, 1, 365),
      criticalDays: r.int('CDN_CERTIFICATES_EXPIRY_CRITICAL_DAYS', 7, 1, 365),
    }),
    acme: readAcme(r, cwd),
    webhooks: Object.freeze({
      allowPrivate: r.bool('CDN_ALLOW_PRIVATE_WEBHOOKS', false),
      timeoutMs: r.int('CDN_WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
      concurrency: r.int('CDN_WEBHOOK_CONCURRENCY', 16, 1, 1000),
      retryWindowMs: r.int('CDN_WEBHOOK_RETRY_SECONDS', 86_400, 1, 7 * 86_400) * 1000,
      retryBaseMs: r.int('CDN_WEBHOOK_RETRY_BASE_MS', 30_000, 10, 3_600_000),
      retryMaxMs: r.int('CDN_WEBHOOK_RETRY_MAX_MS', 3_600_000, 10, 86_400_000),
      pollMs: r.int('CDN_WEBHOOK_POLL_MS', 1000, 10, 60_000),
      maxPerCustomer: r.int('CDN_WEBHOOKS_MAX', 20, 1, 1000),
    }),
  };
  const g = config.grants;
  for (const [variable, t] of [
    ['CDN_GRANTS_ADMIN_WARNING', g.roles.admin],
    ['CDN_GRANTS_OPERATOR_WARNING', g.roles.operator],
    ['CDN_GRANTS_VIEWER_WARNING', g.roles.viewer],
    ['CDN_GRANTS_CUSTOMER_WARNING', g.customer],
  ] as const) {
    if (t.warning > t.critical) r.problem(variable, `must not be above the critical threshold (${t.critical})`);
  }
  const expiry = config.certificateExpiry;
  if (expiry.criticalDays > expiry.warningDays) {
    r.problem('CDN_CERTIFICATES_EXPIRY_CRITICAL_DAYS', `must not be above the warning window (${expiry.warningDays} days): a certificate is critical closer to its expiry than it is a warning`);
  }
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

export interface TokenToolConfig extends DatabaseConfig, Pick<ApiConfig, 'redis' | 'redisUrl' | 'redisPrefix'> {
  secretKey: string;
}

/** What `cdn token` needs: the database, the signing secret, and Redis to announce revocations. */
export function loadTokenToolConfig(env: Env, cwd: string = process.cwd()): Readonly<TokenToolConfig> {
  const r = new EnvReader(env);
  const secretKey = r.string('CDN_SECRET_KEY');
  if (secretKey === undefined) {
    r.problem('CDN_SECRET_KEY', 'is required: the same secret the api runs with (tokens are signed with a key derived from it)');
  } else if (secretKey.length < SECRET_KEY_MIN_LENGTH) {
    r.problem('CDN_SECRET_KEY', `must be at least ${SECRET_KEY_MIN_LENGTH} characters (got ${secretKey.length})`);
  }
  return r.finish('token', {
    databaseUrl: r.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir: path.resolve(cwd, r.string('CDN_DATA_DIR', './.data')),
    secretKey: secretKey ?? '',
    ...readRedis(r),
  });
}
