/**
 * Live cache statistics, one per api process: reads every edge's per-second reports from
 * the stats channel, keeps them in per-second buckets for the retention (stats-window.ts),
 * and serves the `cacheStats` / `fleetStats` subscriptions and the `cacheStatsHistory` query.
 * Every api replica reads every report, so a subscriber on any replica sees all edges.
 *
 * Timeline. Reports are placed by the end time the edge stamped on them (`at`). A second is
 * sealed `graceMs` after it ends (by this api's clock), so reports that travel late still
 * count; subscriptions only ever show sealed seconds, which is why an event arrives about
 * `graceMs` after the end of its interval. Intervals are aligned on the epoch (an interval
 * of 5 s ends at :00, :05, ...), so every replica emits the same intervals. A report that
 * arrives after its second was sealed counts in the first open second instead (late, never
 * lost, never twice); one stamped in the future (an edge clock ahead) counts now.
 *
 * At start it reads the channel's retained reports (`since`), so a fresh replica already
 * has history, then follows the channel from the position it took before that read,
 * skipping the reports it already loaded.
 *
 * Resume. A subscriber may say which interval it saw last (`after`, the `at` of that event),
 * typically when it reconnects, perhaps to another replica: the intervals ending after it,
 * up to the newest sealed one, are produced from the window as the subscriber reads them, and
 * only then do live events follow. While it is still reading them, the live intervals that
 * pass are added to its backlog instead of its queue, so a long gap is neither held in memory
 * nor cut short by the queue's bound, and none comes twice. Only what the window still holds
 * (the retention) can be replayed.
 */
import { invalidInput } from '../../core/errors';
import type { EdgeStatsReport, StatsChannel } from '../../core/stats.port';
import type { Logger } from '../../obs/logger.factory';
import { StatsWindow, type CustomerTrafficSummary, type EdgeTrafficSummary, type TrafficSummary } from './stats-window';

export const STATS_INTERVAL_SECONDS_MAX = 60;
export const STATS_TOP_MAX = 100;
/** Events waiting for a slow subscriber; older ones are dropped first. */
const SUBSCRIBER_QUEUE_MAX = 16;
/** Customer names kept for topCustomers, re-read after NAME_TTL_MS. */
const NAME_CACHE_MAX = 10_000;
const NAME_TTL_MS = 60_000;
/** After a long stall (a suspended host), emit at most this many seconds of missed events. */
const CATCH_UP_SECONDS_MAX = 2 * STATS_INTERVAL_SECONDS_MAX;
const READ_COUNT = 500;

export interface CacheStatsEvent extends TrafficSummary {
  customerId: string;
  /** End of the interval. */
  at: Date;
  intervalSeconds: number;
  edges: EdgeTrafficSummary[];
}

export interface CustomerTraffic extends CustomerTrafficSummary {
  customerName: string | null;
}

export interface FleetStatsEvent extends TrafficSummary {
  at: Date;
  intervalSeconds: number;
  activeCustomers: number;
  edges: EdgeTrafficSummary[];
  topCustomers: CustomerTraffic[];
}

export interface StatsAggregatorOptions {
  channel: StatsChannel;
  logger: Logger;
  retentionSeconds: number;
  graceMs: number;
  maxCustomersPerSecond: number;
  maxEdgesPerSecond?: number;
  /** Names of these customers (missing ones left out), for topCustomers. */
  customerNames: (ids: string[]) => Promise<Map<string, string>>;
  /** Called with the number of reports read (for the metric). */
  onReports?: (count: number) => void;
  /**
   * Every report read, history at start then live (a report the start's overlap reads twice may
   * come twice): the top URLs (services/traffic-top.service.ts) store their minute summaries from
   * it. Must not block or throw; a throw is logged and ignored.
   */
  onReportsRead?: (reports: EdgeStatsReport[]) => void;
  now?: () => number;
  blockMs?: number;
  retryMs?: number;
}

interface Subscriber {
  intervalSeconds: number;
  produce: (endSecond: number, fleetMemo: Map<number, Promise<FleetStatsEvent>>) => Promise<unknown>;
  /** Live intervals ending at or before this second are not pushed: the subscriber has them, or reads them from the window. */
  pulledThrough: number;
  /** True while the subscriber still has intervals to read from the window (a resume). */
  replaying: () => boolean;
  push: (event: unknown) => void;
  end: () => void;
}

