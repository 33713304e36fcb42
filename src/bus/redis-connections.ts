/**
 * The Redis connections of one of our Redis clients (the change bus, the fleet channel, ...):
 * one for commands, and separate ones for blocking stream reads (`XREAD BLOCK`), so a read
 * never delays a command; a few idle ones are kept for the next read. Every client connects
 * the same way, to the one configured RedisTarget: a server (REDIS_URL), the master Redis
 * Sentinel names (REDIS_SENTINELS), or a Redis Cluster (REDIS_CLUSTER_NODES).
 *
 * While Redis is unreachable every command rejects within a few seconds (ioredis gives up
 * after one reconnection attempt, and `commandTimeoutMs` bounds a command whose connection
 * hangs, e.g. while no sentinel answers) instead of queueing forever; callers retry with
 * backoff. A connection problem is logged once, and its end once, however long the outage.
 *
 * Failover: under Sentinel each reconnection asks the sentinels where the master is now, so
 * once they have promoted a replica the next attempt reaches it. The command connection also
 * leaves a master the moment the sentinels announce another (+switch-master): after a planned
 * failover, or with a master that hangs rather than dies, it would otherwise keep writing to
 * the old one, which takes the writes and loses them once demoted. A connection still open to a
 * master that was demoted (a manual failover, a partition healed, a DNS name that moved to the
 * new primary) answers writes with READONLY: that error reconnects, and the caller's retry
 * reaches the new master. A
 * promoted replica may lack the last writes; the bus's readers notice the gap in seqs and
 * reload the snapshot, and the api's relay republishes from the outbox (src/bus/README.md).
 */
import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../core/redis-target';
import type { Logger } from '../obs/logger.factory';

/** A connection to a server or a Sentinel-managed master, or a Redis Cluster client. */
export type RedisClient = Redis | Cluster;

/** Where an adapter connects: the configured target, or a redis:// URL (tests, scripts). */
export type RedisWhere = { target: RedisTarget; url?: undefined } | { url: string; target?: undefined };

/** Longest a command (not a blocking read) may take, by default; callers retry. */
export const COMMAND_TIMEOUT_MS_DEFAULT = 5_000;

const retryDelay = (times: number): number => Math.min(times * 200, 2_000);

/**
 * A demoted master refuses writes: reconnect, to wherever the master is now. The command
 * itself fails (the caller retries, as after any Redis error) rather than being resent: ioredis
 * would resend a command of a MULTI alone, outside its transaction.
 */
const reconnectOnReadOnly = (err: Error): boolean => /\bREADONLY\b/.test(err.message);

const CONNECTION_OPTIONS: RedisOptions = {
  lazyConnect: true,
  connectTimeout: 2_000,
  maxRetriesPerRequest: 1,
  retryStrategy: retryDelay,
  reconnectOnError: reconnectOnReadOnly,
};

/** Idle blocking connections kept for the next read; more are opened for concurrent readers. */
const IDLE_BLOCKING_CONNECTIONS_MAX = 2;

export type StreamEntry = [id: string, fields: string[]];

export const CLOSED = Symbol('closed');

export function targetOf(where: RedisWhere): RedisTarget {
  return where.target ?? { mode: 'server', url: where.url! };
}

/** Just where to connect, out of an adapter's options (which carry more). */
export function where(options: RedisWhere): RedisWhere {
  return options.target !== undefined ? { target: options.target } : { url: options.url! };
}

type SentinelTarget = Extract<RedisTarget, { mode: 'sentinel' }>;

/** Lua scripts defined on the command connection as commands (ioredis `defineCommand`). */
export type RedisScripts = Record<string, { numberOfKeys: number; lua: string }>;

export class RedisConnections {
  #command: RedisClient;
  readonly #target: RedisTarget;
  readonly #scripts: RedisScripts;
  readonly #unwatchSwitches: (() => void) | undefined;
  readonly #commandTimeoutMs: number;
  /** Names the connections (`edgeplane-<name>-<role>`). */
  readonly #name: string;
  /** How log lines name this client ("change bus", "fleet"). */
  readonly #what: string;
  readonly #logger: Logger | undefined;
  readonly #idleBlocking: RedisClient[] = [];
  readonly #blocking = new Set<RedisClient>();
  #closed = false;
  #lastProblem: string | null = null;

  constructor(options: RedisWhere & { name: string; what: string; logger?: Logger; commandTimeoutMs?: number; scripts?: RedisScripts }) {
    this.#target = targetOf(options);
    this.#commandTimeoutMs = options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS_DEFAULT;
    this.#scripts = options.scripts ?? {};
    this.#name = options.name;
    this.#what = options.what;
    this.#logger = options.logger;
    this.#command = this.#connect('command');
    const target = this.#target;
    if (target.mode === 'sentinel') this.#unwatchSwitches = watchSwitches(target, () => this.#leaveOldMaster());
  }

