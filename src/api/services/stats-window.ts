/**
 * The per-second buckets the stats aggregator keeps, and the sums and percentiles it
 * serves from them. No I/O, no timers: stats-aggregator.service.ts feeds it reports and
 * asks for intervals.
 *
 * A bucket is one second of the api's timeline (second s covers [s·1000, s·1000 + 1000) ms)
 * holding, per customer, per edge, the counts the reports carried. Memory is bounded: at
 * most `maxCustomersPerSecond` customers and `maxEdgesPerSecond` edges per second (traffic
 * beyond them still counts in the fleet totals, which are kept per edge), and seconds older
 * than the retention are dropped.
 *
 * Percentiles merge every edge's latency buckets (ORIGIN_LATENCY_BUCKETS_MS) and
 * interpolate linearly inside the bucket that holds the rank, as Prometheus'
 * histogram_quantile does: with 10 responses in (50, 100] ms and none faster, p50 is 75 ms.
 * The first bucket starts at 0 ms; ranks in the open last bucket (slower than 10 s) answer
 * its lower bound, 10,000 ms.
 */
import { ORIGIN_LATENCY_BUCKETS_MS, type CustomerStatsDelta } from '../../core/stats.port';

/** Counts, in this order: requests, cache hits (HIT+STALE+REVALIDATED), misses, 5xx, bytes, then the latency buckets. */
const REQUESTS = 0;
const HITS = 1;
const MISSES = 2;
const SERVER_ERRORS = 3;
const BYTES = 4;
const LATENCY = 5;
const LATENCY_BUCKETS = ORIGIN_LATENCY_BUCKETS_MS.length + 1;
const WIDTH = LATENCY + LATENCY_BUCKETS;

type Counts = Float64Array;

/** What every interval reports, for a customer, an edge or the whole fleet. */
export interface TrafficSummary {
  requests: number;
  requestsPerSecond: number;
  /** (HIT+STALE+REVALIDATED) / (those + MISS); null without any of them. */
  hitRatio: number | null;
  bytesPerSecond: number;
  originP50Ms: number | null;
  originP95Ms: number | null;
  /** 5xx answers / requests; 0 without requests. */
  errorRatio: number;
}

export interface EdgeTrafficSummary extends TrafficSummary {
  edgeId: string;
}

export interface CustomerTrafficSummary extends TrafficSummary {
  customerId: string;
}

interface SecondBucket {
  /** customerId → edgeId → counts. */
  customers: Map<string, Map<string, Counts>>;
  /** edgeId → counts of every customer (also those beyond the per-second cap). */
  edges: Map<string, Counts>;
}

export interface StatsWindowOptions {
  maxCustomersPerSecond: number;
  maxEdgesPerSecond: number;
}

export class StatsWindow {
  readonly #options: StatsWindowOptions;
  readonly #seconds = new Map<number, SecondBucket>();
  /** Deltas that found their second full (customers or edges beyond the caps). */
  #overflowed = 0;

  constructor(options: StatsWindowOptions) {
    this.#options = options;
  }

  get overflowed(): number {
    return this.#overflowed;
  }

  /** Adds one edge's deltas to second `second`. */
  add(second: number, edgeId: string, deltas: readonly CustomerStatsDelta[]): void {
    let bucket = this.#seconds.get(second);
    if (bucket === undefined) {
      bucket = { customers: new Map(), edges: new Map() };
      this.#seconds.set(second, bucket);
    }
    let edgeTotal = bucket.edges.get(edgeId);
    if (edgeTotal === undefined) {
      if (bucket.edges.size >= this.#options.maxEdgesPerSecond) {
        this.#overflowed += deltas.length;
        return;
      }
      edgeTotal = new Float64Array(WIDTH);
      bucket.edges.set(edgeId, edgeTotal);
    }
    for (const delta of deltas) {
      addDelta(edgeTotal, delta);
      let perEdge = bucket.customers.get(delta.customerId);
      if (perEdge === undefined) {
        if (bucket.customers.size >= this.#options.maxCustomersPerSecond) {
          this.#overflowed += 1;
          continue;
        }
        perEdge = new Map();
        bucket.customers.set(delta.customerId, perEdge);
      }
      let counts = perEdge.get(edgeId);
      if (counts === undefined) {
        counts = new Float64Array(WIDTH);
        perEdge.set(edgeId, counts);
      }
      addDelta(counts, delta);
    }
  }

