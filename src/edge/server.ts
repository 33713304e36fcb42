/**
 * Wires one edge: the public node:http server and the HTTPS port (edge/tls: h2 and HTTP/1.1
 * over TLS; every customer domain, through the request pipeline), the admin Fastify instance, the disk cache, the origin pools, metrics and
 * the customer feed it is given. It owns none of the feed's sources (the bus belongs to
 * the caller); close() drains and releases only what startEdge created.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { systemClock, type Clock } from '../core/clock.port';
import type { EdgeFleet } from '../core/fleet.port';
import type { StatsChannel } from '../core/stats.port';
import { SecretBox } from '../core/secret-box';
import { packageVersion } from '../core/version';
import type { Logger } from '../obs/logger.factory';
import { listenOnHandles, type AcceptHandles, type PublicListener } from './accept.handles';
import { createAdminApp } from './admin.routes';
import type { CacheStats, CacheStore } from './cache/cache-store.port';
import { LocalClientRates, type ClientRates } from './access/client-rates';
import { admitRequest, h2HeadWithinLimit, publicServerOptions, refuseHop, type ClientLimits } from './client-limits';
import { createCacheStore } from './cache/cache-store.factory';
import { QuotaSpells } from './cache/quota-spells';
import { TieredStore } from './cache/tiered.store';
import type { EdgeConfig } from './config';
import { ConnectionBudget } from './connection-budget';
import { EdgeMetrics, UNKNOWN_CUSTOMER, type Transport } from './edge.metrics';
import { LISTEN_BACKLOG, warnAboutConnectionLimits } from './limits.check';
import { CustomerSlots } from './origin/customer-slots';
import { OriginHealth, type OriginHealthChange, type OriginHealthReport } from './origin/origin-health';
import { originsDown } from './origin/origins-down';
import { OriginPools } from './origin/origin-pools';
import { OriginSelector } from './origin/origin-selector';
import { OriginTargets } from './origin/origin-target';
import { RetryBudgets } from './origin/retry-budget';
import { runPipeline } from './pipeline/request.fsm';
import { EncodedVariants } from './pipeline/encoded-variants';
import { Flights } from './pipeline/fetch.flight';
import { LOCAL_FILLS, type FillLocks } from './pipeline/fill-locks';
import { rulesOf, urlQueryOf } from './pipeline/customer-rules';
import { serveFromHitLane, type HitLane } from './pipeline/hit.lane';
import { keepAliveFields } from './pipeline/raw-answer';
import type { AccessLogChannel } from '../core/access-log.port';
import { AccessLog } from './logs/access-log';
import { AccessLogFiles } from './logs/access-log.files';
import { AccessLogTail } from './logs/access-log.tail';
import { ShieldDirectory } from './shield/shield-directory';
import { ShieldGate } from './shield/shield-gate';
import { ShieldRoute } from './shield/shield-route';
import { EdgeTransaction, sampled, type ClientRequest, type ClientResponse, type PipelineContext } from './pipeline/transaction';
import { createPurgeEngine, type PurgeEngine } from './purge/purge.engine';
import { purgeTargetOf } from './purge/purge-index.port';
import { meteredPurgeApplier } from './purge/purge.metered';
import type { LurkerSettings } from './purge/purge.lurker';
import { StatsReporter } from './stats/stats.reporter';
import { FleetReporter } from './sync/fleet-reporter';
import type { EdgeCustomerFeed, CustomerFeedEvent } from './customer-feed.port';
import { CertificateContexts } from './tls/certificate-contexts';
import { createTlsServer, type ServeRequest } from './tls/secure.server';
import { DrainGrace, drainGraceMs } from './drain-grace';
import { tlsContextOptions } from './tls/tls.settings';
import { LoopbackFetcher } from './warm/loopback.fetcher';
import { WarmReporter } from './warm/warm.reporter';
import { WarmRunner } from './warm/warm.runner';

export interface EdgeDeps {
  customers: EdgeCustomerFeed;
  logger: Logger;
  /** Freshness and Age; injectable for tests. */
  clock?: Clock;
  /** Defaults to the tiered store (memory over disk + LMDB index) under config.cacheDir; an injected store is not closed. */
  store?: CacheStore;
  /** false in a cluster worker: the primary serves the admin port for every worker. */
  serveAdmin?: boolean;
  /**
   * Told of every key this process deletes from the cache (unsafe-method invalidation),
   * so a cluster worker can have the others drop it from their memory tiers.
   */
  onInvalidate?: (keys: string[]) => void;
  /** Purge engine settings (lurker batch, intervals); tests shorten them. */
  purge?: Partial<LurkerSettings>;
  /** Where to send heartbeats and purge acks (the api's `edges` and purge progress); none: not reported. */
  fleet?: EdgeFleet;
  /** Where to publish per-customer traffic every CDN_EDGE_STATS_INTERVAL_MS (the api's live stats); none: not published. */
  stats?: StatsChannel;
  /** Where live tails of the access log are served from (the api's accessLog subscription); none: no live tail. */
  accessLogs?: AccessLogChannel;
  /** This process's id in the fleet and in stats reports (default config.edgeId; cluster workers add `#<n>`). */
  edgeId?: string;
  /** false: every request takes the pipeline, memory hits included (tests compare both paths). */
  hitLane?: boolean;
  /** Fill locks shared by the processes of this edge (a cluster worker's); default: this process alone. */
  fills?: FillLocks;
  /** Per-client rate budgets (delivery rules' rateLimit) shared by the processes of this edge (a cluster worker's); default: this process alone. */
  clientRates?: ClientRates;
  /** The weighted choice between origins and the spread of health checks (default Math.random; tests seed one). */
  random?: () => number;
}

