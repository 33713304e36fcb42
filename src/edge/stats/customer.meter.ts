/**
 * One customer's counting on one edge process: its Prometheus series of the edge catalog
 * (a row of customer.series.ts) and its stats delta for the stats channel
 * (core/stats.port.ts), fed from the same calls so both always agree.
 *
 * Built for the hit lane: counting a request is a few additions to a Float64Array and to
 * number fields; it hashes no label and allocates nothing. A meter joins the recorder's
 * dirty list the first time it counts something in an interval; the reporter drains it.
 */
import { ORIGIN_LATENCY_BUCKETS_MS, type CustomerStatsDelta, type StatsCacheResult } from '../../core/stats.port';
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

  constructor(row: CustomerRow, recorder: StatsRecorder | undefined) {
    this.customerId = row.customerId;
    this.#row = row;
    this.#v = row.v;
    this.#recorder = recorder;
  }

  /** One client request answered: its cache result, the status sent, the body bytes sent, and how it arrived. */
  answered(cache: CacheResult, status: number, bytes: number, transport: Transport): void {
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

/** This interval's delta, and a fresh interval. */
  drain(): CustomerStatsDelta {
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

/**
 * The meters that counted something since the last drain. Bounded: a meter is listed at
 * most once per interval, and there is one meter per customer.
 */
export class StatsRecorder {
  #dirty: CustomerMeter[] = [];

  dirty(meter: CustomerMeter): void {
    this.#dirty.push(meter);
  }

  /** Whether anything was counted since the last drain. */
  get pending(): boolean {
    return this.#dirty.length > 0;
  }

  /** Every customer's delta since the last drain (customers without traffic left out). */
  drain(): CustomerStatsDelta[] {
    const meters = this.#dirty;
    this.#dirty = [];
    return meters.map((m) => m.drain());
  }
}
