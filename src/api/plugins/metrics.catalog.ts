/**
 * Every metric the api exposes beyond prom-client's defaults, declared once: name, help,
 * labels (bounded: operation and subscription are schema root fields, never client text)
 * and unit.
 */
export const apiMetricCatalog = {
  graphqlOperations: {
    name: 'cdn_api_graphql_operations_total',
    help: 'GraphQL operations answered over HTTP, by root field and outcome (ok, error, unauthenticated).',
    labelNames: ['operation', 'outcome'] as const,
    unit: 'operations',
  },
  graphqlOperationDuration: {
    name: 'cdn_api_graphql_operation_duration_seconds',
    help: 'Time from receiving a GraphQL operation over HTTP to sending its response, by root field.',
    labelNames: ['operation'] as const,
    unit: 'seconds',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  },
  subscriptionsOpen: {
    name: 'cdn_api_subscriptions_open',
    help: 'GraphQL subscriptions running on this api over graphql-ws, by root field.',
    labelNames: ['subscription'] as const,
    unit: 'subscriptions',
  },
  relayPublishedSeq: {
    name: 'cdn_api_relay_published_seq',
    help: 'Last change_log seq the bus holds, as seen by this api\'s relay.',
    labelNames: [] as const,
    unit: 'seq',
  },
  relayLagSeq: {
    name: 'cdn_api_relay_lag_seq',
    help: 'change_log seqs committed but not yet on the bus (newest committed seq minus the bus\'s), sampled after each relay pass.',
    labelNames: [] as const,
    unit: 'seq',
  },
  purgeCompletion: {
    name: 'cdn_api_purge_completion_seconds',
    help: 'Time from a purge request to every live edge having applied it (observed once per purge, by the api that stamps it complete).',
    labelNames: [] as const,
    unit: 'seconds',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
  },
  statsReports: {
    name: 'cdn_api_stats_reports_total',
    help: 'Edge stats reports this api read from the stats channel (history at start included).',
    labelNames: [] as const,
    unit: 'reports',
  },
  authL1Hits: {
    name: 'cdn_api_auth_l1_hits_total',
    help: 'API token checks answered from this process\'s memory (no Redis, no database).',
    labelNames: [] as const,
    unit: 'checks',
  },
  authL1Misses: {
    name: 'cdn_api_auth_l1_misses_total',
    help: 'API token checks that had to ask Redis and the database.',
    labelNames: [] as const,
    unit: 'checks',
  },
  authL2Hits: {
    name: 'cdn_api_auth_l2_hits_total',
    help: 'API token checks refused by the Redis revocation records (without the database).',
    labelNames: [] as const,
    unit: 'checks',
  },
  tokenRevocations: {
    name: 'cdn_api_token_revocations_total',
    help: 'API tokens revoked through this api.',
    labelNames: [] as const,
    unit: 'tokens',
  },
  tokensActive: {
    name: 'cdn_api_tokens_active',
    help: 'Tokens neither expired nor revoked, by role (platform roles) or by customer (customer roles: label role="customer").',
    labelNames: ['role', 'customer'] as const,
    unit: 'tokens',
  },
  auditWriteFailures: {
    name: 'cdn_api_audit_write_failures_total',
    help: 'Audit writes that failed: an entry (the mutation was refused, 503) or an outcome (the entry keeps outcome null).',
    labelNames: ['what'] as const,
    unit: 'writes',
  },
  tokensThreshold: {
    name: 'cdn_api_tokens_threshold',
    help: 'Grant-monitoring thresholds for cdn_api_tokens_active: per platform role, and per customer (role="customer"), at level warning or critical.',
    labelNames: ['role', 'level'] as const,
    unit: 'tokens',
  },
  // Certificate monitoring (services/certificate-stats.service.ts), read from PostgreSQL at scrape time.
  certificates: {
    name: 'cdn_api_certificates',
    help: 'Certificates by status (PENDING, ISSUED, RENEWING, FAILED, EXPIRED) and source (ACME, UPLOADED), every pair present (0 included); FAILED: the last order failed (lastError says why).',
    labelNames: ['status', 'source'] as const,
    unit: 'certificates',
  },
  /**
   * A Unix timestamp rather than "seconds left", as Prometheus advises for points in time and
   * as the blackbox exporter (probe_ssl_earliest_cert_expiry) and cert-manager
   * (certmanager_certificate_expiration_timestamp_seconds) do: the value does not depend on
   * when it was scraped, and the usual rule `(x - time()) / 86400 < days` works unchanged.
   * Per customer, not per certificate (a series per certificate would follow every renewal),
   * and only for the 100 customers whose certificates expire first: the series stay bounded
   * whatever the fleet, the fleet's soonest is always among them (`min(...)`), and an alert
   * names the customer. How many certificates are near expiry, beyond those 100, is
   * cdn_api_certificates_expiring.
   */
  certificateExpiry: {
    name: 'cdn_api_certificate_expiry_timestamp_seconds',
    help: 'Per customer, the soonest notAfter (Unix time) among its served certificates (ISSUED or RENEWING, not past notAfter), for the 100 customers whose certificates expire first; min() is the fleet\'s soonest.',
    labelNames: ['customer'] as const,
    unit: 'seconds',
  },
  certificatesExpiring: {
    name: 'cdn_api_certificates_expiring',
    help: 'Served certificates (ISSUED or RENEWING, not past notAfter) whose notAfter falls within the warning or the critical window (cdn_api_certificate_expiry_threshold_seconds).',
    labelNames: ['window'] as const,
    unit: 'certificates',
  },
  certificateExpiryThreshold: {
    name: 'cdn_api_certificate_expiry_threshold_seconds',
    help: 'Certificate monitoring thresholds: how long before notAfter a served certificate enters the warning and the critical window (CDN_CERTIFICATES_EXPIRY_WARNING_DAYS, _CRITICAL_DAYS).',
    labelNames: ['window'] as const,
    unit: 'seconds',
  },
  // Origin health (services/origin-health.service.ts), read from the live edges' heartbeats at scrape time.
  originsDown: {
    name: 'cdn_api_origins_down',
    help: "Per customer, its origins that at least one live edge process holds down (the heartbeats' originsDown); a customer with none has no series. Per edge and origin: cdn_edge_origin_up.",
    labelNames: ['customer'] as const,
    unit: 'origins',
  },
  // Alerts (services/alert-evaluator.service.ts): every enabled rule as this api's evaluator last judged it (every replica exports the same: aggregate with max).
  alertFiring: {
    name: 'cdn_api_alert_firing',
    help: "Per customer alert rule, 1 while it is FIRING, else 0 (OK or PENDING), as this api's last evaluation left it. Disabled rules have no series.",
    labelNames: ['customer', 'rule'] as const,
    unit: 'boolean',
  },
  alertValue: {
    name: 'cdn_api_alert_value',
    help: "Per customer alert rule, the value it was last judged on, in its threshold's unit (share, ms, bytes/s, origins down); no series without one (too little traffic).",
    labelNames: ['customer', 'rule'] as const,
    unit: 'value',
  },
  // Webhooks (services/webhook-dispatcher.ts): attempts by this api, and the outbox's depth (PostgreSQL, at scrape time).
  webhookDeliveries: {
    name: 'cdn_api_webhook_deliveries_total',
    help: 'Webhook attempts this api made, by outcome: delivered (2xx), retried (failed, tried again later), failed (failed for good: the retry window is over).',
    labelNames: ['outcome'] as const,
    unit: 'attempts',
  },
  webhookQueue: {
    name: 'cdn_api_webhook_queue_depth',
    help: 'Webhook deliveries PENDING in the outbox (every api\'s, read from PostgreSQL at scrape time): not yet sent, or waiting to be retried.',
    labelNames: [] as const,
    unit: 'deliveries',
  },
  // Top URLs (services/traffic-top.service.ts): the edges' minute summaries this api wrote (or found written by another replica) or dropped.
  trafficTopSummaries: {
    name: 'cdn_api_traffic_top_summaries_total',
    help: 'Per-minute top URL summaries of edge processes this api handled, by outcome: stored (written, or already there from another replica), dropped (its queue was full while PostgreSQL could not take them).',
    labelNames: ['outcome'] as const,
    unit: 'summaries',
  },
} as const;

export type OperationOutcome = 'ok' | 'error' | 'unauthenticated';
