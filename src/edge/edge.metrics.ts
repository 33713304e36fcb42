/**
 * The edge's metric catalog, declared once (name, help, labels, unit in the name), on
 * its own Registry. Labels carry customer ids only: never paths or client-sent hosts,
 * so cardinality stays bounded by the number of customers. Requests that match no
 * customer count under UNKNOWN_CUSTOMER.
 *
 * The families labelled by customer live in stats/customer.series.ts (one Float64Array row
 * per customer, rendered to text directly: 10,000 customers scrape in well under a second)
 * and are counted through one CustomerMeter per customer (stats/customer.meter.ts), which
 * also accumulates the customer's stats delta for the stats channel. The per-edge ones are
 * prom-client metrics. The registry's metrics() renders both.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CacheStats } from './cache/cache-store.port';
import { CustomerMeter, StatsRecorder } from './stats/customer.meter';
import { CustomerSeriesTable, ORIGIN_DURATION_BUCKETS, renderCustomerFamilies, type RowSnapshot, type StoredByCustomer } from './stats/customer.series';

// Label values, defined beside the rows that are laid out by them.
export { CACHE_RESULTS, ORIGIN_ERROR_KINDS, STATUS_CLASSES } from './stats/customer.series';

export const UNKNOWN_CUSTOMER = '_unknown';

/** Values of the `cache` label (the X-Cache values, plus NONE and ERROR); `status` is the class, 1xx … 5xx. */
export type CacheResult = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED' | 'BYPASS' | 'ERROR' | 'NONE';

/** Values of the `kind` label of origin errors. */
export type OriginErrorKind = 'timeout' | 'refused' | 'reset' | '5xx' | 'forbidden_address' | 'other';

