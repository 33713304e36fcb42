/**
 * The Redis connections of one of our Redis clients (the change bus, the fleet channel):
 * one for commands, and separate ones for blocking stream reads (`XREAD BLOCK`), so a read
 * never delays a command; a few idle ones are kept for the next read.
 *
 * While Redis is unreachable every command rejects within a few seconds (ioredis gives up
 * after one reconnection attempt) instead of queueing forever; callers retry with backoff.
 * A connection problem is logged once, and its end once, however long the outage.
 */
import Redis, { type RedisOptions } from 'ioredis';
import type { Logger } from '../obs/logger.factory';

const CONNECTION_OPTIONS: RedisOptions = {
  lazyConnect: true,
  connectTimeout: 2_000,
  maxRetriesPerRequest: 1,
  retryStrategy: (times) => Math.min(times * 200, 2_000),
};

/** Idle blocking connections kept for the next read; more are opened for concurrent readers. */
const IDLE_BLOCKING_CONNECTIONS_MAX = 2;

export type StreamEntry = [id: string, fields: string[]];

export const CLOSED = Symbol('closed');

export class RedisConnections {
  readonly command: Redis;
  readonly #url: string;
  /** Names the connections (`edgeplane-<name>-<role>`). */
  readonly #name: string;
  /** How log lines name this client ("change bus", "fleet"). */
  readonly #what: string;
  readonly #logger: Logger | undefined;
  readonly #idleBlocking: Redis[] = [];
  readonly #blocking = new Set<Redis>();
  #closed = false;
  #lastProblem: string | null = null;

  constructor(options: { url: string; name: string; what: string; logger?: Logger }) {
    this.#url = options.url;
    this.#name = options.name;
    this.#what = options.what;
    this.#logger = options.logger;
    this.command = this.#connect('command');
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * `XREAD COUNT <count> BLOCK <blockMs> STREAMS <key> <after>` on a blocking connection: the
   * stream's entries (none when the time passed), or CLOSED when close() ended the wait.
   */
  async blockingRead(key: string, after: string, count: number, blockMs: number): Promise<StreamEntry[] | typeof CLOSED> {
    const connection = this.#idleBlocking.pop() ?? this.#openBlocking();
    let reply: [key: string, entries: StreamEntry[]][] | null;
    try {
      reply = (await connection.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', key, after)) as [string, StreamEntry[]][] | null;
    } catch (err) {
      if (this.#closed) return CLOSED;
      // Its state after a failure is unknown (a reply might still arrive): start afresh.
      this.#blocking.delete(connection);
      connection.disconnect();
      throw err;
    }
    if (this.#closed) return CLOSED;
    if (this.#idleBlocking.length < IDLE_BLOCKING_CONNECTIONS_MAX) {
      this.#idleBlocking.push(connection);
    } else {
      this.#blocking.delete(connection);
      connection.disconnect();
    }
    return reply?.[0]?.[1] ?? [];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Disconnecting rejects a pending XREAD at once; blockingRead turns that into CLOSED.
    for (const connection of this.#blocking) connection.disconnect();
    this.#blocking.clear();
    this.#idleBlocking.length = 0;
    if (this.command.status === 'ready') {
      await this.command.quit().catch(() => this.command.disconnect());
    } else {
      this.command.disconnect();
    }
  }

  #openBlocking(): Redis {
    const connection = this.#connect('blocking');
    this.#blocking.add(connection);
    return connection;
  }

  #connect(role: 'command' | 'blocking'): Redis {
    const connection = new Redis(this.#url, {
      ...CONNECTION_OPTIONS,
      connectionName: `edgeplane-${this.#name}-${role}`,
      // A safety net for a blocking read on a dead socket: ioredis answers "timed out"
      // shortly after the BLOCK time instead of waiting for TCP to notice.
      ...(role === 'blocking' ? { blockingTimeout: 60_000, blockingTimeoutGrace: 1_000 } : {}),
    });
    // Without a listener ioredis prints every reconnection error to stderr.
    connection.on('error', (err: Error) => {
      if (this.#closed || err.message === this.#lastProblem) return;
      this.#lastProblem = err.message;
      this.#logger?.warn({ err, role }, `${this.#what}: Redis connection problem; retrying`);
    });
    connection.on('ready', () => {
      if (this.#lastProblem === null) return;
      this.#lastProblem = null;
      this.#logger?.info({ role }, `${this.#what}: Redis connection restored`);
    });
    return connection;
  }
}
