/**
 * The `cdn api` process wiring: Fastify + Apollo Server at /graphql (HTTP), graphql-ws
 * on the same path, the IDE page, health and metrics, the outbox relay and the change
 * feed, the live stats aggregator. Logic lives in services/, the schema in graphql/; this
 * file only connects them. The caller owns the DataSource (initialised and migrated), the
 * bus, the fleet and the stats channel.
 */
import 'reflect-metadata';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import { createPubSub } from '@graphql-yoga/subscription';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { GraphQLError } from 'graphql';
import type { DataSource } from 'typeorm';
import type { ChangeBus } from '../core/bus.port';
import type { EdgeFleet } from '../core/fleet.port';
import type { RateLimiter } from '../core/rate-limit.port';
import type { StatsChannel } from '../core/stats.port';
import type { AccessLogChannel } from '../core/access-log.port';
import { isCdnError } from '../core/errors';
import { SecretBox } from '../core/secret-box';
import type { Logger } from '../obs/logger.factory';
import type { ApiConfig } from './config';
import { Database } from './db/database';
import { ALERT_CHANGED, ORIGIN_HEALTH_CHANGED, type ApiContext, type ApiPubSub, type ApiServices } from './graphql/context.type';
import { toGraphqlOriginHealthChange } from './graphql/origin-health.resolver';
import { publishCustomerChange } from './graphql/customer-change.publisher';
import { formatApiError, toGraphQLError } from './graphql/error.format';
import { buildApiSchema } from './graphql/schema.builder';
import { attachSubscriptions } from './graphql/subscriptions.server';
import { registerDashboardPage } from './plugins/dashboard.page';
import { registerPortalPage } from './plugins/portal.page';
import { registerHealthRoutes } from './plugins/health.routes';
import { bodyLimitErrorHandler, refuseBatches } from './plugins/http-limits.hooks';
import { CompressedPage } from './plugins/compressed.page';
import { ConnectionDrain } from './plugins/connection-drain';
import { ideOffText, idePageHtml, wantsIde } from './plugins/ide.page';
import { auditPlugin } from './plugins/audit.plugin';
import { ApiMetrics } from './plugins/metrics.registry';
import { OperationLimits } from './plugins/operation-limits.plugin';
import { operationMetricsPlugin } from './plugins/operation-metrics.plugin';
import { AccessStats } from './services/access-stats.service';
import { AuditService } from './services/audit.service';
import { Authenticator } from './services/bearer.authenticator';
import { CertificateStats } from './services/certificate-stats.service';
import { CertificateWatch } from './services/certificate-watch.service';
import { CertificateService } from './services/certificate.service';
import { DeliveryRulesService } from './services/delivery-rules.service';
import { OriginService } from './services/origin.service';
import { SigningKeyService } from './services/signing-key.service';
import { AcmeOrders } from './services/acme-orders.service';
import { ChangeFeed } from './services/change-feed.service';
import { ChangeRelay } from './services/change-relay.service';
import { CustomerService } from './services/customer.service';
import { EdgeFleetService } from './services/edge-fleet.service';
import { PurgeAckCollector } from './services/purge-ack.collector';
import { PurgeSignals } from './services/purge-signals';
import { PurgeTracker } from './services/purge-tracker.service';
import { PurgeService } from './services/purge.service';
import { StatsAggregator } from './services/stats-aggregator.service';
import { AccessLogTailService } from './services/access-log-tail.service';
import { AlertEvaluator } from './services/alert-evaluator.service';
import { AlertService } from './services/alert.service';
import { toGraphqlAlertChange } from './graphql/alert.mapper';
import type { WebhookEvents } from './domain/webhook.types';
import { tokenSigningKey } from './services/token-signing';
import { TokenService } from './services/token.service';
import { TrafficTopService } from './services/traffic-top.service';
import { TokenVerifier } from './services/token-verifier';
import { WarmReportCollector } from './services/warm-report.collector';
import { OriginHealthCollector } from './services/origin-health.collector';
import { OriginHealthService } from './services/origin-health.service';
import { QuotaWatch } from './services/quota-watch.service';
import { WarmTracker } from './services/warm-tracker.service';
import { WarmService } from './services/warm.service';
import { WebhookDispatcher } from './services/webhook-dispatcher';
import { WebhookSender } from './services/webhook-sender';
import { WebhookService } from './services/webhook.service';
import type { RevocationChannel } from '../core/revocation.port';
import { PLATFORM_ROLES } from '../core/roles';

