/**
 * The edge's metric vocabulary, declared once: names, help, labels and the values labels
 * take (customer ids only: never paths or client-sent hosts, so cardinality stays bounded by
 * the number of customers). edge.metrics.ts registers and renders them; stats/ lays out the
 * per-customer rows by the same label values. A module of its own so neither imports the other.
 */

/** Requests that match no customer count under this id. */
export const UNKNOWN_CUSTOMER = '_unknown';

/** Values of the `cache` label (the X-Cache values, plus NONE and ERROR); `status` is the class, 1xx … 5xx. */
export type CacheResult = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED' | 'BYPASS' | 'ERROR' | 'NONE';

/** Values of the `kind` label of origin errors. */
export type OriginErrorKind = 'timeout' | 'refused' | 'reset' | '5xx' | 'forbidden_address' | 'other';

/** Label values in the order the per-customer rows lay them out (stats/customer.series.ts). */
export const CACHE_RESULTS: readonly CacheResult[] = ['HIT', 'MISS', 'STALE', 'REVALIDATED', 'BYPASS', 'ERROR', 'NONE'];
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export const ORIGIN_ERROR_KINDS: readonly OriginErrorKind[] = ['timeout', 'refused', 'reset', '5xx', 'forbidden_address', 'other'];

/**
 * How a request arrived: plain HTTP/1.x (`http`), HTTP/1.x over TLS (`https`), HTTP/2 (`h2`,
 * over TLS only: the edge speaks no cleartext h2). Rendered as the `protocol` and `scheme`
 * labels of cdn_edge_requests_by_protocol_total, in this order.
 */
export type Transport = 'http' | 'https' | 'h2';
export const TRANSPORTS: readonly { transport: Transport; protocol: 'h1' | 'h2'; scheme: 'http' | 'https' }[] = [
  { transport: 'http', protocol: 'h1', scheme: 'http' },
  { transport: 'https', protocol: 'h1', scheme: 'https' },
  { transport: 'h2', protocol: 'h2', scheme: 'https' },
];

/**
 * Values of the `reason` label of TLS handshake failures (edge/tls/handshake-failures.ts):
 * a fixed set, whatever the client sends (a server name it asked for is never a label).
 */
export const TLS_FAILURE_REASONS = ['unknown_sni', 'no_sni', 'protocol_version', 'no_shared_cipher', 'timeout', 'reset', 'other'] as const;
export type TlsFailureReason = (typeof TLS_FAILURE_REASONS)[number];

/** Values of the `reason` label of delivery-rule refusals (pipeline/rules.step.ts). */
export const RULE_REFUSAL_REASONS = ['access', 'signature', 'rate'] as const;
export type RuleRefusalReason = (typeof RULE_REFUSAL_REASONS)[number];

/**
 * Values of the `outcome` label of cache warming requests (edge/warm): `hit` already cached,
 * `miss` fetched from the origin, `bypass` fetched but the rules keep it out of the cache,
 * `failed` a 4xx or 5xx answer, or none.
 */
export const WARM_OUTCOMES = ['hit', 'miss', 'bypass', 'failed'] as const;
export type WarmOutcome = (typeof WARM_OUTCOMES)[number];

/** Values of the `encoding` label of the compression metrics (the codings the edge applies). */
export const ENCODING_LABELS = ['br', 'gzip'] as const;

