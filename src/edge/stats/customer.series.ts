/**
 * The per-customer families of the edge catalog (requests, bytes, origin latency histogram,
 * origin errors, collapsed requests, evictions, requests by protocol, stored objects and bytes), kept as one
 * Float64Array row per customer and rendered to Prometheus text directly.
 *
 * Why not prom-client's labelled metrics: with 10,000 customers these families hold about
 * 250,000 series, and prom-client builds a labels object and a formatted line per series
 * per scrape (and the cluster primary re-hashes every label set of every worker): seconds
 * per scrape (bench/scrape.js). A row is counted with `v[i] += n` (the hit lane hashes
 * nothing), renders as plain string concatenation, and sums across cluster workers as
 * plain arrays. The rest of the catalog stays in prom-client.
 */
import {
  CACHE_RESULTS,
  ORIGIN_DURATION_BUCKETS,
  ORIGIN_ERROR_KINDS,
  STATUS_CLASSES,
  TRANSPORTS,
  type CacheResult,
  type EDGE_METRICS,
  type OriginErrorKind,
  type Transport,
} from '../metrics.catalog';

const CACHES = CACHE_RESULTS;
const STATUSES = STATUS_CLASSES;
const KINDS = ORIGIN_ERROR_KINDS;
const BUCKETS = ORIGIN_DURATION_BUCKETS;

/** Offsets in a row. */
export const ROW = {
  /** requests{cache, status}: cache index * 5 + status class index. */
  requests: 0,
  bytes: CACHES.length * STATUSES.length,
  /** Non-cumulative counts per bucket, the last one past every bound (+Inf). */
  durationBuckets: CACHES.length * STATUSES.length + 1,
  durationSum: CACHES.length * STATUSES.length + 2 + BUCKETS.length,
  durationCount: CACHES.length * STATUSES.length + 3 + BUCKETS.length,
  errors: CACHES.length * STATUSES.length + 4 + BUCKETS.length,
  collapsed: CACHES.length * STATUSES.length + 4 + BUCKETS.length + KINDS.length,
  evictions: CACHES.length * STATUSES.length + 5 + BUCKETS.length + KINDS.length,
  /** requests_by_protocol{protocol, scheme}: TRANSPORTS' order. */
  transports: CACHES.length * STATUSES.length + 6 + BUCKETS.length + KINDS.length,
  size: CACHES.length * STATUSES.length + 6 + BUCKETS.length + KINDS.length + TRANSPORTS.length,
} as const;

export const STATUS_CLASS_COUNT = STATUSES.length;
export const CACHE_INDEX: Readonly<Record<CacheResult, number>> = { HIT: 0, MISS: 1, STALE: 2, REVALIDATED: 3, BYPASS: 4, ERROR: 5, NONE: 6 };
export const KIND_INDEX: Readonly<Record<OriginErrorKind, number>> = { timeout: 0, refused: 1, reset: 2, '5xx': 3, forbidden_address: 4, other: 5 };
export const TRANSPORT_INDEX: Readonly<Record<Transport, number>> = { http: 0, https: 1, h2: 2 };

export class CustomerRow {
  readonly customerId: string;
  readonly v = new Float64Array(ROW.size);

  constructor(customerId: string) {
    this.customerId = customerId;
  }

  observeDuration(seconds: number): void {
    let b = 0;
    while (b < BUCKETS.length && seconds > BUCKETS[b]!) b += 1;
    this.v[ROW.durationBuckets + b]! += 1;
    this.v[ROW.durationSum]! += seconds;
    this.v[ROW.durationCount]! += 1;
  }
}

/** Rows as they travel from a cluster worker to the primary: [customerId, row values]. */
export type RowSnapshot = Array<[string, number[]]>;
/** Stored objects and bytes per customer (the disk index's accounts). */
export type StoredByCustomer = Record<string, { objects: number; bytes: number }>;

/** One process's rows, one per customer counted (a deleted customer's row is dropped). */
export class CustomerSeriesTable {
  readonly #rows = new Map<string, CustomerRow>();

  row(customerId: string): CustomerRow {
    let row = this.#rows.get(customerId);
    if (row === undefined) {
      row = new CustomerRow(customerId);
      this.#rows.set(customerId, row);
    }
    return row;
  }

  remove(customerId: string): void {
    this.#rows.delete(customerId);
  }

  snapshot(): RowSnapshot {
    return [...this.#rows.values()].map((r) => [r.customerId, Array.from(r.v)]);
  }

  values(): Iterable<[string, ArrayLike<number>]> {
    return [...this.#rows.values()].map((r) => [r.customerId, r.v] as [string, ArrayLike<number>]);
  }
}

/** Several workers' rows summed per customer. */
export function sumRows(parts: readonly RowSnapshot[]): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const part of parts) {
    for (const [customerId, values] of part) {
      let sum = out.get(customerId);
      if (sum === undefined) {
        sum = new Float64Array(ROW.size);
        out.set(customerId, sum);
      }
      const n = Math.min(values.length, ROW.size);
      for (let i = 0; i < n; i += 1) sum[i]! += values[i]!;
    }
  }
  return out;
}

/** Several workers' stored figures: they read one shared index, so the largest is current. */
export function maxStored(parts: readonly StoredByCustomer[]): StoredByCustomer {
  const out: StoredByCustomer = {};
  for (const part of parts) {
    for (const customerId in part) {
      const s = part[customerId]!;
      const cur = out[customerId];
      out[customerId] = cur === undefined ? { objects: s.objects, bytes: s.bytes } : { objects: Math.max(cur.objects, s.objects), bytes: Math.max(cur.bytes, s.bytes) };
    }
  }
  return out;
}

