/**
 * The in-process stats channel, used when no REDIS_URL is set (`cdn start` shares one
 * instance between its api and its edge). Same contract as the Redis stream: reports kept
 * for a bounded time (the retention), read in order with a cursor, or by time with `since`.
 *
 * Reports are copied in and out through JSON, as they would be through Redis, so the api
 * and the edge never share (and never mutate) one object. The clock is injectable so
 * tests can age reports without waiting.
 *
 * The checks at the bottom are shared with redis-stats.ts (which imports them from here
 * rather than this file importing ioredis).
 */
import { MINUTE_TOP_PATHS_MAX, ORIGIN_LATENCY_BUCKETS_MS, TOP_PATH_MAX_CHARS, type EdgeStatsReport, type StatsChannel, type StatsReadOptions } from '../core/stats.port';
import { Signal, wokenOrTimeout } from './signal';

export const STATS_RETENTION_MS_DEFAULT = 15 * 60_000;
/** A second bound beside the time: a flood of reports cannot grow the process without limit. */
export const MEMORY_STATS_MAX_REPORTS_DEFAULT = 100_000;
export const STATS_READ_COUNT_DEFAULT = 1_000;

export interface MemoryStatsOptions {
  /** How long reports are kept, by this channel's clock. */
  retentionMs?: number;
  /** Reports kept at most, whatever their age; the oldest go first. */
  maxReports?: number;
  /** Milliseconds since the epoch; retention and `since` go by this clock. */
  now?: () => number;
}

export class MemoryStatsChannel implements StatsChannel {
  readonly #retentionMs: number;
  readonly #maxReports: number;
  readonly #now: () => number;
  /**
   * Ascending by n (and so by appendedAt), without holes (n = #lastN - length + 1 .. #lastN),
   * so a cursor maps to an index by subtraction. n starts at 1, so cursor '0' is "before everything".
   */
  #entries: { n: number; appendedAt: number; json: string }[] = [];
  #lastN = 0;
  /** Blocked reads wait on this; publish and close resolve it and start a new one. */
  #wake = new Signal();
  #closed = false;

  constructor(options: MemoryStatsOptions = {}) {
    this.#retentionMs = checkRetentionMs(options.retentionMs ?? STATS_RETENTION_MS_DEFAULT);
    const maxReports = options.maxReports ?? MEMORY_STATS_MAX_REPORTS_DEFAULT;
    if (!Number.isInteger(maxReports) || maxReports < 1) {
      throw new RangeError(`maxReports must be a whole number of at least 1, got ${maxReports}`);
    }
    this.#maxReports = maxReports;
    this.#now = options.now ?? Date.now;
  }

  async publish(report: EdgeStatsReport): Promise<void> {
    this.#assertOpen();
    const json = checkedReportJson(report);
    this.#lastN += 1;
    this.#entries.push({ n: this.#lastN, appendedAt: this.#now(), json });
    this.#trim();
    this.#wakeReaders();
  }

  async read(cursor: string, options: StatsReadOptions): Promise<{ cursor: string; reports: EdgeStatsReport[] }> {
    this.#assertOpen();
    const count = checkStatsCount(options.count);
    // '$' becomes the current end now, and that concrete cursor is what the caller gets
    // back, so reports appended before its next call are not skipped.
    const after = cursor === '$' ? this.#lastN : parseMemoryCursor(cursor);
    this.#trim();
    const first = this.#peek(after, count);
    if (first.reports.length > 0 || options.blockMs <= 0) return first;
    await wokenOrTimeout(this.#wake.fired, options.blockMs);
    if (this.#closed) return { cursor: String(after), reports: [] };
    return this.#peek(after, count);
  }

  async since(sinceMs: number): Promise<EdgeStatsReport[]> {
    this.#assertOpen();
    if (!Number.isFinite(sinceMs)) throw new RangeError(`sinceMs must be a time in epoch milliseconds, got ${sinceMs}`);
    this.#trim();
    return this.#entries.filter((e) => e.appendedAt >= sinceMs).map((e) => JSON.parse(e.json) as EdgeStatsReport);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wakeReaders();
  }

  /** Drops what is older than the retention, or beyond maxReports. */
  #trim(): void {
    const oldestKept = this.#now() - this.#retentionMs;
    let drop = Math.max(0, this.#entries.length - this.#maxReports);
    while (drop < this.#entries.length && this.#entries[drop]!.appendedAt < oldestKept) drop += 1;
    if (drop > 0) this.#entries.splice(0, drop);
  }

  #peek(after: number, count: number): { cursor: string; reports: EdgeStatsReport[] } {
    const oldest = this.#entries[0];
    // A cursor behind the trimmed part continues from the oldest kept.
    const start = oldest === undefined || after < oldest.n ? 0 : after - oldest.n + 1;
    const run = this.#entries.slice(start, start + count);
    if (run.length === 0) return { cursor: String(Math.max(after, 0)), reports: [] };
    return { cursor: String(run[run.length - 1]!.n), reports: run.map((e) => JSON.parse(e.json) as EdgeStatsReport) };
  }

  #wakeReaders(): void {
    this.#wake.fire();
    this.#wake = new Signal();
  }

  #assertOpen(): void {
    // Rejecting (rather than answering "no reports") keeps a consumer that forgot to stop
    // from spinning on an already-resolved read.
    if (this.#closed) throw new Error('the stats channel is closed');
  }
}


function parseMemoryCursor(cursor: string): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(cursor)) {
    throw new RangeError(`cursor must be '0', '$' or a cursor read returned, got "${cursor}"`);
  }
  return Number(cursor);
}