  /**
   * The connection for commands. One that ioredis has given up on for good (status `end`: it
   * happens in some failover races, e.g. with ioredis' own failover detector, which is why we
   * do not use it) is replaced, so a process never stays cut off from Redis until restarted.
   */
  get command(): RedisClient {
    if (this.#command.status === 'end' && !this.#closed) {
      this.#logger?.warn(`${this.#what}: the Redis client had given up; starting a new one`);
      this.#command = this.#connect('command');
    }
    return this.#command;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * `XREAD COUNT <count> BLOCK <blockMs> STREAMS <key> <after>` on a blocking connection: the
   * stream's entries (none when the time passed), or CLOSED when close() ended the wait.
   */
  async blockingRead(key: string, after: string, count: number, blockMs: number): Promise<StreamEntry[] | typeof CLOSED> {
    // A reader that asks again after close() gets no new connection: nothing would end it.
    if (this.#closed) return CLOSED;
    let connection = this.#idleBlocking.pop();
    while (connection !== undefined && connection.status === 'end') {
      this.#blocking.delete(connection);
      connection = this.#idleBlocking.pop();
    }
    connection ??= this.#openBlocking();
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
    if (this.#closed) {
      // Closed while this read was on its way to Redis (close() saw no connection yet): end it here.
      this.#blocking.delete(connection);
      connection.disconnect();
      return CLOSED;
    }
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
    this.#unwatchSwitches?.();
    const command = this.#command;
    if (command.status === 'ready') await command.quit().catch(() => {});
    // Also after QUIT: only disconnect() stops a connector's own connections.
    command.disconnect();
  }

  /** The sentinels named another master: reconnect (they are asked again) unless already doing so. */
  #leaveOldMaster(): void {
    const command = this.#command as Redis;
    if (this.#closed || command.status !== 'ready') return;
    this.#logger?.info(`${this.#what}: the sentinels switched masters; reconnecting to the new one`);
    // destroy(), not end(): a master that hangs would never finish a graceful close.
    command.stream.destroy();
  }

  #openBlocking(): RedisClient {
    const connection = this.#connect('blocking');
    this.#blocking.add(connection);
    return connection;
  }

  #connect(role: 'command' | 'blocking'): RedisClient {
    const options: RedisOptions = {
      ...CONNECTION_OPTIONS,
      connectionName: `edgeplane-${this.#name}-${role}`,
      // A safety net for a blocking read on a dead socket: ioredis answers "timed out"
      // shortly after the BLOCK time instead of waiting for TCP to notice. A command
      // timeout there would cut every read that blocks longer than it.
      ...(role === 'blocking' ? { blockingTimeout: 60_000, blockingTimeoutGrace: 1_000 } : { commandTimeout: this.#commandTimeoutMs }),
    };
    const target = this.#target;
    let connection: RedisClient;
    if (target.mode === 'server') {
      connection = new Redis(target.url, options);
    } else if (target.mode === 'sentinel') {
      connection = new Redis({
        ...options,
        sentinels: target.sentinels,
        name: target.masterName,
        username: target.username,
        password: target.password,
        sentinelPassword: target.sentinelPassword,
        // Never give up on the sentinels (null would end the client for good); the command
        // timeout still bounds each command while none answers.
        sentinelRetryStrategy: retryDelay,
        sentinelCommandTimeout: 2_000,
        // Not ioredis' failoverDetector: when the master dies, a +switch-master arriving while
        // the client is reconnecting ends the client for good (status `end`, every command
        // "Connection is closed."). watchSwitches() below does its job without that race.
        failoverDetector: false,
      });
    } else {
      connection = new Cluster(target.nodes, this.#clusterOptions(options));
    }
    if (role === 'command') for (const [name, script] of Object.entries(this.#scripts)) connection.defineCommand(name, script);
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

  /**
   * The cluster client follows MOVED/ASK and refreshes its slot map after a failover by
   * itself; each node connection fails fast like a single server's. Every key carries the
   * prefix's hash tag, so a script or MULTI never spans slots (core/redis-target.ts).
   */
  #clusterOptions(options: RedisOptions): ClusterOptions {
    const target = this.#target as Extract<RedisTarget, { mode: 'cluster' }>;
    const { lazyConnect, retryStrategy, ...nodeOptions } = options;
    return {
      lazyConnect,
      clusterRetryStrategy: retryStrategy as (times: number) => number,
      slotsRefreshTimeout: 2_000,
      redisOptions: { ...nodeOptions, username: target.username, password: target.password },
    };
  }
}

/** The process's +switch-master subscriptions, by sentinels and master name. */
const switchWatches = new Map<string, { listeners: Set<() => void>; subscribers: Redis[] }>();

/**
 * Calls `onSwitch` whenever a sentinel announces a new master (`+switch-master`) for the
 * target's master name; returns the way to stop. One subscription per sentinel serves every
 * Redis client of the process (an api has five, an edge process three; sentinels count their
 * connections); each reconnects by itself, and a sentinel that is down is retried quietly (the
 * command connections report Redis problems).
 */
function watchSwitches(target: SentinelTarget, onSwitch: () => void): () => void {
  const key = JSON.stringify([target.sentinels, target.masterName, target.sentinelPassword ?? null]);
  let watch = switchWatches.get(key);
  if (watch === undefined) {
    const listeners = new Set<() => void>();
    const subscribers = target.sentinels.map((sentinel) => {
      const subscriber = new Redis({
        host: sentinel.host,
        port: sentinel.port,
        password: target.sentinelPassword,
        connectionName: 'edgeplane-switch-watch',
        connectTimeout: 2_000,
        retryStrategy: retryDelay,
        // SUBSCRIBE waits for the sentinel however long it is down, then holds (and is
        // renewed after each reconnection).
        maxRetriesPerRequest: null,
      });
      subscriber.on('error', () => {});
      subscriber.on('message', (_channel: string, message: string) => {
        // "<master name> <old ip> <old port> <new ip> <new port>"; a sentinel may watch several masters.
        if (message.split(' ')[0] !== target.masterName) return;
        for (const listener of listeners) listener();
      });
      subscriber.subscribe('+switch-master').catch(() => {});
      return subscriber;
    });
    watch = { listeners, subscribers };
    switchWatches.set(key, watch);
  }
  const current = watch;
  current.listeners.add(onSwitch);
  return () => {
    current.listeners.delete(onSwitch);
    if (current.listeners.size > 0 || switchWatches.get(key) !== current) return;
    switchWatches.delete(key);
    for (const subscriber of current.subscribers) subscriber.disconnect();
  };
}