/** Customers rendered per event-loop turn: a scrape of thousands never stalls requests for long. */
const CUSTOMERS_PER_TURN = 500;

/**
 * The per-customer families as Prometheus text (format 0.0.4), blocks separated by a blank
 * line like prom-client's. A series appears once counted (counters) or observed (the
 * histogram), as prom-client's labelled children would. Yields to the event loop every
 * CUSTOMERS_PER_TURN customers.
 */
export async function renderCustomerFamilies(
  m: typeof EDGE_METRICS,
  rows: Iterable<[string, ArrayLike<number>]>,
  stored: StoredByCustomer | undefined,
): Promise<string> {
  const requests = new Lines(header(m.requests.name, m.requests.help, 'counter'));
  const bytes = new Lines(header(m.responseBytes.name, m.responseBytes.help, 'counter'));
  const duration = new Lines(header(m.originDuration.name, m.originDuration.help, 'histogram'));
  const errors = new Lines(header(m.originErrors.name, m.originErrors.help, 'counter'));
  const collapsed = new Lines(header(m.collapsed.name, m.collapsed.help, 'counter'));
  const evictions = new Lines(header(m.evictions.name, m.evictions.help, 'counter'));
  const byProtocol = new Lines(header(m.protocolRequests.name, m.protocolRequests.help, 'counter'));
  const bucketLabels = BUCKETS.map((b) => `",le="${b}"} `);
  const transportLabels = TRANSPORTS.map((t) => `",protocol="${t.protocol}",scheme="${t.scheme}"} `);
  const families = [requests, bytes, duration, errors, collapsed, evictions, byProtocol];
  let done = 0;
  for (const [customerId, v] of rows) {
    if (++done % CUSTOMERS_PER_TURN === 0) {
      for (const f of families) f.seal();
      await nextTurn();
    }
    const label = `{customer="${escapeLabel(customerId)}`;
    for (let c = 0; c < CACHES.length; c += 1) {
      for (let s = 0; s < STATUSES.length; s += 1) {
        const n = v[ROW.requests + c * STATUSES.length + s]!;
        if (n > 0) requests.push(`${m.requests.name}${label}",cache="${CACHES[c]}",status="${STATUSES[s]}"} ${n}`);
      }
    }
    if (v[ROW.bytes]! > 0) bytes.push(`${m.responseBytes.name}${label}"} ${v[ROW.bytes]}`);
    const count = v[ROW.durationCount]!;
    if (count > 0) {
      let cumulative = 0;
      for (let b = 0; b < BUCKETS.length; b += 1) {
        cumulative += v[ROW.durationBuckets + b]!;
        duration.push(`${m.originDuration.name}_bucket${label}${bucketLabels[b]}${cumulative}`);
      }
      duration.push(`${m.originDuration.name}_bucket${label}",le="+Inf"} ${count}`);
      duration.push(`${m.originDuration.name}_sum${label}"} ${v[ROW.durationSum]}`);
      duration.push(`${m.originDuration.name}_count${label}"} ${count}`);
    }
    for (let k = 0; k < KINDS.length; k += 1) {
      const n = v[ROW.errors + k]!;
      if (n > 0) errors.push(`${m.originErrors.name}${label}",kind="${KINDS[k]}"} ${n}`);
    }
    if (v[ROW.collapsed]! > 0) collapsed.push(`${m.collapsed.name}${label}"} ${v[ROW.collapsed]}`);
    if (v[ROW.evictions]! > 0) evictions.push(`${m.evictions.name}${label}"} ${v[ROW.evictions]}`);
    for (let t = 0; t < TRANSPORTS.length; t += 1) {
      const n = v[ROW.transports + t]!;
      if (n > 0) byProtocol.push(`${m.protocolRequests.name}${label}${transportLabels[t]}${n}`);
    }
  }
  const objects = new Lines(header(m.cacheObjects.name, m.cacheObjects.help, 'gauge'));
  const storedBytes = new Lines(header(m.cacheBytes.name, m.cacheBytes.help, 'gauge'));
  for (const customerId in stored ?? {}) {
    if (++done % CUSTOMERS_PER_TURN === 0) {
      objects.seal();
      storedBytes.seal();
      await nextTurn();
    }
    const s = stored![customerId]!;
    const label = `{customer="${escapeLabel(customerId)}"} `;
    objects.push(`${m.cacheObjects.name}${label}${s.objects}`);
    storedBytes.push(`${m.cacheBytes.name}${label}${s.bytes}`);
  }
  return [...families, objects, storedBytes].map((f) => f.text()).join('\n\n') + '\n';
}

/** One family's lines, joined a turn's worth at a time (one join of 150,000 lines would stall the loop). */
class Lines {
  readonly #chunks: string[] = [];
  #lines: string[];

  constructor(header: string) {
    this.#lines = [header];
  }

  push(line: string): void {
    this.#lines.push(line);
  }

  seal(): void {
    if (this.#lines.length === 0) return;
    this.#chunks.push(this.#lines.join('\n'));
    this.#lines = [];
  }

  text(): string {
    this.seal();
    return this.#chunks.join('\n');
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}`;
}

/** Prometheus text: backslash, double quote and newline escaped in label values. */
function escapeLabel(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value;
}
