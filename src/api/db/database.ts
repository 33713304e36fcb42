/**
 * The api's handle on its DataSource. On PGlite every query runner shares one session,
 * so two overlapping transactions would silently share one (docs/CONTRIBUTING.md): there every unit
 * of work goes through a queue. On PostgreSQL they run concurrently, each on a pooled
 * connection of its own, and each is bounded, because PostgreSQL may restart or fail over
 * under a running api (docs/OPERATIONS.md, "PostgreSQL high availability"):
 *
 * - opening a connection waits at most DATABASE_CONNECT_TIMEOUT_MS (the pool's setting,
 *   data-source.ts);
 * - a unit of work still running after its deadline has its connection closed. A pooler
 *   (pgbouncer) holds a query while it has no server to give it, for `query_wait_timeout`
 *   (two minutes by default), and a client-side query timeout alone would leave the
 *   connection busy with that query: closing it frees the pool slot and fails the work now,
 *   and PostgreSQL rolls back whatever the connection had open;
 * - a lost connection, a server shutting down or starting up, or the deadline becomes
 *   CDN_ERR_DATABASE_UNAVAILABLE, or CDN_ERR_DATABASE_OUTCOME_UNKNOWN when it struck
 *   during COMMIT (the commit may have happened). Errors of the query itself pass through.
 *
 * Nothing here needs a session of its own, so this works through a pooler in transaction
 * mode: the only locks taken are transaction-scoped (pg_advisory_xact_lock).
 */
import { QueryRunnerAlreadyReleasedError, QueryRunnerProviderAlreadyReleasedError, type DataSource, type EntityManager, type QueryRunner } from 'typeorm';
import { cdnError, isCdnError } from '../../core/errors';
import type { Logger } from '../../obs/logger.factory';
import { DATABASE_CONNECT_TIMEOUT_MS, isSingleSession } from './data-source';
import { isDatabaseUnavailable } from './pg-errors';

export type Isolation = 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

/**
 * The handle of one unit of work (a transaction or a read), which services pass from
 * `transaction` / `read` to the stores. Only db/ looks inside: services name the type but
 * never run a query on it (test/unit/import-boundaries.test.ts).
 */
export type Tx = EntityManager;

/**
 * How long one transaction or read may take, queries and waits included. Far above what
 * any of the api's units of work need (the relay's pass over a 10,000-row backlog takes
 * well under a second), far below what a client waits before giving up.
 */
export const DATABASE_DEADLINE_MS = 10_000;
/** /readyz gives its checks 2 s: a ping needs no longer. */
const PING_DEADLINE_MS = 2_000;

export interface DatabaseOptions {
  deadlineMs?: number;
  /** Told once when the database becomes unavailable and once when it answers again. */
  logger?: Logger;
}

/** What runner.connect() returns on PostgreSQL: a pooled node-postgres client. */
interface PooledClient {
  end(): Promise<void>;
}

interface Stage {
  /** COMMIT was sent: a failure from here on leaves the outcome unknown. */
  committing: boolean;
  /** The deadline struck and closed the connection. */
  expired: boolean;
  /** ...before COMMIT was sent: then COMMIT never left, and the transaction rolled back. */
  expiredBeforeCommit: boolean;
}

export class Database {
  readonly #ds: DataSource;
  readonly #serial: boolean;
  readonly #deadlineMs: number;
  readonly #log: Logger | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #ping: Promise<void> | null = null;
  #unavailable = false;

  constructor(ds: DataSource, options: DatabaseOptions = {}) {
    this.#ds = ds;
    this.#serial = isSingleSession(ds);
    this.#deadlineMs = options.deadlineMs ?? DATABASE_DEADLINE_MS;
    this.#log = options.logger?.child({ component: 'database' });
  }

