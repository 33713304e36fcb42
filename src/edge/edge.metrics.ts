/**
 * The edge's metric catalog, declared once (name, help, labels, unit in the name), on
 * its own Registry. Labels carry customer ids only: never paths or client-sent hosts,
 * so cardinality stays bounded by the number of customers. Requests that match no
 * customer count under UNKNOWN_CUSTOMER.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const UNKNOWN_CUSTOMER = '_unknown';

/** Values of the `cache` label (DESIGN.md X-Cache values, plus NONE and ERROR). */
export type CacheResult = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED' | 'BYPASS' | 'ERROR' | 'NONE';

export const EDGE_METRICS = {
  requests: { name: 'cdn_edge_requests_total', help: 'Client requests answered, by customer and cache result', labelNames: ['customer', 'cache'] },
  responseBytes: { name: 'cdn_edge_response_bytes_total', help: 'Body bytes sent to clients, by customer', labelNames: ['customer'] },
  originDuration: {
    name: 'cdn_edge_origin_request_duration_seconds',
    help: 'Time from sending a request to the origin to receiving its response headers',
    labelNames: ['customer'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  },
  // Gauges say how to combine cluster workers (prom-client's AggregatorRegistry; counters and histograms add up).
  appliedSeq: { name: 'cdn_edge_applied_seq', help: 'Seq of the last configuration change this edge applied', aggregator: 'min' },
  customers: { name: 'cdn_edge_customers', help: 'Customers this edge currently serves', aggregator: 'max' },
} as const;

/** The cluster primary's own metrics, served beside the workers' aggregated ones. */
export const EDGE_PRIMARY_METRICS = {
  workers: { name: 'cdn_edge_workers', help: 'Worker processes of this edge currently alive' },
  workerRestarts: { name: 'cdn_edge_worker_restarts_total', help: 'Worker processes restarted after an unexpected exit' },
} as const;

export interface EdgeMetricsSources {
  appliedSeq(): number;
  customers(): number;
}

export class EdgeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'customer' | 'cache'>;
  readonly responseBytes: Counter<'customer'>;
  readonly originDuration: Histogram<'customer'>;
  /** Per customer, the labelled children a hit increments (no label hashing on the hit lane). */
  readonly #hits = new Map<string, { requests: { inc(value?: number): void }; bytes: { inc(value?: number): void } }>();

  constructor(sources: EdgeMetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({ ...EDGE_METRICS.requests, labelNames: [...EDGE_METRICS.requests.labelNames], registers });
    this.responseBytes = new Counter({ ...EDGE_METRICS.responseBytes, labelNames: [...EDGE_METRICS.responseBytes.labelNames], registers });
    this.originDuration = new Histogram({
      ...EDGE_METRICS.originDuration,
      labelNames: [...EDGE_METRICS.originDuration.labelNames],
      buckets: [...EDGE_METRICS.originDuration.buckets],
      registers,
    });
    new Gauge({ ...EDGE_METRICS.appliedSeq, registers, collect() { this.set(sources.appliedSeq()); } });
    new Gauge({ ...EDGE_METRICS.customers, registers, collect() { this.set(sources.customers()); } });
  }

  /** `requests{customer, cache="HIT"}` and `responseBytes{customer}`, resolved once per customer. */
  hitCounters(customer: string): { requests: { inc(value?: number): void }; bytes: { inc(value?: number): void } } {
    let counters = this.#hits.get(customer);
    if (counters === undefined) {
      counters = { requests: this.requests.labels({ customer, cache: 'HIT' }), bytes: this.responseBytes.labels({ customer }) };
      this.#hits.set(customer, counters);
    }
    return counters;
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