export class StatsAggregator {
  readonly #channel: StatsChannel;
  readonly #log: Logger;
  readonly #retentionSeconds: number;
  readonly #graceMs: number;
  readonly #customerNames: StatsAggregatorOptions['customerNames'];
  readonly #onReports: (count: number) => void;
  readonly #onReportsRead: (reports: EdgeStatsReport[]) => void;
  readonly #now: () => number;
  readonly #blockMs: number;
  readonly #retryMs: number;
  readonly #window: StatsWindow;
  readonly #subscribers = new Set<Subscriber>();
  readonly #names = new Map<string, { name: string | null; at: number }>();
  /** The newest sealed second: what subscriptions and history show ends here. */
  #lastSealed: number;
  #timer: NodeJS.Timeout | undefined;
  /** Events are produced one sealed second after another, never overlapping. */
  #emitting: Promise<void> = Promise.resolve();
  #stopped = true;
  #loop: Promise<void> | null = null;
  #namesFailing = false;
  /** True once the retained reports were read at start: before, a window's sums are not the truth yet. */
  #loaded = false;

  constructor(options: StatsAggregatorOptions) {
    this.#channel = options.channel;
    this.#log = options.logger.child({ component: 'stats' });
    this.#retentionSeconds = options.retentionSeconds;
    this.#graceMs = options.graceMs;
    this.#customerNames = options.customerNames;
    this.#onReports = options.onReports ?? (() => {});
    this.#onReportsRead = options.onReportsRead ?? (() => {});
    this.#now = options.now ?? Date.now;
    this.#blockMs = options.blockMs ?? 1000;
    this.#retryMs = options.retryMs ?? 1000;
    this.#window = new StatsWindow({
      maxCustomersPerSecond: options.maxCustomersPerSecond,
      maxEdgesPerSecond: options.maxEdgesPerSecond ?? 1000,
    });
    this.#lastSealed = this.#sealedAt(this.#now());
  }

  get retentionMinutes(): number {
    return Math.floor(this.#retentionSeconds / 60);
  }

  start(): void {
    this.#stopped = false;
    this.#lastSealed = this.#sealedAt(this.#now());
    this.#schedule();
    this.#loop = this.#run();
  }

  /** Ends every subscription and stops reading (a blocked read is left to the channel's close). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const subscriber of [...this.#subscribers]) subscriber.end();
    await this.#emitting;
  }

  /**
   * One event per interval for one customer, zeros included; with `after`, first the
   * intervals that ended after it (a resume, see the file's comment).
   */
  cacheStats(customerId: string, intervalSeconds: number, after?: Date | null): AsyncIterableIterator<CacheStatsEvent> {
    checkRange('intervalSeconds', intervalSeconds, 1, STATS_INTERVAL_SECONDS_MAX);
    return this.#subscribe<CacheStatsEvent>(intervalSeconds, after, async (end) => this.#customerEvent(customerId, end - intervalSeconds, end - 1));
  }

  /** One event per interval for the whole fleet, with the `top` customers by requests; `after` as for cacheStats. */
  fleetStats(intervalSeconds: number, top: number, after?: Date | null): AsyncIterableIterator<FleetStatsEvent> {
    checkRange('intervalSeconds', intervalSeconds, 1, STATS_INTERVAL_SECONDS_MAX);
    checkRange('top', top, 1, STATS_TOP_MAX);
    return this.#subscribe<FleetStatsEvent>(intervalSeconds, after, async (end, memo) => {
      // Every fleet subscriber with this interval shares one computation per sealed second.
      let full = memo.get(intervalSeconds);
      if (full === undefined) {
        full = this.#fleetEvent(end - intervalSeconds, end - 1, STATS_TOP_MAX);
        memo.set(intervalSeconds, full);
      }
      const event = await full;
      return { ...event, topCustomers: event.topCustomers.slice(0, top) };
    });
  }

  /** One entry per sealed second of the last `minutes`, oldest first, zeros included. */
  history(customerId: string, minutes: number): CacheStatsEvent[] {
    checkRange('minutes', minutes, 1, this.retentionMinutes);
    const to = this.#lastSealed;
    const events: CacheStatsEvent[] = [];
    for (let s = to - minutes * 60 + 1; s <= to; s += 1) events.push(this.#customerEvent(customerId, s, s));
    return events;
  }

  /**
   * One customer over the last `seconds` sealed seconds, for the alerts' evaluator; null until
   * the reports the channel retains were read at start (a fresh replica would judge on nothing).
   */
  recent(customerId: string, seconds: number): CacheStatsEvent | null {
    if (!this.#loaded) return null;
    return this.#customerEvent(customerId, this.#lastSealed - seconds + 1, this.#lastSealed);
  }

  #customerEvent(customerId: string, from: number, to: number): CacheStatsEvent {
    const { total, edges } = this.#window.customer(customerId, from, to);
    return { customerId, at: new Date((to + 1) * 1000), intervalSeconds: to - from + 1, ...total, edges };
  }

  async #fleetEvent(from: number, to: number, top: number): Promise<FleetStatsEvent> {
    const { total, edges, customers } = this.#window.fleet(from, to);
    customers.sort((a, b) => b.requests - a.requests || (a.customerId < b.customerId ? -1 : a.customerId > b.customerId ? 1 : 0));
    const chosen = customers.slice(0, top);
    const names = await this.#namesOf(chosen.map((c) => c.customerId));
    return {
      at: new Date((to + 1) * 1000),
      intervalSeconds: to - from + 1,
      ...total,
      activeCustomers: customers.length,
      edges,
      topCustomers: chosen.map((c) => ({ ...c, customerName: names.get(c.customerId) ?? null })),
    };
  }

  #subscribe<T>(intervalSeconds: number, after: Date | null | undefined, produce: Subscriber['produce']): AsyncIterableIterator<T> {
    const queue: T[] = [];
    let waiting: ((result: IteratorResult<T>) => void) | null = null;
    let done = false;
    const subscribers = this.#subscribers;
    /** The next interval end to read from the window (resume); past `pulledThrough`, live events take over. */
    let replayNext = Number.POSITIVE_INFINITY;
    let pulledThrough = Number.NEGATIVE_INFINITY;
    if (after !== undefined && after !== null) {
      // An `after` ahead of this api's clock (another replica's clock, or a client's) counts as now.
      const seen = Math.min(Math.floor(after.getTime() / 1000), Math.floor(this.#now() / 1000));
      replayNext = firstEndAfter(seen, intervalSeconds);
      // Pending live emissions up to the newest sealed second are covered by the replay.
      pulledThrough = Math.max(this.#lastSealed + 1, seen);
    }
    const finish = (): IteratorResult<T> => {
      done = true;
      subscribers.delete(subscriber);
      queue.length = 0;
      return { done: true, value: undefined };
    };
    const subscriber: Subscriber = {
      intervalSeconds,
      produce,
      get pulledThrough() {
        return pulledThrough;
      },
      set pulledThrough(second: number) {
        pulledThrough = second;
      },
      replaying: () => replayNext <= pulledThrough,
      push: (event) => {
        if (waiting !== null) {
          const resolve = waiting;
          waiting = null;
          resolve({ done: false, value: event as T });
          return;
        }
        queue.push(event as T);
        if (queue.length > SUBSCRIBER_QUEUE_MAX) queue.shift();
      },
      end: () => {
        const result = finish();
        if (waiting !== null) {
          const resolve = waiting;
          waiting = null;
          resolve(result);
        }
      },
    };
    if (this.#stopped) done = true;
    else subscribers.add(subscriber);
    const oldestEnd = (): number => firstEndAfter(this.#lastSealed - this.#retentionSeconds + intervalSeconds, intervalSeconds);
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next: async () => {
        if (queue.length > 0) return { done: false, value: queue.shift()! };
        if (done) return { done: true, value: undefined };
        if (replayNext <= pulledThrough) {
          // Seconds the window no longer holds cannot be replayed: start at the oldest it has.
          replayNext = Math.max(replayNext, oldestEnd());
          if (replayNext <= pulledThrough) {
            const end = replayNext;
            replayNext += intervalSeconds;
            return { done: false, value: (await produce(end, new Map())) as T };
          }
        }
        return new Promise((resolve) => (waiting = resolve));
      },
      return: async () => {
        subscriber.end();
        return { done: true, value: undefined };
      },
    };
  }

  /** The newest second whose grace has passed at `now`. */
  #sealedAt(now: number): number {
    return Math.floor((now - this.#graceMs) / 1000) - 1;
  }

  #schedule(): void {
    if (this.#stopped) return;
    const now = this.#now();
    const next = (this.#sealedAt(now) + 2) * 1000 + this.#graceMs;
    this.#timer = setTimeout(() => this.#tick(), Math.max(1, next - now + 1));
    this.#timer.unref();
  }

  #tick(): void {
    const sealed = this.#sealedAt(this.#now());
    const first = Math.max(this.#lastSealed + 1, sealed - CATCH_UP_SECONDS_MAX + 1);
    for (let s = first; s <= sealed; s += 1) {
      this.#lastSealed = s;
      const end = s + 1;
      this.#emitting = this.#emitting.then(() => this.#emit(end));
    }
    this.#window.dropBefore(sealed - this.#retentionSeconds + 1);
    this.#schedule();
  }

  /** Events for the intervals ending at `endSecond` (exclusive), to the subscribers whose interval ends there. */
  async #emit(endSecond: number): Promise<void> {
    const memo = new Map<number, Promise<FleetStatsEvent>>();
    for (const subscriber of [...this.#subscribers]) {
      if (endSecond % subscriber.intervalSeconds !== 0) continue;
      if (endSecond <= subscriber.pulledThrough) continue;
      if (subscriber.replaying()) {
        // Still reading older intervals from the window: this one joins them, in order.
        subscriber.pulledThrough = endSecond;
        continue;
      }
      try {
        subscriber.push(await subscriber.produce(endSecond, memo));
      } catch (err) {
        this.#log.error({ err }, 'could not compute a stats event');
      }
    }
  }

  async #namesOf(ids: string[]): Promise<Map<string, string | null>> {
    const now = this.#now();
    const result = new Map<string, string | null>();
    const missing: string[] = [];
    for (const id of ids) {
      const cached = this.#names.get(id);
      if (cached !== undefined && now - cached.at < NAME_TTL_MS) result.set(id, cached.name);
      else missing.push(id);
    }
    if (missing.length === 0) return result;
    try {
      const found = await this.#customerNames(missing);
      if (this.#names.size + missing.length > NAME_CACHE_MAX) this.#names.clear();
      for (const id of missing) {
        const name = found.get(id) ?? null;
        this.#names.set(id, { name, at: now });
        result.set(id, name);
      }
      this.#namesFailing = false;
    } catch (err) {
      // Names are decoration: the event goes out without them.
      if (!this.#namesFailing) this.#log.warn({ err }, 'cannot read customer names for fleet stats');
      this.#namesFailing = true;
    }
    return result;
  }

  async #run(): Promise<void> {
    let failing = false;
    let cursor: string | null = null;
    /** Reports loaded from history, skipped if the tail reads them again. */
    let loaded: Set<string> | null = null;
    while (!this.#stopped) {
      try {
        if (cursor === null) {
          const position = (await this.#channel.read('$', { blockMs: 0 })).cursor;
          const history = await this.#channel.since(this.#now() - this.#retentionSeconds * 1000);
          if (this.#stopped) return;
          loaded = new Set(history.map(reportKey));
          for (const report of history) this.#add(report, false);
          this.#onReports(history.length);
          this.#handOn(history);
          this.#loaded = true;
          cursor = position;
        }
        const { cursor: next, reports } = await this.#channel.read(cursor, { blockMs: this.#blockMs, count: READ_COUNT });
        if (this.#stopped) return;
        for (const report of reports) {
          if (loaded !== null) {
            // The channel answers in order: past the first report history lacked, none is a repeat.
            if (loaded.has(reportKey(report))) continue;
            loaded = null;
          }
          this.#add(report, true);
        }
        this.#onReports(reports.length);
        this.#handOn(reports);
        cursor = next;
        if (failing) this.#log.info('reading edge stats again');
        failing = false;
      } catch (err) {
        if (this.#stopped) return;
        if (!failing) this.#log.error({ err }, 'cannot read edge stats; retrying');
        failing = true;
        await sleep(this.#retryMs);
      }
    }
  }

  #handOn(reports: EdgeStatsReport[]): void {
    if (reports.length === 0) return;
    try {
      this.#onReportsRead(reports);
    } catch (err) {
      this.#log.error({ err }, 'a reader of edge stats reports failed');
    }
  }

  #add(report: EdgeStatsReport, live: boolean): void {
    const now = this.#now();
    let second = Math.floor((Date.parse(report.at) - 1) / 1000);
    // An edge clock ahead of ours: count it now rather than in a future second.
    second = Math.min(second, Math.floor(now / 1000));
    // Late for a second already shown live: the first open second takes it.
    if (live) second = Math.max(second, this.#lastSealed + 1);
    if (second <= this.#sealedAt(now) - this.#retentionSeconds) return;
    this.#window.add(second, report.edgeId, report.customers);
  }
}

/** The first interval end (a multiple of `intervalSeconds`, epoch-aligned) after `second`. */
function firstEndAfter(second: number, intervalSeconds: number): number {
  return (Math.floor(second / intervalSeconds) + 1) * intervalSeconds;
}

function reportKey(report: EdgeStatsReport): string {
  return `${report.edgeId}\u0000${report.at}`;
}

function checkRange(field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidInput([{ field, message: `must be a whole number from ${min} to ${max}, got ${value}` }]);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