// ---- Checks shared with redis-stats.ts ----

export function checkRetentionMs(retentionMs: number): number {
  if (!Number.isInteger(retentionMs) || retentionMs < 1) {
    throw new RangeError(`retentionMs must be a whole number of milliseconds of at least 1, got ${retentionMs}`);
  }
  return retentionMs;
}

export function checkStatsCount(count: number | undefined): number {
  const value = count ?? STATS_READ_COUNT_DEFAULT;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`count must be a whole number of at least 1, got ${value}`);
  return value;
}

/**
 * The report as JSON, refused on the way in when it is malformed, so a report that JSON
 * cannot carry (NaN, a missing field) fails its writer rather than every reader.
 */
export function checkedReportJson(report: EdgeStatsReport): string {
  const problem = statsReportProblem(report);
  if (problem !== null) throw new TypeError(`invalid stats report: ${problem}`);
  return JSON.stringify(report);
}

const LATENCY_BUCKET_COUNT = ORIGIN_LATENCY_BUCKETS_MS.length + 1;
const RESULT_KEYS = new Set(['HIT', 'MISS', 'STALE', 'REVALIDATED', 'BYPASS']);

/** Why `value` is not an EdgeStatsReport, or null when it is one. */
export function statsReportProblem(value: unknown): string | null {
  if (!isRecord(value)) return 'not an object';
  if (typeof value['edgeId'] !== 'string' || value['edgeId'] === '') return `"edgeId" must be a non-empty string, got ${shown(value['edgeId'])}`;
  if (typeof value['at'] !== 'string' || !Number.isFinite(Date.parse(value['at']))) return `"at" must be an ISO time, got ${shown(value['at'])}`;
  if (!isCount(value['intervalMs']) || value['intervalMs'] === 0) return `"intervalMs" must be a whole number of at least 1, got ${shown(value['intervalMs'])}`;
  const customers = value['customers'];
  if (!Array.isArray(customers)) return `"customers" must be an array, got ${shown(customers)}`;
  for (const [i, delta] of customers.entries()) {
    const problem = deltaProblem(delta);
    if (problem !== null) return `customers[${i}]: ${problem}`;
  }
  return null;
}

function deltaProblem(delta: unknown): string | null {
  if (!isRecord(delta)) return 'not an object';
  if (typeof delta['customerId'] !== 'string' || delta['customerId'] === '') return `"customerId" must be a non-empty string, got ${shown(delta['customerId'])}`;
  for (const field of ['requests', 'serverErrors', 'bytesSent', 'originResponses', 'originErrors']) {
    if (!isCount(delta[field])) return `"${field}" must be a whole number of at least 0, got ${shown(delta[field])}`;
  }
  const results = delta['results'];
  if (!isRecord(results)) return `"results" must be an object, got ${shown(results)}`;
  for (const [key, count] of Object.entries(results)) {
    if (!RESULT_KEYS.has(key)) return `"results" has an unknown cache result "${key}"`;
    if (!isCount(count)) return `"results.${key}" must be a whole number of at least 0, got ${shown(count)}`;
  }
  const buckets = delta['originLatencyBuckets'];
  if (!Array.isArray(buckets) || buckets.length !== LATENCY_BUCKET_COUNT || !buckets.every(isCount)) {
    return `"originLatencyBuckets" must be ${LATENCY_BUCKET_COUNT} whole numbers of at least 0`;
  }
  if (delta['top'] !== undefined) {
    const problem = minuteTopProblem(delta['top']);
    if (problem !== null) return `"top": ${problem}`;
  }
  return null;
}

function minuteTopProblem(top: unknown): string | null {
  if (!isRecord(top)) return 'not an object';
  const minute = top['minute'];
  if (typeof minute !== 'string' || !Number.isFinite(Date.parse(minute)) || Date.parse(minute) % 60_000 !== 0) return `"minute" must be the ISO time of a whole minute, got ${shown(minute)}`;
  if (!isCount(top['requests'])) return `"requests" must be a whole number of at least 0, got ${shown(top['requests'])}`;
  if (!isCount(top['floor'])) return `"floor" must be a whole number of at least 0, got ${shown(top['floor'])}`;
  const paths = top['paths'];
  if (!Array.isArray(paths) || paths.length > MINUTE_TOP_PATHS_MAX) return `"paths" must be an array of at most ${MINUTE_TOP_PATHS_MAX}`;
  for (const [i, p] of paths.entries()) {
    if (!isRecord(p) || typeof p['key'] !== 'string' || p['key'].length === 0 || p['key'].length > TOP_PATH_MAX_CHARS + 1 || !isCount(p['count']) || !isCount(p['error']) || (p['error'] as number) > (p['count'] as number)) {
      return `"paths[${i}]" must be {key: a path of at most ${TOP_PATH_MAX_CHARS} characters, count, error <= count}`;
    }
  }
  const statuses = top['statuses'];
  if (!Array.isArray(statuses) || statuses.length > 1000) return '"statuses" must be an array of at most 1000';
  for (const [i, st] of statuses.entries()) {
    if (!isRecord(st) || !Number.isInteger(st['status']) || (st['status'] as number) < 100 || (st['status'] as number) > 999 || !isCount(st['count'])) {
      return `"statuses[${i}]" must be {status: 100 to 999, count}`;
    }
  }
  return null;
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/** NaN and Infinity as themselves (JSON would print null), a missing field as "nothing". */
function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  return typeof v === 'number' ? String(v) : JSON.stringify(v);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
