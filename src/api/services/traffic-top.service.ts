/**
 * Top URLs and status codes (issue 16), one per api process. Edges ship each customer's minute
 * as a Space-Saving summary of its paths and exact status counts (`top` in the first stats
 * report after the minute ends); the StatsAggregator hands every report it reads here
 * (`record`, history at start, then live), and this service stores the summaries in PostgreSQL
 * (db/traffic-top.store.ts) and answers `trafficTop` by merging them over a window.
 *
 * Recording never holds the aggregator up: `record` only queues (bounded: past QUEUE_MAX the
 * oldest summaries are dropped and counted), and one writer at a time stores up to BATCH_MAX
 * per transaction. A failed write is logged once (until a write succeeds again) and retried
 * after `retryMs` with the queue kept; what does not fit the queue meanwhile is dropped,
 * counted by `onStored('dropped', n)` (cdn_api_traffic_top_summaries_total). Every replica
 * reads every report and stores what it reads; the table's keys make each summary one row.
 *
 * The merge follows core/top-k.ts mergeTop: a path's counts and errors add up over the
 * summaries that listed it, and each summary that did not list it adds its floor to
 * `missing`, so `requests - errorBound <= true count <= requests + missingBound`.
 *
 * Retention: summaries of minutes older than CDN_API_TOP_RETENTION_HOURS are deleted in
 * batches, at start and every SWEEP_INTERVAL_MS, by every replica (deleting twice is harmless).
 */
import { invalidInput } from '../../core/errors';
import type { EdgeStatsReport } from '../../core/stats.port';
import type { Logger } from '../../obs/logger.factory';
import type { Database } from '../db/database';
import { EDGE_ID_MAX_CHARS } from '../db/purge.store';
import { deleteTrafficTopsBefore, insertTrafficTops, readTrafficTop, type TrafficTopRow } from '../db/traffic-top.store';

export const TRAFFIC_TOP_FIRST_MAX = 100;
export const TRAFFIC_TOP_RETENTION_HOURS_DEFAULT = 24;
const QUEUE_MAX = 10_000;
const BATCH_MAX = 200;
const SWEEP_INTERVAL_MS = 10 * 60_000;
const SWEEP_BATCH = 100;
const MINUTE_MS = 60_000;
/** customer ids: `[a-z0-9][a-z0-9-]*`, at most 63 characters. */
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface TrafficTopPath {
  path: string;
  /** Merged count: an upper bound of the true count within the summaries that listed the path. */
  requests: number;
  /** How much of `requests` may be inherited from evicted paths: requests - errorBound is a lower bound. */
  errorBound: number;
  /** What the path may have had in summaries that did not list it: requests + missingBound is an upper bound. */
  missingBound: number;
}

export interface TrafficTop {
  customerId: string;
  /** The window: whole minutes, from inclusive, to exclusive (the start of the current minute). */
  from: Date;
  to: Date;
  /** Every request of the window counted by the edges' summaries. */
  requests: number;
  /** Edge-process minutes in the window (one summary each). */
  summaries: number;
  /** A path listed in no summary had at most this many requests (the sum of every summary's floor). */
  unlistedBound: number;
  paths: TrafficTopPath[];
  /** Exact, most first. */
  statuses: Array<{ status: number; requests: number }>;
}

export interface TrafficTopServiceOptions {
  db: Database;
  logger: Logger;
  retentionHours: number;
  /** Summaries stored or dropped (the queue full), for the metric. */
  onStored?: (outcome: 'stored' | 'dropped', count: number) => void;
  retryMs?: number;
  queueMax?: number;
  now?: () => number;
}

