/**
 * The stats channel: every edge process publishes, once per interval (a second by default),
 * what it answered per customer during that interval; every api process reads all of them,
 * so a subscriber on any api sees the traffic of every edge. Entries are kept for a bounded
 * time (minutes) so a dashboard can draw the recent past before live events arrive.
 *
 * One contract, two implementations (Redis stream, and in-process for `cdn start` without
 * REDIS_URL); one contract suite runs against both.
 */

/** Cache results counted in stats (the X-Cache values). */
export const STATS_CACHE_RESULTS = ['HIT', 'MISS', 'STALE', 'REVALIDATED', 'BYPASS'] as const;
export type StatsCacheResult = (typeof STATS_CACHE_RESULTS)[number];

/**
 * Upper bounds (ms, inclusive) of the origin-latency buckets. Edges count each origin
 * response in the first bucket whose bound is >= its time to headers; the last bucket
 * (index = length) counts everything slower. Fixed here so the api can merge the buckets
 * of every edge and compute p50/p95 of the whole fleet.
 */
export const ORIGIN_LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

/** One customer's traffic on one edge process during one interval. */
export interface CustomerStatsDelta {
  customerId: string;
  /** Client requests answered (every cache result, errors included). */
  requests: number;
  /** Requests per cache result; results with zero may be left out. */
  results: Partial<Record<StatsCacheResult, number>>;
  /** Answers with status 5xx (edge- or origin-made). */
  serverErrors: number;
  /** Body bytes sent to clients. */
  bytesSent: number;
  /** Requests sent to the origin that got response headers. */
  originResponses: number;
  /** Origin requests that failed: timeout, refused, reset, or a 5xx answer. */
  originErrors: number;
  /** ORIGIN_LATENCY_BUCKETS_MS.length + 1 counts (the last: slower than every bound). */
  originLatencyBuckets: number[];
  /**
   * Set in the first report after a minute ended: that minute's top paths on this edge
   * process (a Space-Saving summary, core/top-k.ts) and its exact counts per status code.
   * Absent from edges older than issue 16, and with CDN_EDGE_TOP_URLS=0.
   */
  top?: MinuteTop;
}

/** One customer's busiest paths and its status codes during one minute on one edge process. */
export interface MinuteTop {
  /** ISO start of the minute (UTC, whole minute). */
  minute: string;
  /** The requests counted in the summary (every request of the minute). */
  requests: number;
  /** Highest count first; `count - error <= true count <= count` (core/top-k.ts). */
  paths: Array<{ key: string; count: number; error: number }>;
  /** The smallest count kept when the summary was full (a path not listed had at most this many); 0 when it was not. */
  floor: number;
  /** Exact requests per status code. */
  statuses: Array<{ status: number; count: number }>;
}

/** At most this many paths in a MinuteTop, and paths at most this long (longer ones are cut, marked with "…"). */
export const MINUTE_TOP_PATHS_MAX = 1000;
export const TOP_PATH_MAX_CHARS = 512;

/** What one edge process publishes per interval. Customers without traffic are left out. */
export interface EdgeStatsReport {
  /** The fleet's edge id (`<CDN_EDGE_ID>` or `<CDN_EDGE_ID>#<n>` per cluster worker). */
  edgeId: string;
  /** ISO time the interval ended (the edge's clock). */
  at: string;
  /** The interval's length in ms. */
  intervalMs: number;
  customers: CustomerStatsDelta[];
}

export interface StatsReadOptions {
  blockMs: number;
  count?: number;
}

export interface StatsChannel {
  /** Appends one report; entries older than the channel's retention are dropped. */
  publish(report: EdgeStatsReport): Promise<void>;
  /**
   * Reports appended after `cursor` (an opaque string; '$' for only new ones), waiting up to
   * blockMs for the first. Returns the cursor to pass next.
   */
  read(cursor: string, options: StatsReadOptions): Promise<{ cursor: string; reports: EdgeStatsReport[] }>;
  /** Reports appended at or after `sinceMs` (epoch ms, by the channel's clock), oldest first. */
  since(sinceMs: number): Promise<EdgeStatsReport[]>;
  /** Stops pending reads (they answer with no reports) and releases connections. */
  close(): Promise<void>;
}