export interface EdgeHandle {
  url: string;
  adminUrl: string;
  port: number;
  adminPort: number;
  /** The HTTPS port (`https://host:port`); undefined with CDN_EDGE_TLS_PORT=off. */
  tlsUrl: string | undefined;
  tlsPort: number | undefined;
  appliedSeq(): number;
  isReady(): boolean;
  /** This process's metrics (a cluster worker reports them to the primary). */
  metrics: EdgeMetrics;
  /** Drops keys from this process's memory tier only: another worker deleted them. */
  forgetLocal(keys: string[]): void;
  /** Requests answered by the hit lane (pipeline/hit.lane.ts) since start. */
  hitLaneServed(): number;
  /** The purge engine (bans, lurker, backlog); undefined with an injected store that cannot carry purges (no `purgeTarget`). */
  purges: PurgeEngine | undefined;
  /** The per-client rate budgets this edge's requests spend (deps.clientRates, or this process's own). */
  clientRates: ClientRates;
  /** The health of a customer's origins as this process sees it (undefined: no such customer). */
  originHealth(customerId: string): OriginHealthReport[] | undefined;
  /** Told when an origin goes down or comes back up in this process; returns the unsubscribe. */
  onOriginHealth(listener: (change: OriginHealthChange) => void): () => void;
  /** The origin shields this process sends its misses to (their URLs; empty on a shield, or with none live). */
  shields(): string[];
  /** Where other edges reach this shield (undefined on an edge). */
  shieldUrl: string | undefined;
  /** Stops accepting, finishes in-flight requests, closes origin pools, stops the feed. */
  close(): Promise<void>;
}