/** Bounds (seconds) of cdn_edge_origin_request_duration_seconds. */
export const ORIGIN_DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Bounds (seconds) of cdn_edge_origin_queue_wait_seconds: up to the longest queue timeout a customer may set (60 s). */
export const ORIGIN_QUEUE_WAIT_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

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
  protocolRequests: {
    name: 'cdn_edge_requests_by_protocol_total',
    help: 'Client requests answered, by customer, HTTP version (protocol: h1, h2) and scheme (http, https)',
    labelNames: ['customer', 'protocol', 'scheme'],
  },
  tlsHandshakes: {
    name: 'cdn_edge_tls_handshakes_total',
    help: 'TLS handshakes completed on the HTTPS port, by version (TLSv1.2, TLSv1.3) and whether a session was resumed (true, false)',
    labelNames: ['version', 'resumed'],
  },
  tlsHandshakeFailures: {
    name: 'cdn_edge_tls_handshake_failures_total',
    help: 'TLS handshakes that failed, by reason (unknown_sni: no customer certificate for the name asked, no_sni: no name asked, protocol_version: below TLS 1.2, no_shared_cipher, timeout, reset: closed by the client, other)',
    labelNames: ['reason'],
  },
  tlsContexts: { name: 'cdn_edge_tls_contexts', help: 'Certificates held ready to present (one TLS context each, summed over the processes of this edge)' },
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
  compressedResponses: {
    name: 'cdn_edge_compressed_responses_total',
    help: 'Answers sent with a content coding the edge applied, by encoding (br, gzip): from a stored encoded copy or encoded while streaming',
    labelNames: ['encoding'],
  },
  compressedBytes: { name: 'cdn_edge_compressed_response_bytes_total', help: 'Body bytes of those answers as sent (encoded), by encoding', labelNames: ['encoding'] },
  compressionSavedBytes: {
    name: 'cdn_edge_compression_saved_bytes_total',
    help: 'Body bytes those answers would have had without the coding, minus the bytes sent, by encoding',
    labelNames: ['encoding'],
  },
  compressions: { name: 'cdn_edge_compressions_total', help: 'Encoded copies of stored bodies made (once per stored object and encoding), by encoding', labelNames: ['encoding'] },
  compressionSeconds: { name: 'cdn_edge_compression_seconds_total', help: 'Thread-pool time spent making encoded copies of stored bodies, by encoding', labelNames: ['encoding'] },
  decodedResponses: { name: 'cdn_edge_decoded_responses_total', help: 'Origin-encoded answers the edge decoded for clients that do not accept their coding' },
  accessLogLines: { name: 'cdn_edge_access_log_lines_total', help: 'Access log lines written to the export files (CDN_LOG_DIR)' },
  accessLogDropped: {
    name: 'cdn_edge_access_log_dropped_total',
    help: 'Access log lines not written: the buffer was full (the disk did not keep up) or the write failed',
  },
  ruleRefusals: {
    name: 'cdn_edge_rule_refusals_total',
    help: "Requests the customer's delivery rules refused, by customer and reason (access: denied, client address or Referer, 403; signature: signed URL missing or invalid, 403; rate: rate limit per client address, 429)",
    labelNames: ['customer', 'reason'],
  },
  warmRequests: {
    name: 'cdn_edge_warm_requests_total',
    help: 'Cache warming requests this edge made through its own request path, by customer and outcome (hit: already cached; miss: fetched from the origin; bypass: fetched, kept out of the cache by the rules; failed: 4xx, 5xx or no answer)',
    labelNames: ['customer', 'outcome'],
  },
  shieldRequests: {
    name: 'cdn_edge_shield_requests_total',
    help: 'Misses this edge sent to an origin shield instead of the origin, by outcome (answered: the shield answered, whatever its status; fallback: the shield could not be reached or refused the hop, so the origin was asked directly)',
    labelNames: ['outcome'],
  },
  shieldHops: {
    name: 'cdn_edge_shield_hops_total',
    help: 'Requests this shield received from other edges, by outcome (served: the hop was authenticated; refused: a forged, expired or looping hop, 403; behind: the asking edge had applied changes this shield had not, so the answer came from the origin, never the cache)',
    labelNames: ['outcome'],
  },
  lurkerBacklog: { name: 'cdn_edge_lurker_backlog', help: 'Prefix, tag and whole-customer bans not yet retired by the lurker', aggregator: 'max' },
  // Origins (docs/EDGE.md, "Origins"): labelled by customer id and origin name, both bounded by the configuration.
  // In a cluster each worker has its own view of origin health: an origin counts as up when every worker sees it up.
  originUp: {
    name: 'cdn_edge_origin_up',
    help: "Whether this edge sends requests to the customer's origin: 1 up, 0 down (failed health checks or requests; its circuit breaker is open)",
    labelNames: ['customer', 'origin'],
    aggregator: 'min',
  },
  originRetries: {
    name: 'cdn_edge_origin_retries_total',
    help: 'Origin requests sent again to another origin after a connection error, a timeout or a 5xx (within the retry budget), by customer',
    labelNames: ['customer'],
  },
  originQueueWait: {
    name: 'cdn_edge_origin_queue_wait_seconds',
    help: "Time origin requests waited for a turn under the customer's cap on concurrent origin requests (only those that waited), by customer",
    labelNames: ['customer'],
    buckets: ORIGIN_QUEUE_WAIT_BUCKETS,
  },
  originQueueRejections: {
    name: 'cdn_edge_origin_queue_rejections_total',
    help: "Requests answered 503 because the customer's cap on concurrent origin requests stayed full for the whole queue timeout (or the queue was full), by customer",
    labelNames: ['customer'],
  },
} as const;

/** The cluster primary's own metrics, served beside the workers' aggregated ones. */
export const EDGE_PRIMARY_METRICS = {
  workers: { name: 'cdn_edge_workers', help: 'Worker processes of this edge currently alive' },
  workerRestarts: { name: 'cdn_edge_worker_restarts_total', help: 'Worker processes restarted after an unexpected exit' },
} as const;
