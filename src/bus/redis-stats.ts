/**
 * The stats channel on Redis: one stream `${prefix}stats`, one field `r` = the
 * EdgeStatsReport as JSON, entry ids chosen by Redis (`<ms>-<n>`, Redis' clock).
 *
 * Each publish appends and trims in one script: `XADD ... MINID <now - retention>` drops
 * every entry older than the retention (exact, not `~`: at one report per edge process per
 * second the cut is a few entries), and the key expires after the retention when every
 * edge has stopped. Time is Redis' own (TIME inside the script), so edges and apis on
 * hosts with different clocks agree on what is old. `since` is an XRANGE from a time id,
 * paged, never earlier than the retention.
 *
 * The read cursor is a stream entry id. Blocking reads run on connections of their own
 * (redis-connections.ts), so a read never delays a publish. While Redis is unreachable
 * every call rejects within a few seconds; callers retry with backoff. For Redis Cluster,
 * give the prefix a hash tag (`{edgeplane}:`).
 */
import type { EdgeStatsReport, StatsChannel, StatsReadOptions } from '../core/stats.port';
import type { Logger } from '../obs/logger.factory';
import { CLOSED, RedisConnections, type RedisWhere, type StreamEntry, where } from './redis-connections';
import { checkedReportJson, checkRetentionMs, checkStatsCount, STATS_RETENTION_MS_DEFAULT, statsReportProblem } from './memory-stats';

export type RedisStatsOptions = RedisWhere & {
  /** Prepended to the stream's key, e.g. `edgeplane:` (`{edgeplane}:` under Redis Cluster). */
  prefix: string;
  logger?: Logger;
  /** How long reports are kept, by Redis' clock. */
  retentionMs?: number;
};

/** Redis' clock in milliseconds, for the scripts below. */
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: stream. ARGV: report json, retention ms. Returns the new entry's id. */
const PUBLISH_SCRIPT = `${NOW_MS}
local id = redis.call('XADD', KEYS[1], 'MINID', now - tonumber(ARGV[2]), '*', 'r', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return id
`;

/** Redis' clock in ms (TIME, as a script so a cluster routes it with the key). KEYS: stream. */
const NOW_SCRIPT = `${NOW_MS}
return now
`;

const STREAM_ID = /^[0-9]{1,20}-[0-9]{1,20}$/;
/** Entries per XRANGE page in `since`. */
const SINCE_PAGE = 1_000;

export class RedisStatsChannel implements StatsChannel {
  readonly #retentionMs: number;
  readonly #logger: Logger | undefined;
  readonly #key: string;
  readonly #redis: RedisConnections;

  constructor(options: RedisStatsOptions) {
    this.#retentionMs = checkRetentionMs(options.retentionMs ?? STATS_RETENTION_MS_DEFAULT);
    this.#logger = options.logger;
    this.#key = `${options.prefix}stats`;
    this.#redis = new RedisConnections({ ...where(options), name: 'stats', what: 'stats channel', logger: options.logger });
  }

  async publish(report: EdgeStatsReport): Promise<void> {
    this.#assertOpen();
    const json = checkedReportJson(report);
    await this.#redis.command.eval(PUBLISH_SCRIPT, 1, this.#key, json, this.#retentionMs);
  }

  async read(cursor: string, options: StatsReadOptions): Promise<{ cursor: string; reports: EdgeStatsReport[] }> {
    this.#assertOpen();
    const count = checkStatsCount(options.count);
    // '$' becomes the id of the last entry now, and that concrete cursor is what the
    // caller gets back, so reports appended before its next call are not skipped.
    const after = cursor === '$' ? await this.#lastId() : parseRedisCursor(cursor);
    // BLOCK 0 would mean "forever" to Redis. With entries already after the cursor,
    // XREAD BLOCK answers at once, so one command covers both cases.
    if (options.blockMs <= 0) {
      const reply = await this.#redis.command.xread('COUNT', count, 'STREAMS', this.#key, after);
      return this.#decode(after, reply?.[0]?.[1] ?? []);
    }
    const entries = await this.#redis.blockingRead(this.#key, after, count, Math.ceil(options.blockMs));
    return this.#decode(after, entries === CLOSED ? [] : entries);
  }

  async since(sinceMs: number): Promise<EdgeStatsReport[]> {
    this.#assertOpen();
    if (!Number.isFinite(sinceMs)) throw new RangeError(`sinceMs must be a time in epoch milliseconds, got ${sinceMs}`);
    // Entries past the retention stay until the next publish trims them: skip them here.
    const now = Number(await this.#redis.command.eval(NOW_SCRIPT, 1, this.#key));
    let start = `${Math.max(0, Math.floor(sinceMs), now - this.#retentionMs)}-0`;
    const reports: EdgeStatsReport[] = [];
    for (;;) {
      const page = (await this.#redis.command.xrange(this.#key, start, '+', 'COUNT', SINCE_PAGE)) as StreamEntry[];
      reports.push(...this.#decode(start, page).reports);
      const last = page[page.length - 1];
      if (page.length < SINCE_PAGE || last === undefined) return reports;
      start = `(${last[0]}`;
    }
  }

  async close(): Promise<void> {
    await this.#redis.close();
  }

  /** The id of the newest entry, or '0-0' for an empty stream (every later entry is after it). */
  async #lastId(): Promise<string> {
    const newest = (await this.#redis.command.xrevrange(this.#key, '+', '-', 'COUNT', 1)) as StreamEntry[];
    return newest[0]?.[0] ?? '0-0';
  }

  /**
   * The reports among `entries`, and the cursor past all of them. A malformed entry
   * (written by hand, or by a future version) is logged and skipped, never thrown:
   * throwing would stall every reader on it.
   */
  #decode(after: string, entries: StreamEntry[]): { cursor: string; reports: EdgeStatsReport[] } {
    const reports: EdgeStatsReport[] = [];
    for (const [id, fields] of entries) {
      const at = fields.indexOf('r');
      const json = at >= 0 && at % 2 === 0 ? fields[at + 1] : undefined;
      const parsed = json === undefined ? { problem: 'no "r" field' } : parse(json);
      if (parsed.problem === null) reports.push(parsed.value);
      else this.#logger?.warn({ stream: this.#key, entryId: id, problem: parsed.problem }, 'stats channel: skipping a malformed report');
    }
    const last = entries[entries.length - 1];
    return { cursor: last === undefined ? after : last[0], reports };
  }

  #assertOpen(): void {
    // Rejecting (rather than answering "no reports") keeps a consumer that forgot to stop
    // from spinning on an already-resolved read.
    if (this.#redis.closed) throw new Error('the stats channel is closed');
  }
}

export function createRedisStats(options: RedisStatsOptions): RedisStatsChannel {
  return new RedisStatsChannel(options);
}

function parse(json: string): { problem: null; value: EdgeStatsReport } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { problem: 'not JSON' };
  }
  const problem = statsReportProblem(value);
  return problem === null ? { problem: null, value: value as EdgeStatsReport } : { problem };
}

/** '0' reads from the oldest entry kept; otherwise a stream id a previous read returned. */
function parseRedisCursor(cursor: string): string {
  if (cursor === '0') return '0-0';
  if (!STREAM_ID.test(cursor)) throw new RangeError(`cursor must be '0', '$' or a cursor read returned, got "${cursor}"`);
  return cursor;
}