export class TrafficTopService {
  readonly #o: TrafficTopServiceOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #retryMs: number;
  readonly #queueMax: number;
  readonly #onStored: NonNullable<TrafficTopServiceOptions['onStored']>;
  #queue: TrafficTopRow[] = [];
  #writing: Promise<void> | undefined;
  #failing = false;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  constructor(options: TrafficTopServiceOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'traffic-top' });
    this.#now = options.now ?? Date.now;
    this.#retryMs = options.retryMs ?? 5000;
    this.#queueMax = options.queueMax ?? QUEUE_MAX;
    this.#onStored = options.onStored ?? (() => {});
  }

  get retentionMinutes(): number {
    return this.#o.retentionHours * 60;
  }

  start(): void {
    this.#stopped = false;
    void this.sweep();
    this.#sweepTimer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref();
  }

  /** Stores what is queued (one more try), then stops. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#sweepTimer);
    clearTimeout(this.#retryTimer);
    await this.#writing;
    if (this.#queue.length > 0 && !this.#failing) await this.#write();
    await this.#sweeping;
  }

  /** Queues the minute summaries of these reports (the StatsAggregator's hook); never blocks, never throws. */
  record(reports: readonly EdgeStatsReport[]): void {
    let added = 0;
    for (const report of reports) {
      if (report.edgeId.length === 0 || report.edgeId.length > EDGE_ID_MAX_CHARS) continue;
      for (const c of report.customers) {
        const top = c.top;
        if (top === undefined || !NAME.test(c.customerId)) continue;
        const minute = Date.parse(top.minute);
        if (!Number.isFinite(minute) || minute % MINUTE_MS !== 0) continue;
        this.#queue.push({ customerId: c.customerId, edgeId: report.edgeId, minute: new Date(minute).toISOString(), requests: top.requests, floor: top.floor, paths: top.paths, statuses: top.statuses });
        added += 1;
      }
    }
    if (added === 0) return;
    const over = this.#queue.length - this.#queueMax;
    if (over > 0) {
      this.#queue.splice(0, over);
      this.#onStored('dropped', over);
    }
    this.#kick();
  }

  /** Resolves once everything queued so far was written (or its write failed); for tests and the drain. */
  async flushed(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
  }

  /**
   * One customer's top paths and status codes over the last `minutes` whole minutes (the current
   * one excluded: edges ship a minute after it ends). minutes 1 up to the retention, first 1..100.
   */
  async top(customerId: string, minutes: number, first: number): Promise<TrafficTop> {
    const problems = [];
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > this.retentionMinutes) {
      problems.push({ field: 'minutes', message: `must be a whole number from 1 to ${this.retentionMinutes} (CDN_API_TOP_RETENTION_HOURS), got ${minutes}` });
    }
    if (!Number.isInteger(first) || first < 1 || first > TRAFFIC_TOP_FIRST_MAX) {
      problems.push({ field: 'first', message: `must be a whole number from 1 to ${TRAFFIC_TOP_FIRST_MAX}, got ${first}` });
    }
    if (problems.length > 0) throw invalidInput(problems);
    const to = new Date(Math.floor(this.#now() / MINUTE_MS) * MINUTE_MS);
    const from = new Date(to.getTime() - minutes * MINUTE_MS);
    // One snapshot: the totals, the paths and the statuses agree with each other.
    const w = await this.#o.db.transaction((m) => readTrafficTop(m, customerId, from, to, first), 'REPEATABLE READ');
    return {
      customerId,
      from,
      to,
      requests: w.requests,
      summaries: w.summaries,
      unlistedBound: w.floors,
      paths: w.paths.map((p) => ({ path: p.path, requests: p.count, errorBound: p.error, missingBound: p.missing })),
      statuses: w.statuses.map((s) => ({ status: s.status, requests: s.count })),
    };
  }

  /** Deletes the summaries past the retention, a batch at a time. One sweep at a time; never rejects. */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#sweepAll().finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  async #sweepAll(): Promise<void> {
    const cutoff = new Date(this.#now() - this.#o.retentionHours * 60 * MINUTE_MS);
    try {
      let total = 0;
      for (;;) {
        const deleted = await this.#o.db.transaction((m) => deleteTrafficTopsBefore(m, cutoff, SWEEP_BATCH));
        total += deleted;
        if (deleted < SWEEP_BATCH) break;
      }
      if (total > 0) this.#log.info({ deleted: total, before: cutoff.toISOString() }, 'expired top URL summaries deleted');
    } catch (err) {
      this.#log.error({ err }, 'top URL retention sweep failed; retrying at the next interval');
    }
  }

  #kick(): void {
    if (this.#writing !== undefined || this.#retryTimer !== undefined || this.#stopped) return;
    this.#writing = this.#drain().finally(() => (this.#writing = undefined));
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0 && !this.#stopped) {
      if (!(await this.#write())) {
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#kick();
        }, this.#retryMs);
        this.#retryTimer.unref();
        return;
      }
    }
  }

  /** Writes one batch from the head of the queue; false (the batch kept) when the write failed. */
  async #write(): Promise<boolean> {
    const batch = this.#queue.slice(0, BATCH_MAX);
    try {
      await this.#o.db.transaction((m) => insertTrafficTops(m, batch));
    } catch (err) {
      if (!this.#failing) this.#log.error({ err, queued: this.#queue.length }, `cannot store top URL summaries; retrying every ${this.#retryMs} ms (the oldest are dropped past ${this.#queueMax} queued)`);
      this.#failing = true;
      return false;
    }
    // Items dropped from the head meanwhile (queue full) were part of this batch only if still there.
    const written = new Set(batch);
    let i = 0;
    while (i < this.#queue.length && written.has(this.#queue[i]!)) i += 1;
    this.#queue.splice(0, i);
    if (this.#failing) this.#log.info('storing top URL summaries again');
    this.#failing = false;
    this.#onStored('stored', batch.length);
    return true;
  }
}
