/**
 * The TypeORM DataSource for the api: PostgreSQL when a URL is given, otherwise the
 * embedded PGlite under `<dataDir>/pglite`. Entities and migrations are listed as
 * classes (no globs) so the same code works from TypeScript sources and compiled JS.
 * Never synchronize: the schema is whatever the migrations say.
 */
import path from 'node:path';
import { Client as PgClient, type ClientConfig } from 'pg';
import { DataSource, MigrationExecutor, type Logger as TypeOrmLogger } from 'typeorm';
import { PGliteDriver } from 'typeorm-pglite';
import type { Logger } from '../../obs/logger.factory';
import { InitialSchema1732400000000 } from '../../../migrations/1732400000000-initial-schema';
import { CustomerCacheOptions1795530000000 } from '../../../migrations/1795530000000-customer-cache-options';
import { CustomerStaleIfError1795540000000 } from '../../../migrations/1795540000000-customer-stale-if-error';
import { Purges1795550000000 } from '../../../migrations/1795550000000-purges';
import { ApiTokens1795560000000 } from '../../../migrations/1795560000000-api-tokens';
import { AuditLog1795570000000 } from '../../../migrations/1795570000000-audit-log';
import { Certificates1795580000000 } from '../../../migrations/1795580000000-certificates';
import { AcmeAccounts1795590000000 } from '../../../migrations/1795590000000-acme-accounts';
import { DeliveryRules1795600000000 } from '../../../migrations/1795600000000-delivery-rules';
import { CacheWarming1795610000000 } from '../../../migrations/1795610000000-cache-warming';
import { Origins1795620000000 } from '../../../migrations/1795620000000-origins';
import { OriginEvents1795630000000 } from '../../../migrations/1795630000000-origin-events';
import { Alerts1795710000000 } from '../../../migrations/1795710000000-alerts';
import { Webhooks1795700000000 } from '../../../migrations/1795700000000-webhooks';
import { TrafficTop1795720000000 } from '../../../migrations/1795720000000-traffic-top';
import { AcmeAccountEntity } from './acme-account.entity';
import { AcmeChallengeEntity } from './acme-challenge.entity';
import { ApiTokenEntity } from './api-token.entity';
import { AuditEntity } from './audit.entity';
import { CertificateEntity } from './certificate.entity';
import { ChangeLogEntity } from './change-log.entity';
import { CustomerOriginEntity } from './customer-origin.entity';
import { CustomerEntity } from './customer.entity';
import { DomainEntity } from './domain.entity';
import { PurgeEdgeEntity } from './purge-edge.entity';
import { PurgeEntity } from './purge.entity';
import { SigningKeyEntity } from './signing-key.entity';
import { WarmEdgeEntity } from './warm-edge.entity';
import { WarmEntity } from './warm.entity';

export const API_ENTITIES = [
  CustomerEntity,
  DomainEntity,
  ChangeLogEntity,
  PurgeEntity,
  PurgeEdgeEntity,
  ApiTokenEntity,
  AuditEntity,
  CertificateEntity,
  AcmeChallengeEntity,
  AcmeAccountEntity,
  SigningKeyEntity,
  WarmEntity,
  WarmEdgeEntity,
  CustomerOriginEntity,
];
export const API_MIGRATIONS = [
  InitialSchema1732400000000,
  CustomerCacheOptions1795530000000,
  CustomerStaleIfError1795540000000,
  Purges1795550000000,
  ApiTokens1795560000000,
  AuditLog1795570000000,
  Certificates1795580000000,
  AcmeAccounts1795590000000,
  DeliveryRules1795600000000,
  CacheWarming1795610000000,
  Origins1795620000000,
  OriginEvents1795630000000,
  Webhooks1795700000000,
  Alerts1795710000000,
  TrafficTop1795720000000,
];

/** Arbitrary constant: serialises `migrate` across api replicas starting together. */
const MIGRATION_LOCK_KEY = 0x65_64_67_01;

/**
 * How long the pool waits for a connection (a free slot, or a new connection) before the
 * unit of work fails with CDN_ERR_DATABASE_UNAVAILABLE (database.ts). Without it a request
 * would queue for as long as PostgreSQL or the pooler in front of it is away.
 */
export const DATABASE_CONNECT_TIMEOUT_MS = 5_000;

