/**
 * The fleet channel on Redis, under one key prefix:
 *
 *   `${prefix}edge:${edgeId}`  string, the EdgeStatus as JSON, expiring after the heartbeat's ttl (PX)
 *   `${prefix}edges`           sorted set of edgeIds scored by their expiry (ms), an index
 *                              so liveEdges need not SCAN; the string keys' TTL is the truth
 *   `${prefix}purge-acks`      stream, one field `a` = the PurgeAck as JSON, `MAXLEN ~` bounded
 *   `${prefix}warm-reports`    stream, one field `w` = the WarmReport as JSON, bounded like the acks
 *   `${prefix}origin-health`   stream, one field `o` = the OriginHealthEvent as JSON, bounded like the acks
 *
 * Expiry is reckoned by Redis' own clock (TIME inside the scripts), not by the caller's:
 * edges and the api run on different hosts, and a reader whose clock ran ahead would
 * otherwise hide edges that are live. For Redis Cluster, give the prefix a hash tag
 * (e.g. `{edgeplane}:`) so every key shares a slot.
 *
 * The read cursor is a stream entry id. A batch of acks is one MULTI, so it lands whole
 * and contiguous; a batch retried after a lost reply may land twice, which is why
 * consumers skip acks they already stored.
 *
 * While Redis is unreachable every call, `readAcks` included, rejects within a few
 * seconds; callers retry with backoff. A blocking read runs on a connection of its own,
 * so it never delays heartbeats or acks.
 */
import type { AckReadOptions, EdgeFleet, EdgeStatus, OriginHealthEvent, PurgeAck, WarmReport } from '../core/fleet.port';
import type { Logger } from '../obs/logger.factory';
import { CLOSED, RedisConnections, type RedisWhere, type StreamEntry, where } from './redis-connections';
import { byEdgeId, checkCount, checkEdgeStatus, checkedAckJsons, checkedOriginHealthJsons, checkedWarmReportJsons, checkTtl, edgeStatusProblem, originHealthEventProblem, purgeAckProblem, warmReportProblem } from './memory-fleet';

export const REDIS_ACK_STREAM_MAX_LENGTH_DEFAULT = 100_000;

export type RedisFleetOptions = RedisWhere & {
  /** Prepended to every key, e.g. `edgeplane:` (`{edgeplane}:` under Redis Cluster). */
  prefix: string;
  logger?: Logger;
  /** Approximate (`MAXLEN ~`) bound on the ack stream; a cursor behind it continues from the oldest kept. */
  ackStreamMaxLength?: number;
};

/** Redis' clock in milliseconds, for the scripts below. */
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * The status and its index entry move together, expiring at the same instant.
 * KEYS: edge key, index. ARGV: status json, ttl ms, edgeId.
 */
const HEARTBEAT_SCRIPT = `${NOW_MS}
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
return 0
`;

/**
 * The edgeIds not yet expired. Prunes the expired ones on the way: each is removed once,
 * so this stays cheap, and the index cannot grow with every edge that ever crashed.
 * KEYS: index.
 */
const LIVE_SCRIPT = `${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
`;

const STREAM_ID = /^[0-9]{1,20}-[0-9]{1,20}$/;

export class RedisFleet implements EdgeFleet {
  readonly #maxLength: number;
  readonly #logger: Logger | undefined;
  readonly #keys: { edgePrefix: string; index: string; acks: string; warms: string; originHealth: string };
  readonly #redis: RedisConnections;

