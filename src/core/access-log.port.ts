/**
 * The access log channel (issue 16, docs/EDGE.md "Access logs"): the live tail of one
 * customer's requests. Edges publish log records only for the customers someone tails, so a
 * fleet nobody watches sends nothing: the api marks a tailed customer with an interest that
 * expires unless renewed (`markTailed`, every second while a subscription lasts), every edge
 * process reads the tailed set once a second (`tailed`), and publishes at most N records per
 * customer per second with the count of those it skipped (`publish`, one batch per edge process
 * per second). Every api process reads every batch (`read`) and filters per subscription.
 *
 * One contract, two implementations (Redis: a sorted set and a stream; in-process for
 * `cdn start` without REDIS_URL); one contract suite runs against both
 * (test/integration/access-log.contract.test.ts).
 */

/** The X-Cache values and the edge's own ERROR and NONE, as the request metrics count them. */
export const ACCESS_LOG_CACHE_RESULTS = ['HIT', 'MISS', 'STALE', 'REVALIDATED', 'BYPASS', 'ERROR', 'NONE'] as const;
export type AccessLogCacheResult = (typeof ACCESS_LOG_CACHE_RESULTS)[number];

/**
 * One client request, as written to the export files (one JSON line) and sent to tails. Every
 * string a client chose (path, host, user agent, referer) is bounded in length; the line
 * writer escapes control characters. Optional fields are left out when they do not apply.
 */
export interface AccessLogRecord {
  /** When the answer ended (ISO, ms, UTC). */
  time: string;
  /** The edge process (`<CDN_EDGE_ID>` or `<CDN_EDGE_ID>#<n>`). */
  edge: string;
  customer: string;
  /** The client's address as the socket reports it (IPv4-mapped IPv6 as IPv4); '' when gone. */
  client: string;
  method: string;
  /** The normalised Host (or h2 :authority). */
  host: string;
  /** The path without the query (a query may carry tokens or signatures). */
  path: string;
  status: number;
  /** Body bytes sent. */
  bytes: number;
  cache: AccessLogCacheResult;
  /** Time to the origin's response headers, when this request asked the origin (ms). */
  originMs?: number;
  /** Request time: the request's arrival to the end of its answer (ms, 3 decimals). */
  ms: number;
  /** `http` (HTTP/1.x), `https` (HTTP/1.x over TLS), `h2`. */
  transport: 'http' | 'https' | 'h2';
  /** TLS version (`TLSv1.3`) and ALPN protocol (`h2`, `http/1.1`) when over TLS. */
  tls?: string;
  alpn?: string;
  ua?: string;
  referer?: string;
  /** The client left before the answer ended. */
  aborted?: true;
}

/** One customer's records from one edge process in one second, and how many it did not send. */
export interface AccessLogSlice {
  customerId: string;
  records: AccessLogRecord[];
  /** Requests of that second beyond the per-second limit: answered, not sent (sampled under load). */
  skipped: number;
}

/** What one edge process publishes per second (only when a tailed customer had requests). */
export interface AccessLogBatch {
  edgeId: string;
  /** ISO time the second ended (the edge's clock). */
  at: string;
  customers: AccessLogSlice[];
}

export interface AccessLogReadOptions {
  blockMs: number;
  count?: number;
}

export interface AccessLogChannel {
  /** The api: these customers are tailed for the next `ttlMs` (renewing extends, never shortens). */
  markTailed(customerIds: readonly string[], ttlMs: number): Promise<void>;
  /** An edge: the customers tailed now. */
  tailed(): Promise<string[]>;
  /** An edge: appends one batch; the channel keeps a bounded number of them. */
  publish(batch: AccessLogBatch): Promise<void>;
  /**
   * Batches appended after `cursor` (opaque; '$' for only new ones), waiting up to blockMs
   * for the first. Returns the cursor to pass next.
   */
  read(cursor: string, options: AccessLogReadOptions): Promise<{ cursor: string; batches: AccessLogBatch[] }>;
  /** Stops pending reads (they answer with no batches) and releases connections. */
  close(): Promise<void>;
}

/** What a tail keeps (every field optional: none keeps every record). */
export interface AccessLogFilter {
  /** Status classes, 1 … 5 (4 = 4xx). */
  statusClasses?: readonly number[];
  /** Exact status codes (with classes too: either matches). */
  statuses?: readonly number[];
  /** The path starts with this. */
  pathPrefix?: string;
  cacheResults?: readonly AccessLogCacheResult[];
}

export function matchesAccessLogFilter(record: AccessLogRecord, filter: AccessLogFilter): boolean {
  const classes = filter.statusClasses ?? [];
  const codes = filter.statuses ?? [];
  if (classes.length > 0 || codes.length > 0) {
    if (!classes.includes(Math.floor(record.status / 100)) && !codes.includes(record.status)) return false;
  }
  if (filter.pathPrefix !== undefined && filter.pathPrefix !== '' && !record.path.startsWith(filter.pathPrefix)) return false;
  const results = filter.cacheResults ?? [];
  return results.length === 0 || results.includes(record.cache);
}

/** Why `value` is not an AccessLogBatch, or null when it is one (checked on publish and on read). */
export function accessLogBatchProblem(value: unknown): string | null {
  if (!isRecord(value)) return 'not an object';
  if (typeof value['edgeId'] !== 'string' || value['edgeId'] === '') return '"edgeId" must be a non-empty string';
  if (typeof value['at'] !== 'string' || !Number.isFinite(Date.parse(value['at']))) return '"at" must be an ISO time';
  const customers = value['customers'];
  if (!Array.isArray(customers)) return '"customers" must be an array';
  for (const [i, slice] of customers.entries()) {
    if (!isRecord(slice)) return `customers[${i}]: not an object`;
    if (typeof slice['customerId'] !== 'string' || slice['customerId'] === '') return `customers[${i}]: "customerId" must be a non-empty string`;
    if (!Number.isSafeInteger(slice['skipped']) || (slice['skipped'] as number) < 0) return `customers[${i}]: "skipped" must be a whole number of at least 0`;
    const records = slice['records'];
    if (!Array.isArray(records)) return `customers[${i}]: "records" must be an array`;
    for (const [j, r] of records.entries()) {
      if (!isRecord(r) || r['customer'] !== slice['customerId'] || typeof r['path'] !== 'string' || !Number.isInteger(r['status']) || typeof r['time'] !== 'string') {
        return `customers[${i}].records[${j}]: not a record of that customer`;
      }
    }
  }
  return null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
