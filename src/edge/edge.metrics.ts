/**
 * The edge's metrics (the catalog is metrics.catalog.ts: name, help, labels, unit in the
 * name), on its own Registry. Labels carry customer ids only: never paths or client-sent hosts,
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
import { EDGE_METRICS, EDGE_PRIMARY_METRICS, ENCODING_LABELS, UNKNOWN_CUSTOMER, type CacheResult, type OriginErrorKind, type RuleRefusalReason, type TlsFailureReason, RULE_REFUSAL_REASONS, WARM_OUTCOMES, type WarmOutcome } from './metrics.catalog';
import { CustomerSeriesTable, renderCustomerFamilies, type RowSnapshot, type StoredByCustomer } from './stats/customer.series';

export {
  CACHE_RESULTS,
  EDGE_METRICS,
  EDGE_PRIMARY_METRICS,
  ENCODING_LABELS,
  ORIGIN_ERROR_KINDS,
  STATUS_CLASSES,
  TLS_FAILURE_REASONS,
  TRANSPORTS,
  UNKNOWN_CUSTOMER,
  type CacheResult,
  type OriginErrorKind,
  type TlsFailureReason,
  type Transport,
} from './metrics.catalog';

/** What the collect-time gauges read; absent sources report 0 (or no series). */
export interface EdgeMetricsSources {
  appliedSeq(): number;
  customers(): number;
  busLag?(): number;
  lurkerBacklog?(): number;
  cacheStats?(): CacheStats | undefined;
  /** TLS contexts held (edge/tls/certificate-contexts.ts). */
  tlsContexts?(): number;
  /** Every origin breaker of this process (edge/origin/origin-health.ts). */
  originStates?(): Iterable<{ customer: string; origin: string; up: boolean }>;
  /** Access log lines written and dropped (edge/logs/access-log.files.ts). */
  accessLog?(): { written: number; dropped: number };
  /** CDN_EDGE_TOP_URLS: paths kept per customer per minute for the top paths (0: none). */
  topUrls?: number;
  /** The clock the top paths' minutes are read on (the edge's Clock; tests move it); Date.now by default. */
  now?(): number;
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
  /** What compression sent and saved (plain numbers: counted on the hit lane without hashing labels). */
  readonly compression = new CompressionMeter();
  readonly #tlsHandshakes: Counter<'version' | 'resumed'>;
  readonly #tlsFailures: Counter<'reason'>;
  readonly #ruleRefusals: Counter<'customer' | 'reason'>;
  readonly #warmRequests: Counter<'customer' | 'outcome'>;
  readonly #originRetries: Counter<'customer'>;
  readonly #shieldRequests: Counter<'outcome'>;
  readonly #shieldHops: Counter<'outcome'>;
  readonly #originQueueWait: Histogram<'customer'>;
  readonly #originQueueRejections: Counter<'customer'>;
  /** Per-customer deltas for the stats channel (drained by the stats reporter). */
  readonly recorder: StatsRecorder;
  readonly #series = new CustomerSeriesTable();
  readonly #sources: EdgeMetricsSources;
  /** One meter per customer seen (bounded by the customers; deleted ones are forgotten). */
  readonly #meters = new Map<string, CustomerMeter>();

  constructor(sources: EdgeMetricsSources) {
    this.#sources = sources;
    this.recorder = new StatsRecorder(sources.topUrls ?? 0, sources.now?.() ?? Date.now());
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
    this.#tlsHandshakes = new Counter({ ...m.tlsHandshakes, labelNames: [...m.tlsHandshakes.labelNames], registers });
    this.#tlsFailures = new Counter({ ...m.tlsHandshakeFailures, labelNames: [...m.tlsHandshakeFailures.labelNames], registers });
    this.#ruleRefusals = new Counter({ ...m.ruleRefusals, labelNames: [...m.ruleRefusals.labelNames], registers });
    this.#warmRequests = new Counter({ ...m.warmRequests, labelNames: [...m.warmRequests.labelNames], registers });
    new Gauge({ ...m.tlsContexts, registers, collect() { this.set(sources.tlsContexts?.() ?? 0); } });
    this.#originRetries = new Counter({ ...m.originRetries, labelNames: [...m.originRetries.labelNames], registers });
    this.#shieldRequests = new Counter({ ...m.shieldRequests, labelNames: [...m.shieldRequests.labelNames], registers });
    this.#shieldHops = new Counter({ ...m.shieldHops, labelNames: [...m.shieldHops.labelNames], registers });
    this.#originQueueWait = new Histogram({ ...m.originQueueWait, labelNames: [...m.originQueueWait.labelNames], buckets: [...m.originQueueWait.buckets], registers });
    this.#originQueueRejections = new Counter({ ...m.originQueueRejections, labelNames: [...m.originQueueRejections.labelNames], registers });
    new Gauge({
      ...m.originUp,
      labelNames: [...m.originUp.labelNames],
      registers,
      collect() {
        // Read at scrape time: a deleted customer's or a removed origin's series leave with it.
        this.reset();
        for (const s of sources.originStates?.() ?? []) this.set({ customer: s.customer, origin: s.origin }, s.up ? 1 : 0);
      },
    });
    const compression = this.compression;
    const perEncoding = (entry: { name: string; help: string; labelNames: readonly string[] }, slot: number): void => {
      new Counter({
        ...entry,
        labelNames: [...entry.labelNames],
        registers,
        collect() {
          this.reset();
          for (const encoding of ENCODING_LABELS) this.inc({ encoding }, compression.value(encoding, slot));
        },
      });
    };
    perEncoding(m.compressedResponses, SLOT.responses);
    perEncoding(m.compressedBytes, SLOT.bytes);
    perEncoding(m.compressionSavedBytes, SLOT.saved);
    perEncoding(m.compressions, SLOT.compressions);
    perEncoding(m.compressionSeconds, SLOT.seconds);
    for (const [entry, field] of [[m.accessLogLines, 'written'], [m.accessLogDropped, 'dropped']] as const) {
      new Counter({
        ...entry,
        registers,
        collect() {
          this.reset();
          this.inc(sources.accessLog?.()[field] ?? 0);
        },
      });
    }
    new Counter({
      ...m.decodedResponses,
      registers,
      collect() {
        this.reset();
        this.inc(compression.decodedAnswers);
      },
    });
  }