  constructor(options: RedisFleetOptions) {
    const maxLength = options.ackStreamMaxLength ?? REDIS_ACK_STREAM_MAX_LENGTH_DEFAULT;
    if (!Number.isInteger(maxLength) || maxLength < 1) {
      throw new RangeError(`ackStreamMaxLength must be a whole number of at least 1, got ${maxLength}`);
    }
    this.#maxLength = maxLength;
    this.#logger = options.logger;
    this.#keys = {
      edgePrefix: `${options.prefix}edge:`,
      index: `${options.prefix}edges`,
      acks: `${options.prefix}purge-acks`,
      warms: `${options.prefix}warm-reports`,
      originHealth: `${options.prefix}origin-health`,
    };
    this.#redis = new RedisConnections({ ...where(options), name: 'fleet', what: 'fleet', logger: options.logger });
  }

  async heartbeat(status: EdgeStatus, ttlMs: number): Promise<void> {
    this.#assertOpen();
    const ttl = checkTtl(ttlMs);
    checkEdgeStatus(status);
    const { edgeId } = status;
    await this.#redis.command.eval(HEARTBEAT_SCRIPT, 2, this.#edgeKey(edgeId), this.#keys.index, JSON.stringify(status), ttl, edgeId);
  }

  async leave(edgeId: string): Promise<void> {
    this.#assertOpen();
    await exec(this.#redis.command.multi().del(this.#edgeKey(edgeId)).zrem(this.#keys.index, edgeId));
  }

  async liveEdges(): Promise<EdgeStatus[]> {
    this.#assertOpen();
    const edgeIds = (await this.#redis.command.eval(LIVE_SCRIPT, 1, this.#keys.index)) as string[];
    if (edgeIds.length === 0) return [];
    const jsons = await this.#redis.command.mget(...edgeIds.map((id) => this.#edgeKey(id)));
    const live: EdgeStatus[] = [];
    for (const [i, edgeId] of edgeIds.entries()) {
      const json = jsons[i];
      // Expired between the two round trips (or deleted by hand): not live.
      if (json === null || json === undefined) continue;
      // A status under another edge's key would list that edge twice, or keep it alive after it left.
      const problemOf = (value: unknown) =>
        edgeStatusProblem(value) ?? ((value as EdgeStatus).edgeId === edgeId ? null : `"edgeId" is ${JSON.stringify((value as EdgeStatus).edgeId)}`);
      const parsed = this.#parse<EdgeStatus>(json, problemOf);
      if (parsed.problem === null) live.push(parsed.value);
      else this.#logger?.warn({ key: this.#edgeKey(edgeId), problem: parsed.problem }, 'fleet: skipping a malformed edge status');
    }
    return live.sort(byEdgeId);
  }

  async ack(acks: PurgeAck[]): Promise<void> {
    this.#assertOpen();
    const jsons = checkedAckJsons(acks);
    if (jsons.length === 0) return;
    const transaction = this.#redis.command.multi();
    for (const json of jsons) transaction.xadd(this.#keys.acks, 'MAXLEN', '~', this.#maxLength, '*', 'a', json);
    await exec(transaction);
  }

  async readAcks(cursor: string, options: AckReadOptions): Promise<{ cursor: string; acks: PurgeAck[] }> {
    this.#assertOpen();
    const count = checkCount(options.count);
    // '$' becomes the id of the last entry now, and that concrete cursor is what the
    // caller gets back, so acks appended before its next call are not skipped.
    const after = cursor === '$' ? await this.#lastId() : parseRedisCursor(cursor);
    // BLOCK 0 would mean "forever" to Redis. With entries already after the cursor,
    // XREAD BLOCK answers at once, so one command covers both cases.
    if (options.blockMs <= 0) {
      const reply = await this.#redis.command.xread('COUNT', count, 'STREAMS', this.#keys.acks, after);
      return this.#decode(after, reply?.[0]?.[1] ?? []);
    }
    const entries = await this.#redis.blockingRead(this.#keys.acks, after, count, Math.ceil(options.blockMs));
    return this.#decode(after, entries === CLOSED ? [] : entries);
  }

  async reportWarms(reports: WarmReport[]): Promise<void> {
    this.#assertOpen();
    const jsons = checkedWarmReportJsons(reports);
    if (jsons.length === 0) return;
    const transaction = this.#redis.command.multi();
    for (const json of jsons) transaction.xadd(this.#keys.warms, 'MAXLEN', '~', this.#maxLength, '*', 'w', json);
    await exec(transaction);
  }

  async readWarmReports(cursor: string, options: AckReadOptions): Promise<{ cursor: string; reports: WarmReport[] }> {
    this.#assertOpen();
    const count = checkCount(options.count);
    const after = cursor === '$' ? await this.#lastId(this.#keys.warms) : parseRedisCursor(cursor);
    const entries =
      options.blockMs <= 0
        ? ((await this.#redis.command.xread('COUNT', count, 'STREAMS', this.#keys.warms, after))?.[0]?.[1] ?? [])
        : await this.#redis.blockingRead(this.#keys.warms, after, count, Math.ceil(options.blockMs));
    const { cursor: next, values } = this.#decodeEntries(this.#keys.warms, 'w', after, entries === CLOSED ? [] : entries, warmReportProblem, 'a malformed warm report');
    return { cursor: next, reports: values as WarmReport[] };
  }

  async reportOriginHealth(events: OriginHealthEvent[]): Promise<void> {
    this.#assertOpen();
    const jsons = checkedOriginHealthJsons(events);
    if (jsons.length === 0) return;
    const transaction = this.#redis.command.multi();
    for (const json of jsons) transaction.xadd(this.#keys.originHealth, 'MAXLEN', '~', this.#maxLength, '*', 'o', json);
    await exec(transaction);
  }

  async readOriginHealth(cursor: string, options: AckReadOptions): Promise<{ cursor: string; events: OriginHealthEvent[] }> {
    this.#assertOpen();
    const count = checkCount(options.count);
    const stream = this.#keys.originHealth;
    const after = cursor === '$' ? await this.#lastId(stream) : parseRedisCursor(cursor);
    const entries =
      options.blockMs <= 0
        ? ((await this.#redis.command.xread('COUNT', count, 'STREAMS', stream, after))?.[0]?.[1] ?? [])
        : await this.#redis.blockingRead(stream, after, count, Math.ceil(options.blockMs));
    const { cursor: next, values } = this.#decodeEntries(stream, 'o', after, entries === CLOSED ? [] : entries, originHealthEventProblem, 'a malformed origin health event');
    return { cursor: next, events: values as OriginHealthEvent[] };
  }

  async close(): Promise<void> {
    await this.#redis.close();
  }

  #edgeKey(edgeId: string): string {
    return `${this.#keys.edgePrefix}${edgeId}`;
  }

  /** The id of the newest entry, or '0-0' for an empty stream (every later entry is after it). */
  async #lastId(stream: string = this.#keys.acks): Promise<string> {
    const newest = (await this.#redis.command.xrevrange(stream, '+', '-', 'COUNT', 1)) as StreamEntry[];
    return newest[0]?.[0] ?? '0-0';
  }

  /** The values in `field` of `entries` that pass `problemOf` (others logged and skipped, as #decode does), and the cursor past them all. */
  #decodeEntries(stream: string, field: string, after: string, entries: StreamEntry[], problemOf: (value: unknown) => string | null, what: string): { cursor: string; values: unknown[] } {
    const values: unknown[] = [];
    for (const [id, fields] of entries) {
      const at = fields.indexOf(field);
      const json = at >= 0 && at % 2 === 0 ? fields[at + 1] : undefined;
      const parsed = json === undefined ? { problem: `no "${field}" field` } : this.#parse<unknown>(json, problemOf);
      if (parsed.problem === null) values.push(parsed.value);
      else this.#logger?.warn({ stream, entryId: id, problem: parsed.problem }, `fleet: skipping ${what}`);
    }
    const last = entries[entries.length - 1];
    return { cursor: last === undefined ? after : last[0], values };
  }

  /**
   * The acks among `entries`, and the cursor past all of them. A malformed entry (written
   * by hand, or by a future version) is logged and skipped, never thrown: throwing would
   * stall the reader on it forever.
   */
  #decode(after: string, entries: StreamEntry[]): { cursor: string; acks: PurgeAck[] } {
    const acks: PurgeAck[] = [];
    for (const [id, fields] of entries) {
      const at = fields.indexOf('a');
      const json = at >= 0 && at % 2 === 0 ? fields[at + 1] : undefined;
      const parsed = json === undefined ? { problem: 'no "a" field' } : this.#parse<PurgeAck>(json, purgeAckProblem);
      if (parsed.problem === null) acks.push(parsed.value);
      else this.#logger?.warn({ stream: this.#keys.acks, entryId: id, problem: parsed.problem }, 'fleet: skipping a malformed purge ack');
    }
    const last = entries[entries.length - 1];
    return { cursor: last === undefined ? after : last[0], acks };
  }

  #parse<T>(json: string, problemOf: (value: unknown) => string | null): { problem: null; value: T } | { problem: string } {
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch {
      return { problem: 'not JSON' };
    }
    const problem = problemOf(value);
    return problem === null ? { problem: null, value: value as T } : { problem };
  }

  #assertOpen(): void {
    // Rejecting (rather than answering "no acks") keeps a consumer that forgot to stop
    // from spinning on an already-resolved read.
    if (this.#redis.closed) throw new Error('the fleet channel is closed');
  }
}

export function createRedisFleet(options: RedisFleetOptions): RedisFleet {
  return new RedisFleet(options);
}

/** '0' reads from the oldest entry kept; otherwise a stream id a previous read returned. */
function parseRedisCursor(cursor: string): string {
  if (cursor === '0') return '0-0';
  if (!STREAM_ID.test(cursor)) throw new RangeError(`cursor must be '0', '$' or a cursor readAcks returned, got "${cursor}"`);
  return cursor;
}

/** Runs a MULTI and rethrows the first command's error (ioredis reports them per command). */
async function exec(transaction: ReturnType<RedisConnections['command']['multi']>): Promise<void> {
  const replies = await transaction.exec();
  if (replies === null) throw new Error('Redis aborted the transaction');
  for (const [err] of replies) if (err !== null) throw err;
}