  /** One transaction; everything `fn` does through `m` commits or rolls back together. */
  transaction<T>(fn: (m: Tx) => Promise<T>, isolation: Isolation = 'READ COMMITTED'): Promise<T> {
    if (this.#serial) return this.#queue(() => this.#ds.transaction(isolation, fn));
    return this.#unit('transaction', this.#deadlineMs, async (runner, stage) => {
      await runner.startTransaction(isolation);
      try {
        const result = await fn(runner.manager);
        stage.committing = true;
        await runner.commitTransaction();
        return result;
      } catch (err) {
        // On a broken connection this fails too, harmlessly: PostgreSQL rolls back when the connection goes.
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => {});
        throw err;
      }
    });
  }

  /** Reads (or single-statement writes) outside an explicit transaction, on one connection. */
  read<T>(fn: (m: Tx) => Promise<T>): Promise<T> {
    if (this.#serial) return this.#queue(() => fn(this.#ds.manager));
    return this.#unit('read', this.#deadlineMs, (runner) => fn(runner.manager));
  }

  /** For /readyz. Probes arriving while one is out share it, so a hanging database holds one pooled connection, not one per probe. */
  ping(): Promise<void> {
    if (this.#serial) return this.#queue(async () => void (await this.#ds.query('SELECT 1')));
    this.#ping ??= this.#unit('read', PING_DEADLINE_MS, async (runner) => void (await runner.query('SELECT 1'))).finally(() => {
      this.#ping = null;
    });
    return this.#ping;
  }

  #queue<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(work, work);
    this.#tail = result.catch(() => undefined);
    return result;
  }

  async #unit<T>(kind: 'transaction' | 'read', deadlineMs: number, work: (runner: QueryRunner, stage: Stage) => Promise<T>): Promise<T> {
    const runner = this.#ds.createQueryRunner();
    let client: PooledClient;
    try {
      // Bounded by the pool's connectionTimeoutMillis, whether it waits for a free slot or for a new connection.
      client = (await runner.connect()) as PooledClient;
    } catch (err) {
      await runner.release();
      if (!isDatabaseUnavailable(err)) throw err;
      throw this.#failed(err, `no connection could be opened within ${DATABASE_CONNECT_TIMEOUT_MS / 1000} s`);
    }
    const stage: Stage = { committing: false, expired: false, expiredBeforeCommit: false };
    const timer = setTimeout(() => {
      stage.expired = true;
      stage.expiredBeforeCommit = !stage.committing;
      // With a query in flight node-postgres destroys the socket: that query fails at once.
      client.end().catch(() => {});
    }, deadlineMs);
    try {
      const result = await work(runner, stage);
      this.#reachable();
      return result;
    } catch (err) {
      // TypeORM releases a runner whose connection failed between two queries (the client's
      // 'error' event); the next query then throws one of these without being sent, COMMIT included.
      const lostBeforeSending = err instanceof QueryRunnerAlreadyReleasedError || err instanceof QueryRunnerProviderAlreadyReleasedError;
      if (isCdnError(err) || !(stage.expired || lostBeforeSending || isDatabaseUnavailable(err))) {
        this.#reachable();
        throw err;
      }
      if (stage.committing && !lostBeforeSending && !stage.expiredBeforeCommit) throw this.#failed(err, null);
      const lost = stage.expired ? `no answer within ${deadlineMs / 1000} s` : 'the connection was lost';
      throw this.#failed(err, kind === 'transaction' ? `${lost}; the change in progress was rolled back` : lost);
    } finally {
      clearTimeout(timer);
      // A client closed above (or broken) is dropped by the pool instead of reused.
      await runner.release();
    }
  }

  /** The CdnError for a database that went away; `why` null: during COMMIT. */
  #failed(cause: unknown, why: string | null): Error {
    if (!this.#unavailable) {
      this.#unavailable = true;
      this.#log?.warn({ err: cause }, 'database unavailable; requests answer CDN_ERR_DATABASE_UNAVAILABLE (retryable) until it is back');
    }
    return why === null ? cdnError('CDN_ERR_DATABASE_OUTCOME_UNKNOWN') : cdnError('CDN_ERR_DATABASE_UNAVAILABLE', why);
  }

  #reachable(): void {
    if (!this.#unavailable) return;
    this.#unavailable = false;
    this.#log?.info('database available again');
  }
}