  /** A TLS handshake completed (`version` as the socket reports it: TLSv1.2 or TLSv1.3). */
  tlsHandshake(version: string | null, resumed: boolean): void {
    const v = version === 'TLSv1.2' || version === 'TLSv1.3' ? version : 'other';
    this.#tlsHandshakes.inc({ version: v, resumed: resumed ? 'true' : 'false' });
  }

  tlsHandshakeFailed(reason: TlsFailureReason): void {
    this.#tlsFailures.inc({ reason });
  }

  /** A request the customer's delivery rules refused (not the hot path: a labelled counter). */
  ruleRefused(customerId: string, reason: RuleRefusalReason): void {
    this.#ruleRefusals.inc({ customer: customerId, reason });
  }

  /** A miss this edge sent to an origin shield (edge/shield): answered there, or fell back to the origin. */
  shieldRequest(outcome: 'answered' | 'fallback'): void {
    this.#shieldRequests.inc({ outcome });
  }

  /** A request this shield received from another edge (edge/shield/shield-gate.ts). */
  shieldHop(outcome: 'served' | 'refused' | 'behind'): void {
    this.#shieldHops.inc({ outcome });
  }

  /** A cache warming request ended (edge/warm; a labelled counter: warms are few). */
  warmRequest(customerId: string, outcome: WarmOutcome): void {
    this.#warmRequests.inc({ customer: customerId, outcome });
  }

  /** An origin request sent again to another origin (origin.request.ts; labelled counters: failures are rare). */
  originRetry(customerId: string): void {
    this.#originRetries.inc({ customer: customerId });
  }

  /** An origin request waited `seconds` for a turn under its customer's cap. */
  originQueueWait(customerId: string, seconds: number): void {
    this.#originQueueWait.observe({ customer: customerId }, seconds);
  }

  /** A request refused because its customer's cap stayed full (503). */
  originQueueRejected(customerId: string): void {
    this.#originQueueRejections.inc({ customer: customerId });
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
    for (const reason of RULE_REFUSAL_REASONS) this.#ruleRefusals.remove({ customer: customerId, reason });
    for (const outcome of WARM_OUTCOMES) this.#warmRequests.remove({ customer: customerId, outcome });
    this.#originRetries.remove({ customer: customerId });
    this.#originQueueWait.remove({ customer: customerId });
    this.#originQueueRejections.remove({ customer: customerId });
  }

  /** The per-customer families as plain numbers (a cluster worker's answer to its primary). */
  customerSeries(): CustomerSeriesSnapshot {
    return { rows: this.#series.snapshot(), stored: this.#stored() ?? {} };
  }

  #stored(): StoredByCustomer | undefined {
    return this.#sources.cacheStats?.()?.customers;
  }
}

/** Offsets in a CompressionMeter row. */
const SLOT = { responses: 0, bytes: 1, saved: 2, compressions: 3, seconds: 4 } as const;

/**
 * The compression counters of one process (cdn_edge_compressed_* and friends): one row of
 * numbers per encoding, added to without allocating (the hit lane counts here), read by the
 * prom-client counters at scrape time.
 */
export class CompressionMeter {
  readonly #rows = { br: new Float64Array(5), gzip: new Float64Array(5) };
  decodedAnswers = 0;

  /** An answer sent with the edge's `coding`: `sent` body bytes, where the identity had `identity`. */
  sent(coding: 'br' | 'gzip', sent: number, identity: number): void {
    const row = this.#rows[coding];
    row[SLOT.responses]! += 1;
    row[SLOT.bytes]! += sent;
    row[SLOT.saved]! += identity - sent;
  }

  /** An encoded copy made (or found useless) in `seconds` of thread-pool time. */
  encoded(coding: 'br' | 'gzip', seconds: number): void {
    const row = this.#rows[coding];
    row[SLOT.compressions]! += 1;
    row[SLOT.seconds]! += seconds;
  }

  /** An origin-encoded answer decoded for its client. */
  decoded(): void {
    this.decodedAnswers += 1;
  }

  value(coding: 'br' | 'gzip', slot: number): number {
    return this.#rows[coding][slot]!;
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
