/**
 * One customer's counting on one edge process: its Prometheus series of the edge catalog
 * (a row of customer.series.ts) and its stats delta for the stats channel
 * (core/stats.port.ts), fed from the same calls so both always agree.
 *
 * Built for the hit lane: counting a request is a few additions to a Float64Array and to
 * number fields; it hashes no label and allocates nothing. A meter joins the recorder's
 * dirty list the first time it counts something in an interval; the reporter drains it.
 *
 * Top paths and status codes (issue 16): while the recorder keeps them (CDN_EDGE_TOP_URLS > 0),
 * each answered request also counts its path in this minute's Space-Saving summary (bounded:
 * CDN_EDGE_TOP_URLS paths per customer, core/top-k.ts) and its status code; the first drain
 * after the minute ends ships them in the delta (`top`). A request counts in the minute of the
 * drain before it (the minute is read once per drain, not per request): off by at most one
 * stats interval at a minute's edge.
 */
import { ORIGIN_LATENCY_BUCKETS_MS, TOP_PATH_MAX_CHARS, type CustomerStatsDelta, type MinuteTop, type StatsCacheResult } from '../../core/stats.port';
import { SpaceSaving } from '../../core/top-k';
import type { CacheResult, OriginErrorKind, Transport } from '../metrics.catalog';
import { CACHE_INDEX, KIND_INDEX, ROW, STATUS_CLASS_COUNT, TRANSPORT_INDEX, type CustomerRow } from './customer.series';

const CACHE_BY_INDEX: readonly CacheResult[] = ['HIT', 'MISS', 'STALE', 'REVALIDATED', 'BYPASS', 'ERROR', 'NONE'];
/** The first five cache results are the stats channel's. */
const STATS_RESULTS = 5;
const LATENCY_BUCKETS = ORIGIN_LATENCY_BUCKETS_MS.length + 1;

/** The class index (0 = 1xx … 4) of a status; anything out of range counts as 5xx. */
function statusIndex(status: number): number {
  const cls = (status / 100) | 0;
  return cls >= 1 && cls <= 5 ? cls - 1 : 4;
}

export class CustomerMeter {
  readonly customerId: string;
  /** This customer's Prometheus series (customer.series.ts). */
  readonly #v: Float64Array;
  readonly #recorder: StatsRecorder | undefined;

  // This interval's delta (stats channel).
  #dirty = false;
  #requests = 0;
  readonly #results = [0, 0, 0, 0, 0];
  #serverErrors = 0;
  #bytesSent = 0;
  #originResponses = 0;
  #originErrors = 0;
  readonly #latency: number[] = new Array<number>(LATENCY_BUCKETS).fill(0);
  readonly #row: CustomerRow;
  /** This minute's paths and status codes (undefined until this customer's first request in it). */
  #minute: MinuteCounts | undefined;

  constructor(row: CustomerRow, recorder: StatsRecorder | undefined) {
    this.customerId = row.customerId;
    this.#row = row;
    this.#v = row.v;
    this.#recorder = recorder;
  }