// Gauges say how to combine cluster workers (prom-client's AggregatorRegistry; counters and
// histograms add up). Figures read from the disk index every worker shares take the max
// (the per-customer families are combined the same way by edge/cluster).
export const EDGE_METRICS = {
  requests: { name: 'cdn_edge_requests_total', help: 'Client requests answered, by customer, cache result and status class', labelNames: ['customer', 'cache', 'status'] },
  responseBytes: { name: 'cdn_edge_response_bytes_total', help: 'Body bytes sent to clients, by customer', labelNames: ['customer'] },
  originDuration: {
    name: 'cdn_edge_origin_request_duration_seconds',
    help: 'Time from sending a request to the origin to receiving its response headers (responses only, errors excluded)',
    labelNames: ['customer'],
    buckets: ORIGIN_DURATION_BUCKETS,
  },
  originErrors: {
    name: 'cdn_edge_origin_errors_total',
    help: 'Origin requests that failed, by customer and kind (timeout, refused, reset, 5xx answer, forbidden_address: refused by the SSRF guard, other)',
    labelNames: ['customer', 'kind'],
  },
  cacheObjects: { name: 'cdn_edge_cache_objects', help: 'Objects stored in this edge\'s disk cache, by customer', labelNames: ['customer'], aggregator: 'max' },
  cacheBytes: { name: 'cdn_edge_cache_bytes', help: 'Body bytes stored in this edge\'s disk cache, by customer', labelNames: ['customer'], aggregator: 'max' },
  evictions: { name: 'cdn_edge_evictions_total', help: 'Objects evicted from the disk cache to make room (customer quota or global cap), by customer', labelNames: ['customer'] },
  collapsed: {
    name: 'cdn_edge_collapsed_requests_total',
    help: 'Client requests that joined another request\'s origin fetch instead of asking the origin (request collapsing)',
    labelNames: ['customer'],
  },
  appliedSeq: { name: 'cdn_edge_applied_seq', help: 'Seq of the last configuration change this edge applied', aggregator: 'min' },
  customers: { name: 'cdn_edge_customers', help: 'Customers this edge currently serves', aggregator: 'max' },
  busLag: { name: 'cdn_edge_bus_lag_seq', help: 'Changes the change bus holds beyond the last one this edge applied (as of the last read)', aggregator: 'max' },
  purgeApply: {
    name: 'cdn_edge_purge_apply_seconds',
    help: 'Time to apply the purges of one change-bus read (recorded and in effect on this edge)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  },
  purgeLag: {
    name: 'cdn_edge_purge_lag_seconds',
    help: 'Time from a purge\'s request at the api to its taking effect on this edge',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  },
  lurkerBacklog: { name: 'cdn_edge_lurker_backlog', help: 'Prefix, tag and whole-customer bans not yet retired by the lurker', aggregator: 'max' },
} as const;

/** The cluster primary's own metrics, served beside the workers' aggregated ones. */
export const EDGE_PRIMARY_METRICS = {
  workers: { name: 'cdn_edge_workers', help: 'Worker processes of this edge currently alive' },
  workerRestarts: { name: 'cdn_edge_worker_restarts_total', help: 'Worker processes restarted after an unexpected exit' },
} as const;

/** What the collect-time gauges read; absent sources report 0 (or no series). */
export interface EdgeMetricsSources {
  appliedSeq(): number;
  customers(): number;
  busLag?(): number;
  lurkerBacklog?(): number;
  cacheStats?(): CacheStats | undefined;
}

/** What a cluster worker sends its primary for the per-customer families. */
export interface CustomerSeriesSnapshot {
  rows: RowSnapshot;
  stored: StoredByCustomer;
}

/** A Registry whose text also holds the per-customer families (not in its JSON: see edge/cluster). */
class EdgeRegistry extends Registry {
  readonly #extra: () => Promise<string>;

  constructor(extra: () => Promise<string>) {
    super();
    this.#extra = extra;
  }

  override async metrics(): Promise<string> {
    return `${await super.metrics()}\n${await this.#extra()}`;
  }
}

export class EdgeMetrics {
  readonly registry: Registry;
  readonly purgeApply: Histogram;
  readonly purgeLag: Histogram;
  /** Per-customer deltas for the stats channel (drained by the stats reporter). */
  readonly recorder = new StatsRecorder();
  readonly #series = new CustomerSeriesTable();
  readonly #sources: EdgeMetricsSources;
  /** One meter per customer seen (bounded by the customers; deleted ones are forgotten). */
  readonly #meters = new Map<string, CustomerMeter>();

  constructor(sources: EdgeMetricsSources) {
    this.#sources = sources;
    this.registry = new EdgeRegistry(() => renderCustomerFamilies(EDGE_METRICS, this.#series.values(), this.#stored()));
    const registers = [this.registry];
    const m = EDGE_METRICS;
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ ...m.appliedSeq, registers, collect() { this.set(sources.appliedSeq()); } });
    new Gauge({ ...m.customers, registers, collect() { this.set(sources.customers()); } });
    new Gauge({ ...m.busLag, registers, collect() { this.set(sources.busLag?.() ?? 0); } });
    new Gauge({ ...m.lurkerBacklog, registers, collect() { this.set(sources.lurkerBacklog?.() ?? 0); } });
    this.purgeApply = new Histogram({ ...m.purgeApply, buckets: [...m.purgeApply.buckets], registers });
    this.purgeLag = new Histogram({ ...m.purgeLag, buckets: [...m.purgeLag.buckets], registers });
  }

  /** The customer's meter (UNKNOWN_CUSTOMER: counted in the metrics, never in stats). */
  meter(customerId: string): CustomerMeter {
    let meter = this.#meters.get(customerId);
    if (meter === undefined) {
      meter = new CustomerMeter(this.#series.row(customerId), customerId === UNKNOWN_CUSTOMER ? undefined : this.recorder);
      this.#meters.set(customerId, meter);
    }
    return meter;
  }

  evicted(customerId: string): void {
    this.meter(customerId).evicted();
  }

  /** A deleted customer: its series leave the scrape and its meter is dropped. */
  forgetCustomer(customerId: string): void {
    this.#meters.delete(customerId);
    this.#series.remove(customerId);
  }

  /** The per-customer families as plain numbers (a cluster worker's answer to its primary). */
  customerSeries(): CustomerSeriesSnapshot {
    return { rows: this.#series.snapshot(), stored: this.#stored() ?? {} };
  }

  #stored(): StoredByCustomer | undefined {
    return this.#sources.cacheStats?.()?.customers;
  }
}

export class EdgePrimaryMetrics {
  readonly registry = new Registry();
  readonly workerRestarts: Counter;

  constructor(sources: { workers(): number }) {
    const registers = [this.registry];
    new Gauge({ ...EDGE_PRIMARY_METRICS.workers, registers, collect() { this.set(sources.workers()); } });
    this.workerRestarts = new Counter({ ...EDGE_PRIMARY_METRICS.workerRestarts, registers });
  }
}