export { buildApiSchema, printApiSchema } from './graphql/schema.builder';

export const GRAPHQL_PATH = '/graphql';

/** How often each api looks for purges that completed without an ack (services/purge-tracker.service.ts). */
const PURGE_SWEEP_MS = 5_000;

export interface ApiDeps {
  /** Initialised and migrated by the caller, who also destroys it. */
  dataSource: DataSource;
  /** Owned (and closed) by the caller. */
  bus: ChangeBus;
  /** Edges' heartbeats, purge acks and warm reports. Owned (and closed) by the caller, after close(). */
  fleet: EdgeFleet;
  /** Edges' per-second stats reports. Owned (and closed) by the caller, after close(). */
  stats: StatsChannel;
  /** Edges' access log records for live tails (the accessLog subscription). Owned (and closed) by the caller; absent: tails are refused. */
  accessLogs?: AccessLogChannel;
  /** Per-caller rate limits, shared by every api on Redis. Owned by the caller; absent: no rate limits. */
  rateLimiter?: RateLimiter;
  /** Token revocations between api processes (src/bin/wiring.ts). Owned (and closed) by the caller. */
  revocations: RevocationChannel;
  logger: Logger;
  /**
   * Where the alerts report `alert.fired` / `alert.resolved` (tests pass a recording one);
   * absent: the webhook outbox (services/webhook.service.ts).
   */
  alertEvents?: WebhookEvents;
}

export interface ApiHandle {
  /** http://host:port */
  url: string;
  port: number;
  /**
   * Drains: stops accepting, lets in-flight requests finish, closes websockets, stops
   * the relay, the change feed, the ack and warm report collectors and the stats aggregator (ending stats
   * subscriptions); mutations waiting for edges answer with the purge's state at that
   * moment. Leaves the DataSource, the bus, the fleet and the stats channel to the caller.
   */
  close(): Promise<void>;
}