export async function startEdge(config: Readonly<EdgeConfig>, deps: EdgeDeps): Promise<EdgeHandle> {
  const { customers, logger } = deps;
  // Once per machine: the single process, or the first cluster worker (all share the limits).
  if (deps.serveAdmin !== false || cluster.worker?.id === 1) warnAboutConnectionLimits({ maxConnections: config.maxConnections, workers: config.workers }, logger);
  // Collect-time gauges read the store and the purge engine, created just below.
  let storeStats: (() => CacheStats | undefined) | undefined;
  let purgeEngine: PurgeEngine | undefined;
  let certificates: CertificateContexts | undefined;
  let health: OriginHealth | undefined;
  let accessLog: AccessLog | undefined;
  const metrics = new EdgeMetrics({
    accessLog: () => accessLog?.counts() ?? { written: 0, dropped: 0 },
    appliedSeq: () => customers.appliedSeq(),
    customers: () => customers.count(),
    busLag: () => customers.busLag?.() ?? 0,
    lurkerBacklog: () => purgeEngine?.backlog().bans ?? 0,
    cacheStats: () => storeStats?.(),
    tlsContexts: () => certificates?.size ?? 0,
    originStates: () => health?.states() ?? [],
    topUrls: config.topUrls,
    now: () => (deps.clock ?? systemClock).now(),
  });
  // The customers whose disk quota this process is evicting for (the heartbeat's quotasReached: the api's quota.reached).
  const quotaSpells = new QuotaSpells(() => (deps.clock ?? systemClock).now());
  const ownStore =
    deps.store === undefined
      ? createCacheStore({
          dir: config.cacheDir,
          maxObjectBytes: config.maxObjectBytes,
          maxBytes: config.cacheMaxBytes,
          memoryBytes: config.memoryBytes,
          memoryMaxObjectBytes: config.memoryMaxObjectBytes,
          quotaOf: (id) => deps.customers.byId(id)?.cacheQuotaBytes,
          onError: (err, what) => logger.warn({ err: err instanceof Error ? err.message : String(err) }, `disk cache: cannot ${what}`),
          onEvict: (customerId, cause, bytes) => {
            metrics.evicted(customerId);
            const quota = cause === 'quota' ? deps.customers.byId(customerId)?.cacheQuotaBytes : undefined;
            if (quota !== null && quota !== undefined) quotaSpells.evicted(customerId, bytes, quota);
          },
        })
      : undefined;
  const store: CacheStore = announceDeletes(deps.store ?? ownStore!, deps.onInvalidate);
  storeStats = store.stats === undefined ? undefined : () => store.stats!();
  const tiered = ownStore ?? (deps.store instanceof TieredStore ? deps.store : undefined);
  // Purges need a store that offers them (purge/purge-index.port.ts: the tiered store does); any other store runs without.
  const box = new SecretBox(config.secretKey);
  // Delivery rules that do not compile here, or signing keys this CDN_SECRET_KEY cannot open (once per customer version).
  const onRulesProblem = (customerId: string, message: string): void => logger.error({ customer: customerId }, message);
  const purges = createPurgeEngine(deps.store ?? ownStore!, { ...deps.purge, clock: deps.clock ?? systemClock, logger, queryOf: (id, path, query) => urlQueryOf(customers.byId(id), path, query, box, onRulesProblem) });
  const pools = new OriginPools({
    timeoutMs: config.originTimeoutMs,
    allowPrivateOrigins: config.allowPrivateOrigins,
    ca: config.origins.caFile === undefined ? undefined : [...rootCertificates, readFileSync(config.origins.caFile, 'utf8')],
  });
  const targets = new OriginTargets(box);
  const edgeId = deps.edgeId ?? config.edgeId;
  const { origins: o } = config;
  health = new OriginHealth({
    pools,
    logger,
    unhealthyThreshold: o.unhealthyThreshold,
    cooldownMs: o.cooldownMs,
    cdnId: config.cdnId,
    userAgent: `Edgeplane-health/${packageVersion()} (${edgeId})`,
    random: deps.random,
  });
  const origins = new OriginSelector({
    health,
    slots: new CustomerSlots(),
    budgets: new RetryBudgets(),
    defaults: { maxConnections: o.customerConnections, queueTimeoutMs: o.queueTimeoutMs, retryBudgetPercent: o.retryBudgetPercent, staleIfDownSeconds: o.staleIfDownSeconds, minRetries: o.minRetries },
    random: deps.random,
  });
  purgeEngine = purges;
  const clock = deps.clock ?? systemClock;
  certificates = config.tlsPort === undefined ? undefined : new CertificateContexts({ customers, box, clock, logger, options: tlsContextOptions() });
  // The delivery rules' rateLimit: this process's own budgets, or the cluster primary's (shared by the workers).
  const clientRates: ClientRates = deps.clientRates ?? new LocalClientRates({ now: () => clock.now() });
  const shielding = shieldingOf(config, deps, edgeId, clock);
  accessLog = accessLogOf(config, deps, edgeId, clock);
  const ctx: PipelineContext = {
    customers,
    store,
    pools,
    targets,
    origins,
    clock,
    metrics,
    logger,
    maxObjectBytes: config.maxObjectBytes,
    flights: new Flights(purges === undefined ? {} : { joinable: (f) => purges.joinable(f.req.customer.id, f.startedAt) }),
    fills: deps.fills ?? LOCAL_FILLS,
    purges,
    logSample: config.logSample,
    cdnId: config.cdnId,
    httpsPort: config.tlsPort === undefined ? undefined : config.tlsPublicPort,
    rules: (customer) => rulesOf(customer, box, onRulesProblem),
    accessLog,
    clientRates,
    signedUrlLeewaySeconds: config.signedUrlLeewaySeconds,
    shields: shielding.route,
    shieldGate: shielding.gate,
    compression: config.compression.enabled
      ? new EncodedVariants({ store, fills: deps.fills ?? LOCAL_FILLS, settings: config.compression, meter: metrics.compression, logger, clock })
      : undefined,
  };

  const unsubscribe = customers.subscribe((event) => {
    if (event.kind === 'deleted') metrics.forgetCustomer(event.customer.id);
    if (event.kind === 'deleted') quotaSpells.forget(event.customer.id);
    certificates?.onCustomerEvent(event);
    onCustomerEvent(event, { store, pools, targets, customers, logger });
    // Health checks follow the customer: started for new origins, stopped for changed, removed or deleted ones.
    if (event.kind === 'deleted') {
      origins.health.forget(event.customer.id);
      origins.budgets.forget(event.customer.id);
    } else {
      origins.health.sync(targets.of(event.customer));
    }
  });
  // Plain GETs for fresh objects in memory skip the pipeline (pipeline/hit.lane.ts).
  const lane: HitLane | undefined =
    tiered === undefined || deps.hitLane === false
      ? undefined
      : { memory: tiered.memory, touch: (key) => tiered.disk.touch(key), maxUrlBytes: config.maxUrlBytes, served: 0, connectionFields: keepAliveFields(config.keepAliveTimeoutMs) };
  const budget = new ConnectionBudget(config.maxConnections, logger);
  const serve = requestHandler(ctx, config, lane);
  const publicServer = createPublicServer(serve, config, { acceptHandles: config.acceptHandles, budget, logger });
  const tlsServer =
    certificates === undefined
      ? undefined
      : createTlsServer({
          contexts: certificates,
          secretKey: config.secretKey,
          http1: http1Options(config),
          http1ClientError: publicServerOptions(config).clientErrorHandler,
          maxHeaderBytes: config.maxHeaderBytes,
          handshakeTimeoutMs: config.clientTimeoutMs,
          idleTimeoutMs: config.keepAliveTimeoutMs,
          acceptHandles: config.acceptHandles,
          budget,
          metrics,
          logger,
          serve,
        });
  // One start time for the heartbeat and the warm reports: the api tells a restarted process by it.
  const startedAt = new Date().toISOString();
  /** Where other edges reach this shield: CDN_EDGE_SHIELD_URL, else this public port once it listens. */
  let shieldUrl = config.shield.url;
  const warm = startWarming(config, deps, { edgeId, startedAt, metrics, store: deps.store ?? ownStore!, clock, logger });
  const readiness = (): Readiness => readinessOf(customers, config.maxDetachedSeconds);
  const isReady = (): boolean => readiness().ready;
  const adminApp =
    deps.serveAdmin === false
      ? undefined
      : createAdminApp({ metrics, isReady, edgeId, appliedSeq: () => customers.appliedSeq(), details: () => readiness().details });
  const reporter =
    deps.fleet === undefined
      ? undefined
      : new FleetReporter({
          fleet: deps.fleet,
          feed: customers,
          edgeId,
          host: os.hostname(),
          version: packageVersion(),
          intervalMs: config.heartbeatMs,
          isReady,
          startedAt,
          role: config.shield.role,
          shieldUrl: () => shieldUrl,
          onOriginHealth: (listener) => origins.health.subscribe(listener),
          originsDown: () => originsDown(origins.health),
          quotasReached: () => quotaSpells.current(),
          cacheSize: () => {
            const stats = store.stats?.();
            return { objects: stats?.objects ?? 0, bytes: stats?.bytes ?? 0 };
          },
          logger,
        });
  const statsReporter =
    deps.stats === undefined ? undefined : new StatsReporter({ channel: deps.stats, recorder: metrics.recorder, edgeId, intervalMs: config.statsIntervalMs, logger, now: () => clock.now() });

  const close = async (): Promise<void> => {
    // First: its requests in flight are this edge's own, and its last reports go before the edge leaves the fleet.
    await warm?.close();
    await Promise.all([publicServer.close(), tlsServer?.close()]);
    shielding.directory?.stop();
    await shielding.route?.close();
    // After the last request: its traffic is in the final report, its lines in the files.
    await statsReporter?.stop();
    await accessLog?.close();
    await adminApp?.close();
    unsubscribe();
    await customers.stop();
    await reporter?.stop();
    await purges?.close();
    origins.health.close();
    await pools.close();
    await store.idle();
    await ownStore?.close();
  };
  try {
    if (purges !== undefined) {
      // Bans persisted before this start are checked from the first request on.
      await purges.restore();
      customers.attachPurges?.(
        meteredPurgeApplier(purges, { applied: (s) => metrics.purgeApply.observe(s), lag: (s) => metrics.purgeLag.observe(s) }),
      );
    }
    await customers.start();
    // Customers known before the first change event (a fixed list, a last-known-good copy) get their checks too.
    for (const c of customers.all()) origins.health.sync(targets.of(c));
    await publicServer.listen(config.host, config.port);
    await tlsServer?.listen(config.tlsHost, config.tlsPort!);
    await adminApp?.listen({ host: config.adminHost, port: config.adminPort });
    shieldUrl ??= `http://${urlHost(config.host)}:${(publicServer.server.address() as AddressInfo).port}`;
    reporter?.start();
    // The shields live now, before the first miss (never rejects: with the fleet away, misses go to the origins).
    await shielding.directory?.start();
    statsReporter?.start();
    accessLog?.start();
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
  const port = (publicServer.server.address() as AddressInfo).port;
  const adminPort = adminApp === undefined ? 0 : (adminApp.server.address() as AddressInfo).port;
  const tlsPort = tlsServer === undefined ? undefined : (tlsServer.server.address() as AddressInfo).port;
  warm?.listening(`http://${urlHost(config.host)}:${port}`, tlsPort === undefined ? undefined : `https://${urlHost(config.tlsHost)}:${tlsPort}`);
  return {
    url: `http://${urlHost(config.host)}:${port}`,
    adminUrl: `http://${urlHost(config.adminHost)}:${adminPort}`,
    port,
    adminPort,
    tlsUrl: tlsPort === undefined ? undefined : `https://${urlHost(config.tlsHost)}:${tlsPort}`,
    tlsPort,
    appliedSeq: () => customers.appliedSeq(),
    isReady,
    hitLaneServed: () => lane?.served ?? 0,
    forgetLocal: (keys) => {
      for (const key of keys) store.forget?.(key);
    },
    metrics,
    purges,
    clientRates,
    originHealth: (customerId) => (customers.byId(customerId) === undefined ? undefined : origins.health.report(customerId)),
    onOriginHealth: (listener) => origins.health.subscribe(listener),
    shields: () => shielding.directory?.nodes.map((n) => n.url) ?? [],
    shieldUrl: config.shield.role === 'shield' ? shieldUrl : undefined,
    close,
  };
}

/**
 * Cache warming (edge/warm), when the feed carries warms (the bus): the runner hears them from
 * the feed at once, so none read during start-up is missed, and fetches once the public port
 * listens (`listening`). Reports go over the fleet channel; the warmer lease is the index's,
 * shared by the processes of this edge (a store without one: this process warms alone).
 */
function startWarming(
  config: Readonly<EdgeConfig>,
  deps: EdgeDeps,
  o: { edgeId: string; startedAt: string; metrics: EdgeMetrics; store: CacheStore; clock: Clock; logger: Logger },
): { listening(plainUrl: string, tlsUrl: string | undefined): void; close(): Promise<void> } | undefined {
  const feed = deps.customers;
  if (feed.onWarmRequested === undefined) return undefined;
  let fetcher: LoopbackFetcher | undefined;
  let markListening!: (f: LoopbackFetcher) => void;
  const ready = new Promise<LoopbackFetcher>((resolve) => (markListening = resolve));
  const untilListening = (signal: AbortSignal): Promise<LoopbackFetcher | undefined> =>
    new Promise((resolve) => {
      const onAbort = (): void => resolve(undefined);
      signal.addEventListener('abort', onAbort, { once: true });
      void ready.then((f) => {
        signal.removeEventListener('abort', onAbort);
        resolve(f);
      });
    });
  const lease = purgeTargetOf(o.store)?.index;
  const fleet = deps.fleet;
  const runner = new WarmRunner({
    edgeId: config.edgeId,
    process: o.edgeId,
    processStartedAt: o.startedAt,
    concurrency: config.warm.concurrency,
    ratePerSecond: config.warm.ratePerSecond,
    customers: feed,
    fetch: async (target, options) => {
      const listening = fetcher ?? (await untilListening(options.signal));
      // Closed before the port ever listened: no answer, and nothing waits forever.
      return listening === undefined ? { status: null, cache: null, retryAfterSeconds: null, error: 'the edge closed' } : listening.fetch(target, options);
    },
    tls: config.tlsPort !== undefined,
    claim: (ttlMs) => (lease === undefined ? Promise.resolve(true) : lease.lease('warmer', ttlMs)),
    reporter: new WarmReporter({ send: (reports) => (fleet === undefined ? Promise.resolve() : fleet.reportWarms(reports)), logger: o.logger }),
    counted: (customerId, outcome) => o.metrics.warmRequest(customerId, outcome),
    onIdle: () => fetcher?.idle(),
    logger: o.logger,
    now: () => o.clock.now(),
  });
  const unsubscribe = feed.onWarmRequested((warm) => runner.requested(warm));
  return {
    listening(plainUrl, tlsUrl) {
      fetcher = new LoopbackFetcher({
        plainUrl,
        tlsUrl,
        connections: config.warm.concurrency,
        // Beyond the edge's own wait for the origin: the edge answers (504) before this gives up.
        timeoutMs: config.originTimeoutMs + 5_000,
        userAgent: `Edgeplane-warm/${packageVersion()} (${o.edgeId})`,
      });
      markListening(fetcher);
    },
    async close() {
      unsubscribe();
      await runner.close();
      await fetcher?.close();
    },
  };
}

/**
 * Origin shields (edge/shield, docs/EDGE.md "Origin shield"). A shield (CDN_EDGE_ROLE=shield)
 * judges the hops other edges send it and sends its own misses to the origins, never to a
 * shield. An edge with a fleet channel sends its misses to the live shields the fleet lists
 * (none: to the origins), unless CDN_EDGE_SHIELDS=off.
 */
function shieldingOf(config: Readonly<EdgeConfig>, deps: EdgeDeps, edgeId: string, clock: Clock): { gate?: ShieldGate; route?: ShieldRoute; directory?: ShieldDirectory } {
  const { customers, logger } = deps;
  if (config.shield.role === 'shield') {
    return { gate: new ShieldGate({ secretKey: config.secretKey, appliedSeq: () => customers.appliedSeq(), seqWaitMs: config.shield.seqWaitMs, now: () => clock.now() }) };
  }
  if (deps.fleet === undefined || !config.shield.use) return {};
  const directory = new ShieldDirectory({ fleet: deps.fleet, intervalMs: config.heartbeatMs, logger });
  const route = new ShieldRoute({ directory, secretKey: config.secretKey, edgeId, appliedSeq: () => customers.appliedSeq(), timeoutMs: config.originTimeoutMs, logger, now: () => clock.now() });
  return { directory, route };
}

/**
 * The access log (edge/logs, docs/EDGE.md "Access logs"): export files with CDN_LOG_DIR, a
 * live tail with an access log channel; neither: none, and the request path does nothing.
 */
function accessLogOf(config: Readonly<EdgeConfig>, deps: EdgeDeps, edgeId: string, clock: Clock): AccessLog | undefined {
  const { dir, retentionHours, bufferBytes, tailPerSecond } = config.accessLog;
  const now = (): number => clock.now();
  const files = dir === undefined ? undefined : new AccessLogFiles({ dir, edgeId, retentionHours, maxBufferBytes: bufferBytes, now, logger: deps.logger });
  const tail = deps.accessLogs === undefined ? undefined : new AccessLogTail({ channel: deps.accessLogs, edgeId, perSecond: tailPerSecond, logger: deps.logger, now });
  return files === undefined && tail === undefined ? undefined : new AccessLog({ files, tail, edgeId, now });
}

interface Readiness {
  ready: boolean;
  details: Record<string, unknown>;
}

/**
 * Ready: a configuration is applied, and the change bus was read to its end within
 * CDN_EDGE_MAX_DETACHED_SECONDS and since any stall of the process. A detached edge keeps
 * serving what it knows; failing /readyz lets a load balancer drain it until it has caught
 * up (docs/ARCHITECTURE.md, "The change bus").
 */
function readinessOf(customers: EdgeCustomerFeed, maxDetachedSeconds: number): Readiness {
  if (!customers.isReady()) return { ready: false, details: { reason: 'no configuration applied yet' } };
  const contact = customers.busContact?.();
  if (contact === undefined) return { ready: true, details: {} };
  const detachedSeconds = Math.floor(contact.detachedMs / 1000);
  if (contact.stalled) return { ready: false, details: { reason: 'this process was stalled: catching up with the change bus', detachedSeconds } };
  if (contact.detachedMs > maxDetachedSeconds * 1000) {
    return { ready: false, details: { reason: `cannot reach the change bus for ${detachedSeconds} s (CDN_EDGE_MAX_DETACHED_SECONDS=${maxDetachedSeconds})`, detachedSeconds } };
  }
  return { ready: true, details: { detachedSeconds } };
}

/** What both public ports do with a request: the hit lane when it can, else the client limits and the pipeline. */
function requestHandler(ctx: PipelineContext, limits: ClientLimits, lane: HitLane | undefined): ServeRequest {
  return (req: ClientRequest, res: ClientResponse, expectsContinue: boolean, transport: Transport): void => {
    // The lane leaves to the pipeline what it must judge (CDN-Loop, a shield's hop: hit.lane.ts),
    // and so does an h2 head too large (HTTP/1's parser refuses those before they get here).
    if (
      lane !== undefined &&
      (transport !== 'h2' || h2HeadWithinLimit(req.rawHeaders, limits)) &&
      serveFromHitLane(req, res, ctx, lane, transport, ctx.accessLog === undefined ? 0 : performance.now())
    ) {
      return;
    }
    const tx = new EdgeTransaction(req, res, transport);
    res.once('close', () => finish(tx, ctx));
    // On a shield: a request from another edge of the fleet is judged before anything else.
    if (ctx.shieldGate !== undefined && ShieldGate.carriesHop(req)) {
      const verdict = ctx.shieldGate.admit(req);
      if (!verdict.ok) {
        ctx.metrics.shieldHop('refused');
        ctx.logger.warn({ reason: verdict.reason, client: req.socket?.remoteAddress }, 'refused an origin shield hop');
        refuseHop(tx, verdict.reason);
        return;
      }
      tx.hop = verdict.claims;
    }
    if (!admitRequest(tx, limits, !isDecodableTarget(req.url ?? '/'), expectsContinue)) return;
    void runPipeline(tx, ctx);
  };
}

/** node:http's options of the public port, for the plain server and HTTP/1.1 over TLS alike. */
function http1Options(limits: ClientLimits): ReturnType<typeof publicServerOptions>['http'] & { keepAliveTimeout: number; requestTimeout: number } {
  const options = publicServerOptions(limits);
  return { ...options.http, keepAliveTimeout: options.keepAliveTimeout, requestTimeout: options.requestTimeout };
}

/**
 * The plain public port: node:http, because every request goes to the pipeline, which
 * writes to the raw response itself; a framework's routing and request/reply objects
 * would only add work to the hit path.
 */
function createPublicServer(
  handle: ServeRequest,
  limits: ClientLimits,
  accept: { acceptHandles: number; budget: ConnectionBudget; logger: Logger },
): PublicListener {
  let fanout: AcceptHandles | undefined;
  const options = publicServerOptions(limits);
  let closing = false;
  // Connections that have not sent a request yet. close() gives them a short grace
  // (drain-grace.ts) and then ends them: Node's closeIdleConnections() only knows connections
  // between two requests, and once the server closes it no longer times out a silent one,
  // which would hold close() forever.
  const silent = new Set<Socket>();
  const grace = new DrainGrace();
  const serve = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void => {
    silent.delete(req.socket);
    if (closing) res.shouldKeepAlive = false;
    handle(req, res, expectsContinue, 'http');
  };
  const server = createServer(http1Options(limits), (req, res) => serve(req, res, false));
  // Expect: 100-continue: admitRequest sends `100 Continue` only to a request it accepts (Node would send it to every one).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => serve(req, res, true));
  server.on('clientError', options.clientErrorHandler);
  server.on('connection', (socket: Socket) => {
    if (!accept.budget.admit(socket)) return;
    // Accepted by a copy of the listening socket after the grace ended: nothing may wait on it.
    if (grace.over) {
      socket.destroy();
      return;
    }
    silent.add(socket);
    socket.once('close', () => silent.delete(socket));
  });
  return {
    server,
    listen: async (host, port) => {
      // A backlog above Node's default (511): a burst of new connections that finds the
      // accept queue full has its handshake's last ACK dropped, and the client's request
      // then waits for TCP retransmission (seconds of tail latency). Capped by somaxconn.
      // Several sockets, so a burst of new connections is not admitted one per turn.
      fanout = await listenOnHandles(
        server,
        { host, port, backlog: LISTEN_BACKLOG, handles: accept.acceptHandles, exclusive: cluster.isWorker, probe: !cluster.isWorker },
        accept.logger,
      );
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        closing = true;
        // Stop accepting; in-flight requests finish, then their connections close too.
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        // The copies count the connections they accepted, the server its own: done when both are.
        const copiesClosed = fanout?.close() ?? Promise.resolve();
        server.close(() => {
          void copiesClosed.then(() => {
            clearInterval(sweep);
            grace.stop();
            resolve();
          });
        });
        server.closeIdleConnections();
        grace.start(drainGraceMs(limits.clientTimeoutMs), () => {
          for (const socket of silent) socket.destroy();
        });
      }),
  };
}