  /**
   * One client request answered: its cache result, the status sent, the body bytes sent, how it
   * arrived and its path (raw, without the query; for the top paths).
   */
  answered(cache: CacheResult, status: number, bytes: number, transport: Transport, path?: string): void {
    const c = CACHE_INDEX[cache];
    const s = statusIndex(status);
    const v = this.#v;
    v[ROW.requests + c * STATUS_CLASS_COUNT + s]! += 1;
    v[ROW.bytes]! += bytes;
    v[ROW.transports + TRANSPORT_INDEX[transport]]! += 1;
    if (this.#recorder === undefined) return;
    this.#touch();
    this.#requests += 1;
    if (c < STATS_RESULTS) this.#results[c]! += 1;
    if (s === 4) this.#serverErrors += 1;
    this.#bytesSent += bytes;
    if (path === undefined) return;
    const capacity = this.#recorder.topCapacity;
    if (capacity === 0) return;
    let minute = this.#minute;
    if (minute === undefined) {
      minute = this.#minute = new MinuteCounts(capacity);
      this.#recorder.opened(this);
    }
    minute.count(path, status);
  }

  /** Ends this minute's counts: the summary to ship (undefined when nothing was counted). */
  closeMinute(minuteIso: string): MinuteTop | undefined {
    const minute = this.#minute;
    this.#minute = undefined;
    return minute?.summary(minuteIso);
  }

  /** The origin answered with headers after `ms` (a 5xx answer also counts as an origin error). */
  originResponse(ms: number, status: number): void {
    this.#row.observeDuration(ms / 1000);
    if (status >= 500) this.#v[ROW.errors + KIND_INDEX['5xx']]! += 1;
    if (this.#recorder === undefined) return;
    this.#touch();
    this.#originResponses += 1;
    if (status >= 500) this.#originErrors += 1;
    let b = 0;
    while (b < ORIGIN_LATENCY_BUCKETS_MS.length && ms > ORIGIN_LATENCY_BUCKETS_MS[b]!) b += 1;
    this.#latency[b]! += 1;
  }

  /** An origin request that failed before (or while) its answer arrived. */
  originFailure(kind: OriginErrorKind): void {
    this.#v[ROW.errors + KIND_INDEX[kind]]! += 1;
    if (this.#recorder === undefined) return;
    this.#touch();
    this.#originErrors += 1;
  }

  /** A request that joined another request's origin fetch. */
  collapsedRequest(): void {
    this.#v[ROW.collapsed]! += 1;
  }

  /** An object of this customer evicted from the disk cache. */
  evicted(): void {
    this.#v[ROW.evictions]! += 1;
  }

/** This interval's delta (with a minute's top when one ended), and a fresh interval. */
  drain(top?: MinuteTop): CustomerStatsDelta {
    const results: CustomerStatsDelta['results'] = {};
    for (let i = 0; i < STATS_RESULTS; i += 1) {
      if (this.#results[i]! > 0) results[CACHE_BY_INDEX[i] as StatsCacheResult] = this.#results[i]!;
    }
    const delta: CustomerStatsDelta = {
      customerId: this.customerId,
      requests: this.#requests,
      results,
      serverErrors: this.#serverErrors,
      bytesSent: this.#bytesSent,
      originResponses: this.#originResponses,
      originErrors: this.#originErrors,
      originLatencyBuckets: [...this.#latency],
      ...(top === undefined ? {} : { top }),
    };
    this.#dirty = false;
    this.#requests = 0;
    this.#results.fill(0);
    this.#serverErrors = 0;
    this.#bytesSent = 0;
    this.#originResponses = 0;
    this.#originErrors = 0;
    this.#latency.fill(0);
    return delta;
  }

  #touch(): void {
    if (this.#dirty) return;
    this.#dirty = true;
    this.#recorder!.dirty(this);
  }
}

/** One customer's paths and status codes in one minute. */
class MinuteCounts {
  readonly #paths: SpaceSaving;
  readonly #statuses = new Map<number, number>();
  #requests = 0;

  constructor(capacity: number) {
    this.#paths = new SpaceSaving(capacity);
  }

  count(path: string, status: number): void {
    this.#requests += 1;
    // Bounded: a client may send a path of many kilobytes; counted under its first characters.
    this.#paths.offer(path.length > TOP_PATH_MAX_CHARS ? `${path.slice(0, TOP_PATH_MAX_CHARS)}…` : path);
    this.#statuses.set(status, (this.#statuses.get(status) ?? 0) + 1);
  }

  summary(minute: string): MinuteTop {
    const paths = this.#paths.top();
    const full = this.#paths.size === this.#paths.capacity;
    return {
      minute,
      requests: this.#requests,
      paths,
      floor: full && paths.length > 0 ? paths[paths.length - 1]!.count : 0,
      statuses: [...this.#statuses].sort((a, b) => a[0] - b[0]).map(([status, count]) => ({ status, count })),
    };
  }
}

/**
 * The meters that counted something since the last drain. Bounded: a meter is listed at
 * most once per interval, and there is one meter per customer. Also the meters whose
 * minute of top paths is open, closed by the first drain in a later minute.
 */
export class StatsRecorder {
  /** Paths kept per customer per minute (CDN_EDGE_TOP_URLS); 0: no top paths. */
  readonly topCapacity: number;
  #dirty: CustomerMeter[] = [];
  readonly #open = new Set<CustomerMeter>();
  /** The minute (epoch ms of its start) the open summaries count; set by drains. */
  #minute: number;

  constructor(topCapacity = 0, now: number = Date.now()) {
    this.topCapacity = topCapacity;
    this.#minute = minuteOf(now);
  }

  dirty(meter: CustomerMeter): void {
    this.#dirty.push(meter);
  }

  opened(meter: CustomerMeter): void {
    this.#open.add(meter);
  }

  /** Whether anything was counted since the last drain, or a minute with top paths ended. */
  pendingAt(nowMs: number): boolean {
    return this.#dirty.length > 0 || (this.#open.size > 0 && minuteOf(nowMs) !== this.#minute);
  }

  /** Every customer's delta since the last drain (customers without traffic left out); tops of the minute that ended. */
  drain(nowMs: number = Date.now()): CustomerStatsDelta[] {
    const meters = this.#dirty;
    this.#dirty = [];
    const minute = minuteOf(nowMs);
    if (minute === this.#minute || this.#open.size === 0) {
      this.#minute = minute;
      return meters.map((m) => m.drain());
    }
    const iso = new Date(this.#minute).toISOString();
    this.#minute = minute;
    const tops = new Map<CustomerMeter, MinuteTop>();
    for (const m of this.#open) {
      const top = m.closeMinute(iso);
      if (top !== undefined) tops.set(m, top);
    }
    this.#open.clear();
    const deltas = meters.map((m) => m.drain(tops.get(m)));
    // A customer quiet since the minute ended still ships that minute's top, in a delta of its own.
    const drained = new Set(meters);
    for (const [m, top] of tops) if (!drained.has(m)) deltas.push(m.drain(top));
    return deltas;
  }
}

function minuteOf(ms: number): number {
  return ms - (ms % 60_000);
}
