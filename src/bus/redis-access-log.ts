/**
 * The access log channel on Redis (core/access-log.port.ts):
 * - `<prefix>log-tail`, a sorted set: member = a tailed customer id, score = when the interest
 *   ends (ms, Redis' clock, so apis and edges on hosts with different clocks agree). markTailed
 *   raises scores (`ZADD GT`) and drops ended ones in one script; the key expires when no api
 *   renews it.
 * - `<prefix>access-log`, a stream: field `l` = one AccessLogBatch as JSON, trimmed to about
 *   `maxBatches` (`MAXLEN ~`), expiring a minute after the last publish (a tail is live, not a
 *   history). Blocking reads run on connections of their own (redis-connections.ts).
 * Under Redis Cluster both keys carry the prefix's hash tag, as every adapter's do.
 */
import { accessLogBatchProblem, type AccessLogBatch, type AccessLogChannel, type AccessLogReadOptions } from '../core/access-log.port';
import type { Logger } from '../obs/logger.factory';
import { ACCESS_LOG_MAX_BATCHES_DEFAULT, ACCESS_LOG_READ_COUNT_DEFAULT, ACCESS_LOG_TAILED_MAX, checkCount, checkedBatchJson, checkTailed } from './memory-access-log';
import { CLOSED, RedisConnections, type RedisWhere, type StreamEntry, where } from './redis-connections';

export type RedisAccessLogOptions = RedisWhere & {
  prefix: string;
  logger?: Logger;
  maxBatches?: number;
};

const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: set. ARGV: ttl ms, ids… */
const MARK_SCRIPT = `${NOW_MS}
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'GT', now + ttl, ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local keep = redis.call('PTTL', KEYS[1])
if keep < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`;

/** KEYS: set. ARGV: most ids. */
const TAILED_SCRIPT = `${NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'LIMIT', 0, tonumber(ARGV[1]))
`;

/** KEYS: stream. ARGV: json, max length. */
const PUBLISH_SCRIPT = `local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'l', ARGV[1])
redis.call('PEXPIRE', KEYS[1], 60000)
return id
`;

const STREAM_ID = /^[0-9]{1,20}-[0-9]{1,20}$/;

export class RedisAccessLogChannel implements AccessLogChannel {
  readonly #logger: Logger | undefined;
  readonly #setKey: string;
  readonly #streamKey: string;
  readonly #maxBatches: number;
  readonly #redis: RedisConnections;

  constructor(options: RedisAccessLogOptions) {
    this.#logger = options.logger;
    this.#setKey = `${options.prefix}log-tail`;
    this.#streamKey = `${options.prefix}access-log`;
    this.#maxBatches = checkCount('maxBatches', options.maxBatches ?? ACCESS_LOG_MAX_BATCHES_DEFAULT);
    this.#redis = new RedisConnections({ ...where(options), name: 'access-log', what: 'access log channel', logger: options.logger });
  }

  async markTailed(customerIds: readonly string[], ttlMs: number): Promise<void> {
    this.#assertOpen();
    checkTailed(customerIds, ttlMs);
    await this.#redis.command.eval(MARK_SCRIPT, 1, this.#setKey, ttlMs, ...customerIds);
  }

  async tailed(): Promise<string[]> {
    this.#assertOpen();
    return (await this.#redis.command.eval(TAILED_SCRIPT, 1, this.#setKey, ACCESS_LOG_TAILED_MAX)) as string[];
  }

  async publish(batch: AccessLogBatch): Promise<void> {
    this.#assertOpen();
    await this.#redis.command.eval(PUBLISH_SCRIPT, 1, this.#streamKey, checkedBatchJson(batch), this.#maxBatches);
  }

  async read(cursor: string, options: AccessLogReadOptions): Promise<{ cursor: string; batches: AccessLogBatch[] }> {
    this.#assertOpen();
    const count = checkCount('count', options.count ?? ACCESS_LOG_READ_COUNT_DEFAULT);
    const after = cursor === '$' ? await this.#lastId() : parseCursor(cursor);
    if (options.blockMs <= 0) {
      const reply = (await this.#redis.command.xread('COUNT', count, 'STREAMS', this.#streamKey, after)) as [string, StreamEntry[]][] | null;
      return this.#decode(after, reply?.[0]?.[1] ?? []);
    }
    const entries = await this.#redis.blockingRead(this.#streamKey, after, count, Math.ceil(options.blockMs));
    return this.#decode(after, entries === CLOSED ? [] : entries);
  }

  async close(): Promise<void> {
    await this.#redis.close();
  }

  async #lastId(): Promise<string> {
    const newest = (await this.#redis.command.xrevrange(this.#streamKey, '+', '-', 'COUNT', 1)) as StreamEntry[];
    return newest[0]?.[0] ?? '0-0';
  }

  /** A malformed entry (written by hand, or by a future version) is logged and skipped, never thrown. */
  #decode(after: string, entries: StreamEntry[]): { cursor: string; batches: AccessLogBatch[] } {
    const batches: AccessLogBatch[] = [];
    for (const [id, fields] of entries) {
      const at = fields.indexOf('l');
      const json = at >= 0 && at % 2 === 0 ? fields[at + 1] : undefined;
      let value: unknown;
      try {
        value = json === undefined ? undefined : JSON.parse(json);
      } catch {
        value = undefined;
      }
      const problem = value === undefined ? 'not JSON' : accessLogBatchProblem(value);
      if (problem === null) batches.push(value as AccessLogBatch);
      else this.#logger?.warn({ stream: this.#streamKey, entryId: id, problem }, 'access log channel: skipping a malformed batch');
    }
    const last = entries[entries.length - 1];
    return { cursor: last === undefined ? after : last[0], batches };
  }

  #assertOpen(): void {
    if (this.#redis.closed) throw new Error('the access log channel is closed');
  }
}

export function createRedisAccessLog(options: RedisAccessLogOptions): RedisAccessLogChannel {
  return new RedisAccessLogChannel(options);
}

function parseCursor(cursor: string): string {
  if (cursor === '0') return '0-0';
  if (!STREAM_ID.test(cursor)) throw new RangeError(`cursor must be '0', '$' or a cursor read returned, got "${cursor}"`);
  return cursor;
}