/** A target whose path is not valid percent-encoding is refused (400) before any lookup. */
function isDecodableTarget(target: string): boolean {
  const q = target.indexOf('?');
  try {
    decodeURIComponent(q < 0 ? target : target.slice(0, q));
    return true;
  } catch {
    return false;
  }
}

/** Once per request, when the response is done or the client has gone. */
function finish(tx: EdgeTransaction, ctx: PipelineContext): void {
  const aborted = !tx.res.writableFinished;
  if (aborted) {
    // The client left: stop the origin transfer; the store sees it and keeps nothing.
    tx.abort?.abort();
    tx.origin?.body.destroy();
    tx.body?.destroy();
  }
  const customer = tx.customer?.id ?? UNKNOWN_CUSTOMER;
  // A shield's hop is another edge's miss, already counted there as the customer's request:
  // only the shield's origin requests count for the customer here (and the hop in its own counter).
  if (tx.hop !== undefined) ctx.metrics.shieldHop('served');
  // The path for the top paths: known once resolve ran (a request refused before has none to count).
  else ctx.metrics.meter(customer).answered(tx.cache, tx.res.statusCode, tx.bytes, tx.transport, tx.path === '' ? undefined : tx.path);
  // The access log: the customer's client requests (not a shield's hops: the asking edge logs those; not unknown hosts).
  const accessLog = ctx.accessLog;
  if (accessLog !== undefined && tx.hop === undefined && tx.customer !== undefined && accessLog.wants(customer)) {
    accessLog.record(tx.req, {
      customer,
      host: tx.host,
      path: tx.path,
      status: tx.res.statusCode,
      bytes: tx.bytes,
      cache: tx.cache,
      originMs: tx.originMs,
      startedAt: tx.startedAt,
      transport: tx.transport,
      aborted,
    });
  }
  // Never headers or the query (tokens, credentials): the path, and what the edge did.
  if (!sampled(ctx)) return;
  ctx.logger.info(
    {
      customer,
      method: tx.req.method,
      transport: tx.transport,
      path: tx.path,
      status: tx.res.statusCode,
      cache: tx.cache,
      bytes: tx.bytes,
      originMs: tx.originMs === undefined ? undefined : Math.round(tx.originMs),
      ms: Math.round(performance.now() - tx.startedAt),
      aborted: aborted || undefined,
    },
    'request',
  );
}