  /** Forgets the seconds before `oldestKept`. */
  dropBefore(oldestKept: number): void {
    for (const second of this.#seconds.keys()) if (second < oldestKept) this.#seconds.delete(second);
  }

  /** One customer over seconds [from, to]: the sum and the per-edge breakdown (by edgeId). */
  customer(customerId: string, from: number, to: number): { total: TrafficSummary; edges: EdgeTrafficSummary[] } {
    const seconds = to - from + 1;
    const byEdge = new Map<string, Counts>();
    for (let s = from; s <= to; s += 1) {
      const perEdge = this.#seconds.get(s)?.customers.get(customerId);
      if (perEdge !== undefined) for (const [edgeId, counts] of perEdge) addInto(byEdge, edgeId, counts);
    }
    return summarise(byEdge, seconds);
  }

  /**
   * The whole fleet over seconds [from, to]: the sum, the per-edge breakdown, every
   * customer with traffic (unsorted), from which callers pick the top ones.
   */
  fleet(from: number, to: number): { total: TrafficSummary; edges: EdgeTrafficSummary[]; customers: CustomerTrafficSummary[] } {
    const seconds = to - from + 1;
    const byEdge = new Map<string, Counts>();
    const byCustomer = new Map<string, Counts>();
    for (let s = from; s <= to; s += 1) {
      const bucket = this.#seconds.get(s);
      if (bucket === undefined) continue;
      for (const [edgeId, counts] of bucket.edges) addInto(byEdge, edgeId, counts);
      for (const [customerId, perEdge] of bucket.customers) for (const counts of perEdge.values()) addInto(byCustomer, customerId, counts);
    }
    const customers: CustomerTrafficSummary[] = [];
    for (const [customerId, counts] of byCustomer) {
      if (counts[REQUESTS]! > 0) customers.push({ customerId, ...summary(counts, seconds) });
    }
    return { ...summarise(byEdge, seconds), customers };
  }
}

function addDelta(counts: Counts, delta: CustomerStatsDelta): void {
  const r = delta.results;
  counts[REQUESTS]! += delta.requests;
  counts[HITS]! += (r.HIT ?? 0) + (r.STALE ?? 0) + (r.REVALIDATED ?? 0);
  counts[MISSES]! += r.MISS ?? 0;
  counts[SERVER_ERRORS]! += delta.serverErrors;
  counts[BYTES]! += delta.bytesSent;
  for (let i = 0; i < LATENCY_BUCKETS; i += 1) counts[LATENCY + i]! += delta.originLatencyBuckets[i] ?? 0;
}

function addInto(map: Map<string, Counts>, key: string, counts: Counts): void {
  let sum = map.get(key);
  if (sum === undefined) {
    sum = new Float64Array(WIDTH);
    map.set(key, sum);
  }
  for (let i = 0; i < WIDTH; i += 1) sum[i]! += counts[i]!;
}

function summarise(byEdge: Map<string, Counts>, seconds: number): { total: TrafficSummary; edges: EdgeTrafficSummary[] } {
  const total = new Float64Array(WIDTH);
  const edges: EdgeTrafficSummary[] = [];
  for (const edgeId of [...byEdge.keys()].sort()) {
    const counts = byEdge.get(edgeId)!;
    for (let i = 0; i < WIDTH; i += 1) total[i]! += counts[i]!;
    edges.push({ edgeId, ...summary(counts, seconds) });
  }
  return { total: summary(total, seconds), edges };
}

function summary(counts: Counts, seconds: number): TrafficSummary {
  const requests = counts[REQUESTS]!;
  const cacheable = counts[HITS]! + counts[MISSES]!;
  const latency = counts.subarray(LATENCY);
  return {
    requests,
    requestsPerSecond: requests / seconds,
    hitRatio: cacheable === 0 ? null : counts[HITS]! / cacheable,
    bytesPerSecond: counts[BYTES]! / seconds,
    originP50Ms: latencyPercentile(latency, 0.5),
    originP95Ms: latencyPercentile(latency, 0.95),
    errorRatio: requests === 0 ? 0 : counts[SERVER_ERRORS]! / requests,
  };
}

/**
 * The q-quantile (0 < q < 1) of merged latency bucket counts, interpolated linearly
 * inside its bucket (see the file's comment); null without any count.
 */
export function latencyPercentile(buckets: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let i = 0; i < buckets.length; i += 1) total += buckets[i]!;
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < buckets.length; i += 1) {
    const count = buckets[i]!;
    if (count > 0 && below + count >= rank) {
      const lower = i === 0 ? 0 : ORIGIN_LATENCY_BUCKETS_MS[i - 1]!;
      const upper = ORIGIN_LATENCY_BUCKETS_MS[i];
      if (upper === undefined) return lower;
      return lower + ((upper - lower) * (rank - below)) / count;
    }
    below += count;
  }
  return ORIGIN_LATENCY_BUCKETS_MS[ORIGIN_LATENCY_BUCKETS_MS.length - 1]!;
}