export async function startApi(config: ApiConfig, deps: ApiDeps): Promise<ApiHandle> {
  const log = deps.logger;
  const db = new Database(deps.dataSource, { logger: log });
  const metrics = new ApiMetrics();
  const relay = new ChangeRelay({
    db,
    bus: deps.bus,
    logger: log,
    onPublished: (seq) => metrics.setPublishedSeq(seq),
    onLag: (seqs) => metrics.setRelayLag(seqs),
  });
  const secretBox = new SecretBox(config.secretKey);
  // Webhooks: the outbox every service reports its facts to (`events`), and this replica's dispatcher of it.
  const webhookSender = new WebhookSender({ timeoutMs: config.webhooks.timeoutMs, allowPrivate: config.webhooks.allowPrivate });
  let dispatcher: WebhookDispatcher | undefined;
  const webhooks = new WebhookService({
    db,
    secretBox,
    logger: log,
    allowPrivate: config.webhooks.allowPrivate,
    maxPerScope: config.webhooks.maxPerCustomer,
    onQueued: () => dispatcher?.kick(),
  });
  dispatcher = new WebhookDispatcher({
    db,
    secretBox,
    sender: webhookSender,
    logger: log,
    concurrency: config.webhooks.concurrency,
    pollMs: config.webhooks.pollMs,
    // Longer than any request may take, so a live sender always finishes before another replica may take its delivery.
    leaseMs: config.webhooks.timeoutMs + 30_000,
    retry: { baseMs: config.webhooks.retryBaseMs, maxMs: config.webhooks.retryMaxMs, windowMs: config.webhooks.retryWindowMs },
    onOutcome: metrics.collectWebhooks(() => dispatcher!.queueDepth()),
  });
  const customers = new CustomerService({
    db,
    secretBox,
    originPolicy: { allowPrivateOrigins: config.allowPrivateOrigins },
    logger: log,
    events: webhooks,
    onCommitted: () => relay.kick(),
  });
  const signals = new PurgeSignals();
  const purgeTracker = new PurgeTracker({
    db,
    fleet: deps.fleet,
    signals,
    logger: log,
    events: webhooks,
    onCompleted: (purge, completedAt) => metrics.observePurgeCompletion((completedAt.getTime() - purge.requestedAt.getTime()) / 1000),
  });
  // Top URLs: the minute summaries in the stats reports, stored once per edge process and minute.
  const trafficTop = new TrafficTopService({ db, logger: log, retentionHours: config.topRetentionHours, onStored: metrics.countTrafficTop() });
  const stats = new StatsAggregator({
    channel: deps.stats,
    logger: log,
    retentionSeconds: config.statsRetentionMinutes * 60,
    graceMs: config.statsGraceMs,
    maxCustomersPerSecond: config.statsMaxCustomersPerSecond,
    customerNames: (ids) => customers.names(ids),
    onReports: (count) => metrics.countStatsReports(count),
    onReportsRead: (reports) => trafficTop.record(reports),
  });
  const acks = new PurgeAckCollector({ db, fleet: deps.fleet, tracker: purgeTracker, signals, logger: log });
  // Warms follow the purges' path back: edge reports on the fleet channel, a collector, in-process signals, a tracker.
  const warmSignals = new PurgeSignals();
  const warmTracker = new WarmTracker({ db, fleet: deps.fleet, signals: warmSignals, logger: log });
  const warmReports = new WarmReportCollector({ db, fleet: deps.fleet, tracker: warmTracker, signals: warmSignals, logger: log });
  const audit = new AuditService({ db, logger: log, retentionDays: config.auditRetentionDays });
  const revocations = deps.revocations;
  const signingKey = tokenSigningKey(config.secretKey);
  // The verifier's database lookup is the token service's; the service drops the verifier's cached decision on revoke.
  let tokens: TokenService | undefined;
  const verifier = new TokenVerifier({ key: signingKey, revocations, lookup: (id) => tokens!.lookup(id), logger: log, counters: metrics.auth });
  tokens = new TokenService({ db, key: signingKey, revocations, verifier, logger: log, onRevoked: () => metrics.countRevocation() });
  const accessStats = new AccessStats({ db, thresholds: config.grants });
  metrics.collectGrants(() => accessStats.snapshot(), accessStats.thresholds, PLATFORM_ROLES);
  const certificateStats = new CertificateStats({ db, thresholds: config.certificateExpiry });
  metrics.collectCertificates(() => certificateStats.snapshot(), certificateStats.thresholds);
  const certificateWatch = new CertificateWatch({ db });
  const fleet = new EdgeFleetService(deps.fleet);
  const acme = new AcmeOrders({ db, secretBox, logger: log.child({ component: 'acme' }), settings: config.acme, liveEdges: () => fleet.liveEdges(), onCommitted: () => relay.kick(), events: webhooks, expiringWithinDays: config.certificateExpiry.warningDays });
  const alertEvents = deps.alertEvents ?? webhooks;
  const services: ApiServices = {
    alerts: new AlertService({ db, logger: log, windowMaxSeconds: config.statsRetentionMinutes * 60, events: alertEvents }),
    customers,
    certificates: new CertificateService({ db, secretBox, logger: log, onCommitted: () => relay.kick() }),
    certificateWatch,
    deliveryRules: new DeliveryRulesService({ db, secretBox, logger: log, rulesMax: config.rulesMax, onCommitted: () => relay.kick() }),
    signingKeys: new SigningKeyService({ db, secretBox, logger: log, onCommitted: () => relay.kick() }),
    originHealth: new OriginHealthService({ db, customer: (id) => customers.get(id), liveEdges: () => fleet.liveEdges() }),
    origins: new OriginService({ db, secretBox, addressPolicy: { allowPrivateOrigins: config.allowPrivateOrigins }, logger: log, onCommitted: () => relay.kick() }),
    acme,
    purges: new PurgeService({ db, logger: log, onCommitted: () => relay.kick() }),
    purgeTracker,
    warms: new WarmService({ db, fleet: deps.fleet, logger: log, maxUrls: config.warmMaxUrls, onCommitted: () => relay.kick() }),
    warmTracker,
    fleet,
    stats,
    audit,
    tokens,
    accessStats,
    accessLogs: new AccessLogTailService({ channel: deps.accessLogs, logger: log }),
    webhooks,
    trafficTop,
  };
  metrics.collectOriginsDown(() => services.originHealth.downByCustomer());
  const authenticator = new Authenticator(config.adminToken, verifier);
  const pubSub: ApiPubSub = createPubSub();
  const feed = new ChangeFeed({
    bus: deps.bus,
    logger: log,
    deliver: (c) => {
      certificateWatch.notify(c);
      return publishCustomerChange(c, pubSub, customers);
    },
  });
  // Origin transitions from the edges, stored once and told to this replica's subscribers.
  const originHealth = new OriginHealthCollector({
    db,
    fleet: deps.fleet,
    logger: log,
    events: webhooks,
    onEvents: (events) => {
      for (const event of events) pubSub.publish(ORIGIN_HEALTH_CHANGED, toGraphqlOriginHealthChange(event));
    },
  });
  // Alert rules judged on this replica's live stats and the fleet's origin health; transitions told to this replica's subscribers.
  const alertEvaluator = new AlertEvaluator({
    db,
    logger: log,
    intervalMs: config.alertEvalIntervalMs,
    recentStats: (customerId, seconds) => stats.recent(customerId, seconds),
    originHealth: (customerId) => services.originHealth.forCustomer(customerId),
    events: alertEvents,
    onChange: (change) => pubSub.publish(ALERT_CHANGED, toGraphqlAlertChange(change)),
  });
  metrics.collectAlerts(() => alertEvaluator.samples());
  // The edges' quota spells (their heartbeats' quotasReached), each one quota.reached event.
  const quotaWatch = new QuotaWatch({ liveEdges: () => fleet.liveEdges(), events: webhooks, logger: log, intervalMs: config.quotaPollMs });
  const schema = await buildApiSchema({ pubSub });
  const limits = new OperationLimits({ limits: config.limits, limiter: deps.rateLimiter, logger: log });

  const app = Fastify({
    // pino's Logger type is stricter than Fastify's; the instance is the same kind.
    loggerInstance: log.child({ component: 'http' }) as FastifyBaseLogger,
  });
  const apollo = new ApolloServer<ApiContext>({
    schema,
    csrfPrevention: true,
    // Limits (docs/API.md, "Limits"): introspection is refused by our own rule, with a message naming CDN_API_INTROSPECTION.
    introspection: true,
    allowBatchedHttpRequests: false,
    validationRules: limits.validationRules,
    // The process owner (src/bin) drains on SIGTERM; Apollo's own handler would re-raise the signal and kill the process mid-drain.
    stopOnTerminationSignals: false,
    includeStacktraceInErrorResponses: false,
    formatError: (formatted, error) => formatApiError(formatted, error, log),
    plugins: [ApolloServerPluginLandingPageDisabled(), fastifyApolloDrainPlugin(app), operationMetricsPlugin(metrics), limits.apolloPlugin(), auditPlugin({ sink: audit, logger: log, onWriteFailed: (what) => metrics.countAuditWriteFailure(what) })],
  });
  await apollo.start();

  const graphqlHandler = fastifyApolloHandler(apollo, {
    context: async (request) => {
      try {
        return { principal: await authenticator.authenticate(request.headers.authorization), services, http: { requestId: request.id, ip: request.ip } };
      } catch (err) {
        // Thrown from the context function, Apollo answers with this error and its HTTP status (401).
        throw isCdnError(err) ? toGraphQLError(err) : new GraphQLError('Authentication failed', { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
      }
    },
  });
  // The IDE page (about 9 MB), rendered and compressed once, when first asked for.
  const ide = new CompressedPage('text/html; charset=utf-8', idePageHtml);
  app.route({
    method: ['GET', 'POST', 'OPTIONS'],
    url: GRAPHQL_PATH,
    bodyLimit: config.limits.maxBodyBytes,
    errorHandler: bodyLimitErrorHandler(config.limits.maxBodyBytes),
    preHandler: refuseBatches,
    // A browser opening /graphql gets the IDE (no auth: it holds no data); every GraphQL request goes on to Apollo.
    onRequest: async (request, reply) => {
      if (wantsIde(request.method, request.headers.accept)) {
        if (!config.limits.ide) return reply.code(404).type('text/plain; charset=utf-8').send(ideOffText());
        return ide.send(request, reply.header('cache-control', 'no-cache'));
      }
      return undefined;
    },
    handler: graphqlHandler,
  });
  registerHealthRoutes(app, {
    database: () => db.ping(),
    bus: () => deps.bus.publishedSeq(),
  });
  registerDashboardPage(app, { graphqlPath: GRAPHQL_PATH });
  registerPortalPage(app, { graphqlPath: GRAPHQL_PATH });
  app.get('/metrics', async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  // Before listening: every connection is tracked from its accept (see close()).
  const connections = new ConnectionDrain(app.server);
  await app.listen({ host: config.host, port: config.port });
  const subscriptions = attachSubscriptions({
    server: app.server,
    path: GRAPHQL_PATH,
    schema,
    authenticator,
    services,
    logger: log,
    onSubscribe: (principal, payload) => limits.subscribe(schema, principal, payload),
    onSubscriptionsChanged: (field, delta) => (delta > 0 ? metrics.subscriptionOpened(field) : metrics.subscriptionClosed(field)),
    revocations: verifier,
  });
  relay.start();
  trafficTop.start();
  stats.start();
  alertEvaluator.start();
  quotaWatch.start();
  feed.start();
  acks.start();
  // A purge whose last edge applied it without an ack (by heartbeat, or by leaving) is stamped, and its purge.completed sent, without waiting for a reader.
  purgeTracker.startSweeping(PURGE_SWEEP_MS);
  warmReports.start();
  originHealth.start();
  audit.start();
  acme.start();
  verifier.start();
  dispatcher.start();

  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  log.info({ url: `${url}${GRAPHQL_PATH}` }, 'api listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close() {
      closing ??= (async () => {
        // New connections are refused from here on (a balancer tries another replica, POST
        // included); those accepted already may still send their request (connection-drain.ts).
        const accepted = connections.stopAccepting();
        // Websockets next, before their streams end: closed with 1001, clients reconnect (to
        // another replica, this one refusing) and resume; a completed stream would be over for
        // them. Once closing, a socket sends nothing more, so the streams may end while the
        // handshakes finish.
        const socketsClosed = subscriptions.close();
        feed.stop();
        // Wakes purge waiters: subscriptions end, mutations with waitForEdges answer now instead of holding the drain.
        purgeTracker.close();
        warmTracker.close();
        certificateWatch.close();
        await acme.stop();
        await alertEvaluator.stop();
        await quotaWatch.stop();
        await stats.stop();
        await trafficTop.stop();
        await services.accessLogs.stop();
        // An upgraded socket would otherwise keep the HTTP server from closing.
        await socketsClosed;
        await accepted;
        // Apollo's drain plugin closes Fastify, which closes the idle connections and waits for in-flight requests.
        await apollo.stop();
        await acks.stop();
        await warmReports.stop();
        await originHealth.stop();
        await audit.stop();
        // Claims nothing more; the deliveries in flight finish (each within CDN_WEBHOOK_TIMEOUT_MS).
        await dispatcher.stop();
        await webhookSender.close();
        verifier.close();
        await relay.stop();
        log.info('api stopped');
      })();
      return closing;
    },
  };
}
