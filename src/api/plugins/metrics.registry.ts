/** The api's own prom-client registry (never the global one: several apis may share a process in tests). */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { apiMetricCatalog, type OperationOutcome } from './metrics.catalog';

export class ApiMetrics {
  readonly registry = new Registry();
  readonly #operations: Counter<'operation' | 'outcome'>;
  readonly #operationDuration: Histogram<'operation'>;
  readonly #subscriptionsOpen: Gauge<'subscription'>;
  readonly #publishedSeq: Gauge;
  readonly #relayLag: Gauge;
  readonly #purgeCompletion: Histogram;
  readonly #statsReports: Counter;
  /** Token checks by tier (token-verifier.ts), revocations, and the grant gauges (set at scrape time). */
  readonly auth: { l1Hit(): void; l1Miss(): void; l2Hit(): void };
  readonly #revocations: Counter;
  readonly #auditFailures: Counter<'what'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const c = apiMetricCatalog;
    this.#operations = new Counter({ name: c.graphqlOperations.name, help: c.graphqlOperations.help, labelNames: c.graphqlOperations.labelNames, registers });
    this.#operationDuration = new Histogram({
      name: c.graphqlOperationDuration.name,
      help: c.graphqlOperationDuration.help,
      labelNames: c.graphqlOperationDuration.labelNames,
      buckets: [...c.graphqlOperationDuration.buckets],
      registers,
    });
    this.#subscriptionsOpen = new Gauge({ name: c.subscriptionsOpen.name, help: c.subscriptionsOpen.help, labelNames: c.subscriptionsOpen.labelNames, registers });
    this.#publishedSeq = new Gauge({ name: c.relayPublishedSeq.name, help: c.relayPublishedSeq.help, registers });
    this.#relayLag = new Gauge({ name: c.relayLagSeq.name, help: c.relayLagSeq.help, registers });
    this.#purgeCompletion = new Histogram({ name: c.purgeCompletion.name, help: c.purgeCompletion.help, buckets: [...c.purgeCompletion.buckets], registers });
    this.#statsReports = new Counter({ name: c.statsReports.name, help: c.statsReports.help, registers });
    const l1Hits = new Counter({ name: c.authL1Hits.name, help: c.authL1Hits.help, registers });
    const l1Misses = new Counter({ name: c.authL1Misses.name, help: c.authL1Misses.help, registers });
    const l2Hits = new Counter({ name: c.authL2Hits.name, help: c.authL2Hits.help, registers });
    // Counters without labels: inc() on the hit path is a number addition.
    this.auth = { l1Hit: () => l1Hits.inc(), l1Miss: () => l1Misses.inc(), l2Hit: () => l2Hits.inc() };
    this.#revocations = new Counter({ name: c.tokenRevocations.name, help: c.tokenRevocations.help, registers });
    this.#auditFailures = new Counter({ name: c.auditWriteFailures.name, help: c.auditWriteFailures.help, labelNames: c.auditWriteFailures.labelNames, registers });
  }

  countAuditWriteFailure(what: 'entry' | 'outcome'): void {
    this.#auditFailures.inc({ what });
  }

  /**
   * Grant monitoring gauges, read at scrape time: live tokens per platform role and per
   * customer (role="customer"), and the thresholds to compare them with in alert rules.
   */
  collectGrants(
    snapshot: () => Promise<{ roles: Array<{ role: string; active: number }>; customers: Array<{ customerId: string; active: number }> }>,
    thresholds: { roles: Readonly<Record<string, { warning: number; critical: number }>>; customer: { warning: number; critical: number } },
    roles: readonly string[],
  ): void {
    const c = apiMetricCatalog;
    const registers = [this.registry];
    new Gauge({
      name: c.tokensActive.name,
      help: c.tokensActive.help,
      labelNames: c.tokensActive.labelNames,
      registers,
      async collect() {
        const s = await snapshot();
        this.reset();
        for (const r of s.roles) this.set({ role: r.role, customer: '' }, r.active);
        for (const cu of s.customers) this.set({ role: 'customer', customer: cu.customerId }, cu.active);
      },
    });
    const limits = new Gauge({ name: c.tokensThreshold.name, help: c.tokensThreshold.help, labelNames: c.tokensThreshold.labelNames, registers });
    for (const role of roles) {
      limits.set({ role, level: 'warning' }, thresholds.roles[role]!.warning);
      limits.set({ role, level: 'critical' }, thresholds.roles[role]!.critical);
    }
    limits.set({ role: 'customer', level: 'warning' }, thresholds.customer.warning);
    limits.set({ role: 'customer', level: 'critical' }, thresholds.customer.critical);
  }

  /**
   * Certificate monitoring gauges, read at scrape time (one snapshot, which the caller caches,
   * serves all three): certificates per status and source, the soonest expiry per customer,
   * how many are within the warning and critical windows, and those windows as thresholds
   * for dashboards and alert rules.
   */
  collectCertificates(
    snapshot: () => Promise<{
      counts: Array<{ status: string; source: string; count: number }>;
      expiring: { warning: number; critical: number };
      soonest: Array<{ customerId: string; notAfter: Date }>;
    }>,
    thresholds: { warningDays: number; criticalDays: number },
  ): void {
    const c = apiMetricCatalog;
    const registers = [this.registry];
    new Gauge({
      name: c.certificates.name,
      help: c.certificates.help,
      labelNames: c.certificates.labelNames,
      registers,
      async collect() {
        const s = await snapshot();
        this.reset();
        for (const r of s.counts) this.set({ status: r.status, source: r.source }, r.count);
      },
    });
    new Gauge({
      name: c.certificateExpiry.name,
      help: c.certificateExpiry.help,
      labelNames: c.certificateExpiry.labelNames,
      registers,
      async collect() {
        const s = await snapshot();
        // A customer that left the soonest set (renewed, deleted) loses its series.
        this.reset();
        for (const r of s.soonest) this.set({ customer: r.customerId }, r.notAfter.getTime() / 1000);
      },
    });
    new Gauge({
      name: c.certificatesExpiring.name,
      help: c.certificatesExpiring.help,
      labelNames: c.certificatesExpiring.labelNames,
      registers,
      async collect() {
        const s = await snapshot();
        this.set({ window: 'warning' }, s.expiring.warning);
        this.set({ window: 'critical' }, s.expiring.critical);
      },
    });
    const limits = new Gauge({ name: c.certificateExpiryThreshold.name, help: c.certificateExpiryThreshold.help, labelNames: c.certificateExpiryThreshold.labelNames, registers });
    limits.set({ window: 'warning' }, thresholds.warningDays * 86_400);
    limits.set({ window: 'critical' }, thresholds.criticalDays * 86_400);
  }

  countRevocation(): void {
    this.#revocations.inc();
  }

  countOperation(operation: string, outcome: OperationOutcome): void {
    this.#operations.inc({ operation, outcome });
  }

  observeOperationDuration(operation: string, seconds: number): void {
    this.#operationDuration.observe({ operation }, seconds);
  }

  subscriptionOpened(subscription: string): void {
    this.#subscriptionsOpen.inc({ subscription });
  }

  subscriptionClosed(subscription: string): void {
    this.#subscriptionsOpen.dec({ subscription });
  }

  setPublishedSeq(seq: number): void {
    this.#publishedSeq.set(seq);
  }

  setRelayLag(seqs: number): void {
    this.#relayLag.set(seqs);
  }

  observePurgeCompletion(seconds: number): void {
    this.#purgeCompletion.observe(Math.max(0, seconds));
  }

  countStatsReports(count: number): void {
    if (count > 0) this.#statsReports.inc(count);
  }

  /**
   * The origins-down gauge, read at scrape time from the live edges. While the fleet channel
   * is away the last values stay (a scrape never fails for it).
   */
  /** Top URL summaries stored or dropped (services/traffic-top.service.ts); both series exist from the start. */
  countTrafficTop(): (outcome: 'stored' | 'dropped', count: number) => void {
    const c = apiMetricCatalog.trafficTopSummaries;
    const summaries = new Counter({ name: c.name, help: c.help, labelNames: c.labelNames, registers: [this.registry] });
    for (const outcome of ['stored', 'dropped'] as const) summaries.inc({ outcome }, 0);
    return (outcome, count) => summaries.inc({ outcome }, count);
  }

  /** Webhook attempts by outcome (counted as they are recorded), and the outbox's depth (read at scrape time). */
  collectWebhooks(queueDepth: () => Promise<number>): (outcome: 'delivered' | 'retried' | 'failed') => void {
    const c = apiMetricCatalog;
    const registers = [this.registry];
    const attempts = new Counter({ name: c.webhookDeliveries.name, help: c.webhookDeliveries.help, labelNames: c.webhookDeliveries.labelNames, registers });
    for (const outcome of ['delivered', 'retried', 'failed'] as const) attempts.inc({ outcome }, 0);
    new Gauge({
      name: c.webhookQueue.name,
      help: c.webhookQueue.help,
      registers,
      async collect() {
        try {
          this.set(await queueDepth());
        } catch {
          // The database is away: the last value stays.
        }
      },
    });
    return (outcome) => attempts.inc({ outcome });
  }

  /** cdn_api_alert_firing and cdn_api_alert_value from the evaluator's last pass (no query at scrape time); rules deleted or disabled lose their series. */
  collectAlerts(samples: () => ReadonlyArray<{ customerId: string; rule: string; firing: boolean; value: number | null }>): void {
    const c = apiMetricCatalog;
    new Gauge({
      name: c.alertFiring.name,
      help: c.alertFiring.help,
      labelNames: c.alertFiring.labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of samples()) this.set({ customer: s.customerId, rule: s.rule }, s.firing ? 1 : 0);
      },
    });
    new Gauge({
      name: c.alertValue.name,
      help: c.alertValue.help,
      labelNames: c.alertValue.labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of samples()) if (s.value !== null) this.set({ customer: s.customerId, rule: s.rule }, s.value);
      },
    });
  }

  collectOriginsDown(snapshot: () => Promise<Map<string, number>>): void {
    const c = apiMetricCatalog;
    new Gauge({
      name: c.originsDown.name,
      help: c.originsDown.help,
      labelNames: c.originsDown.labelNames,
      registers: [this.registry],
      async collect() {
        let down: Map<string, number>;
        try {
          down = await snapshot();
        } catch {
          return;
        }
        // A customer whose origins all came back loses its series.
        this.reset();
        for (const [customer, count] of down) this.set({ customer }, count);
      },
    });
  }
}