function onCustomerEvent(
  event: CustomerFeedEvent,
  deps: { store: CacheStore; pools: OriginPools; targets: OriginTargets; customers: EdgeCustomerFeed; logger: Logger },
): void {
  const { store, pools, targets, customers, logger } = deps;
  if (event.kind === 'deleted') {
    store.deleteCustomer(event.customer.id).catch((err: unknown) =>
      logger.warn({ customer: event.customer.id, err: err instanceof Error ? err.message : String(err) }, 'cannot remove the cache of a deleted customer'),
    );
  } else if (event.previous === undefined || samePools(targets.of(event.previous).all, targets.of(event.customer).all)) {
    return;
  }
  // An origin no customer uses any more keeps no sockets open.
  pools.prune(new Set(customers.all().flatMap((c) => targets.of(c).all.map((t) => t.poolKey))));
}

function samePools(a: readonly { poolKey: string }[], b: readonly { poolKey: string }[]): boolean {
  return a.length === b.length && a.every((t) => b.some((u) => u.poolKey === t.poolKey));
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** The store, with every delete also reported to `onInvalidate` (when given). */
function announceDeletes(store: CacheStore, onInvalidate: ((keys: string[]) => void) | undefined): CacheStore {
  if (onInvalidate === undefined) return store;
  return {
    get: (key) => store.get(key),
    put: (key, meta, body, options) => store.put(key, meta, body, options),
    updateMeta: (key, meta) => store.updateMeta(key, meta),
    delete: async (key) => {
      await store.delete(key);
      onInvalidate([key]);
    },
    forget: (key) => store.forget?.(key),
    deleteCustomer: (customerId) => store.deleteCustomer(customerId),
    idle: () => store.idle(),
    stats: store.stats === undefined ? undefined : () => store.stats!(),
    close: store.close === undefined ? undefined : () => store.close!(),
  };
}
