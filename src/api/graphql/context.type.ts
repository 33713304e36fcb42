/**
 * What every resolver receives, over HTTP and over graphql-ws alike. A `type` alias, not
 * an interface: graphql-ws's context generic needs an index-compatible type (docs/CONTRIBUTING.md, "Pitfalls").
 */
import type { PubSub } from '@graphql-yoga/subscription';
import type { AccessLogTailService } from '../services/access-log-tail.service';
import type { AccessStats } from '../services/access-stats.service';
import type { AlertService } from '../services/alert.service';
import type { AuditService } from '../services/audit.service';
import type { Principal } from '../services/bearer.authenticator';
import type { CertificateWatch } from '../services/certificate-watch.service';
import type { AcmeOrders } from '../services/acme-orders.service';
import type { CertificateService } from '../services/certificate.service';
import type { CustomerService } from '../services/customer.service';
import type { DeliveryRulesService } from '../services/delivery-rules.service';
import type { OriginHealthService } from '../services/origin-health.service';
import type { OriginService } from '../services/origin.service';
import type { EdgeFleetService } from '../services/edge-fleet.service';
import type { PurgeTracker } from '../services/purge-tracker.service';
import type { PurgeService } from '../services/purge.service';
import type { SigningKeyService } from '../services/signing-key.service';
import type { StatsAggregator } from '../services/stats-aggregator.service';
import type { TokenService } from '../services/token.service';
import type { TrafficTopService } from '../services/traffic-top.service';
import type { WarmTracker } from '../services/warm-tracker.service';
import type { WarmService } from '../services/warm.service';
import type { AlertChange } from './alert.type';
import type { CustomerChange } from './customer-change.type';
import type { OriginHealthChange } from './origin-health.type';
import type { WebhookService } from '../services/webhook.service';

export const CUSTOMER_CHANGED = 'customerChanged';
export const ORIGIN_HEALTH_CHANGED = 'originHealthChanged';
export const ALERT_CHANGED = 'alertChanged';

export type ApiPubSub = PubSub<{ [CUSTOMER_CHANGED]: [CustomerChange]; [ORIGIN_HEALTH_CHANGED]: [OriginHealthChange]; [ALERT_CHANGED]: [AlertChange] }>;

export type ApiServices = {
  customers: CustomerService;
  certificates: CertificateService;
  /** ACME: requestCertificate, and the scheduler that issues, renews and expires. */
  acme: AcmeOrders;
  certificateWatch: CertificateWatch;
  deliveryRules: DeliveryRulesService;
  signingKeys: SigningKeyService;
  /** setOrigins, setOriginPolicy. */
  origins: OriginService;
  /** originHealth: each origin on each live edge process. */
  originHealth: OriginHealthService;
  purges: PurgeService;
  purgeTracker: PurgeTracker;
  warms: WarmService;
  warmTracker: WarmTracker;
  fleet: EdgeFleetService;
  stats: StatsAggregator;
  audit: AuditService;
  tokens: TokenService;
  accessStats: AccessStats;
  /** The accessLog subscription: live tails of customers' access logs. */
  accessLogs: AccessLogTailService;
  /** setAlertRules, alertRules, alerts, alertHistory. */
  alerts: AlertService;
  /** Webhooks: receivers, deliveries, and the outbox services report to. */
  webhooks: WebhookService;
  /** trafficTop: the edges' minute summaries of top paths and status codes, stored and merged. */
  trafficTop: TrafficTopService;
};

export type ApiContext = {
  /** Null only while building a context that is about to be refused. */
  principal: Principal | null;
  services: ApiServices;
  /** The HTTP request the operation came in on, for the audit log; absent over graphql-ws. */
  http?: { requestId: string; ip: string };
};