// DataSources backed by PGlite: one shared session, so callers must serialise transactions.
const singleSession = new WeakSet<DataSource>();

/**
 * node-postgres emits 'error' on a client whose connection fails with no query in flight
 * (PostgreSQL's "terminating connection due to administrator command" at a fast shutdown),
 * and with no listener Node ends the process. The pool listens while a client is idle and
 * TypeORM while a query runner holds it; a restart under load once caught a client between
 * the two and ended an api (test/e2e/postgres-failover.e2e.test.ts). So every client always
 * has a listener of its own. Nothing is lost by it: a client that erred is unusable, its next
 * query fails at once (and counts as the database being unavailable), and the pool drops it.
 */
class GuardedPgClient extends PgClient {
  constructor(config?: string | ClientConfig) {
    super(config);
    this.on('error', () => {});
  }
}

export interface DataSourceOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  logger?: Logger;
}

export function createDataSource(options: DataSourceOptions): DataSource {
  const common = {
    type: 'postgres' as const,
    synchronize: false,
    migrationsRun: false,
    uuidExtension: 'pgcrypto' as const,
    installExtensions: false,
    entities: API_ENTITIES,
    migrations: API_MIGRATIONS,
    logger: options.logger ? new PinoTypeOrmLogger(options.logger) : undefined,
    logging: options.logger ? (['error', 'warn', 'migration'] as const).slice() : false,
  };
  if (options.databaseUrl !== undefined) {
    const log = options.logger?.child({ component: 'pg-pool' });
    return new DataSource({
      ...common,
      url: options.databaseUrl,
      connectTimeoutMS: DATABASE_CONNECT_TIMEOUT_MS,
      // An idle pooled connection that the server closes (a restart, a failover, a pooler
      // dropping it) raises 'error' on the pool; unhandled, that would end the process. The
      // pool drops that connection and opens a new one when next needed.
      poolErrorHandler: (err: Error) => log?.warn({ err }, 'an idle database connection failed; the pool drops it'),
      extra: {
        Client: GuardedPgClient,
        // Finds connections to a primary that vanished without closing them (a failover to
        // another host), instead of waiting for the next query to hang on them.
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
      },
    });
  }
  const ds = new DataSource({
    ...common,
    driver: new PGliteDriver({ dataDir: path.join(options.dataDir, 'pglite') }).driver,
    poolSize: 1,
  });
  singleSession.add(ds);
  return ds;
}

/** True when every query runner shares one session (PGlite): transactions must not overlap. */
export function isSingleSession(ds: DataSource): boolean {
  return singleSession.has(ds);
}

/**
 * Runs pending migrations (all in one transaction) and returns the names of those applied.
 * Several api replicas may start at once: the first to take the lock applies what is
 * pending, the others wait for its commit and then find nothing left to do. The lock is
 * transaction-scoped, not a session lock: through a pooler in transaction mode (pgbouncer)
 * consecutive statements of one client may run on different server sessions, so a session
 * lock could be released on another session than the one holding it, or not at all.
 */
export async function migrate(ds: DataSource): Promise<string[]> {
  const runner = ds.createQueryRunner();
  try {
    await runner.startTransaction();
    try {
      await runner.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      // On our runner, inside our transaction: the executor reads which migrations ran only
      // once it holds the lock, and neither starts nor commits a transaction of its own.
      const executor = new MigrationExecutor(ds, runner);
      executor.transaction = 'all';
      const applied = await executor.executePendingMigrations();
      await runner.commitTransaction();
      return applied.map((m) => m.name);
    } catch (err) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => {});
      throw err;
    }
  } finally {
    await runner.release();
  }
}

class PinoTypeOrmLogger implements TypeOrmLogger {
  readonly #log: Logger;
  constructor(logger: Logger) {
    this.#log = logger.child({ component: 'typeorm' });
  }
  // Queries are not logged: their parameters can hold password ciphertext and user input.
  logQuery(): void {}
  logQueryError(error: string | Error, query: string): void {
    this.#log.error({ err: error, query }, 'query failed');
  }
  logQuerySlow(time: number, query: string): void {
    this.#log.warn({ time, query }, 'slow query');
  }
  logSchemaBuild(): void {}
  logMigration(message: string): void {
    this.#log.info(message);
  }
  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.#log.warn({ message }, 'typeorm');
    else this.#log.debug({ message }, 'typeorm');
  }
}
