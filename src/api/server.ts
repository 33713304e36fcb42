/**
 * The `cdn api` process wiring: Fastify + Apollo Server at /graphql (HTTP), graphql-ws
 * on the same path, the IDE page, health and metrics, the outbox relay and the change
 * feed. Logic lives in services/, the schema in graphql/; this file only connects them.
 * The caller owns the DataSource (initialised and migrated) and the bus.
 */
import 'reflect-metadata';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import { createPubSub } from '@graphql-yoga/subscription';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { GraphQLError } from 'graphql';
import type { DataSource } from 'typeorm';
import type { Change } from '../core/bus.events';
import type { ChangeBus } from '../core/bus.port';
import type { EdgeFleet } from '../core/fleet.port';
import { isCdnError } from '../core/errors';
import { SecretBox } from '../core/secret-box';
import type { Logger } from '../obs/logger.factory';
import type { ApiConfig } from './config';
import { configToGraphqlCustomer } from './db/customer.mapper';
import { CustomerEntity } from './db/customer.entity';
import { Database } from './db/database';
import { CUSTOMER_CHANGED, type ApiContext, type ApiPubSub, type ApiServices } from './graphql/context.type';
import { CustomerChange, CustomerChangeKind } from './graphql/customer-change.type';
import { formatApiError, toGraphQLError } from './graphql/error.format';
import { buildApiSchema } from './graphql/schema.builder';
import { attachSubscriptions } from './graphql/subscriptions.server';
import { registerHealthRoutes } from './plugins/health.routes';
import { idePageHtml, wantsIde } from './plugins/ide.page';
import { ApiMetrics } from './plugins/metrics.registry';
import { operationMetricsPlugin } from './plugins/operation-metrics.plugin';
import { Authenticator } from './services/auth.service';
import { ChangeFeed } from './services/change-feed.service';
import { ChangeRelay } from './services/change-relay.service';
import { CustomerService } from './services/customer.service';
import { EdgeFleetService } from './services/edge-fleet.service';
import { PurgeAckCollector } from './services/purge-acks.service';
import { PurgeSignals } from './services/purge-signals';
import { PurgeTracker } from './services/purge-tracker.service';
import { PurgeService } from './services/purge.service';

export { buildApiSchema, printApiSchema } from './graphql/schema.builder';

export const GRAPHQL_PATH = '/graphql';
const GRAPHQL_BODY_LIMIT = 1024 * 1024;

export interface ApiDeps {
  /** Initialised and migrated by the caller, who also destroys it. */
  dataSource: DataSource;
  /** Owned (and closed) by the caller. */
  bus: ChangeBus;
  /** Edges' heartbeats and purge acks. Owned (and closed) by the caller, after close(). */
  fleet: EdgeFleet;
  logger: Logger;
}

export interface ApiHandle {
  /** http://host:port */
  url: string;
  port: number;
  /**
   * Drains: stops accepting, lets in-flight requests finish, closes websockets, stops
   * the relay, the change feed and the ack collector; mutations waiting for edges answer
   * with the purge's state at that moment. Leaves the DataSource, the bus and the fleet
   * to the caller.
   */
  close(): Promise<void>;
}

export async function startApi(config: ApiConfig, deps: ApiDeps): Promise<ApiHandle> {
  const log = deps.logger;
  const db = new Database(deps.dataSource);
  const metrics = new ApiMetrics();
  const relay = new ChangeRelay({ db, bus: deps.bus, logger: log, onPublished: (seq) => metrics.setPublishedSeq(seq) });
  const signals = new PurgeSignals();
  const purgeTracker = new PurgeTracker({ db, fleet: deps.fleet, signals, logger: log });
  const acks = new PurgeAckCollector({ db, fleet: deps.fleet, tracker: purgeTracker, signals, logger: log });
  const services: ApiServices = {
    customers: new CustomerService({
      db,
      secretBox: new SecretBox(config.secretKey),
      originPolicy: { allowPrivateOrigins: config.allowPrivateOrigins },
      logger: log,
      onCommitted: () => relay.kick(),
    }),
    purges: new PurgeService({ db, logger: log, onCommitted: () => relay.kick() }),
    purgeTracker,
    fleet: new EdgeFleetService(deps.fleet),
  };
  const authenticator = new Authenticator(config.adminToken);
  const pubSub: ApiPubSub = createPubSub();
  const feed = new ChangeFeed({ bus: deps.bus, logger: log, deliver: (c) => publishChange(c, pubSub, db) });
  const schema = await buildApiSchema({ pubSub });

  const app = Fastify({
    // pino's Logger type is stricter than Fastify's; the instance is the same kind.
    loggerInstance: log.child({ component: 'http' }) as FastifyBaseLogger,
  });
  const apollo = new ApolloServer<ApiContext>({
    schema,
    csrfPrevention: true,
    // The process owner (src/bin) drains on SIGTERM; Apollo's own handler would re-raise the signal and kill the process mid-drain.
    stopOnTerminationSignals: false,
    includeStacktraceInErrorResponses: false,
    formatError: (formatted, error) => formatApiError(formatted, error, log),
    plugins: [ApolloServerPluginLandingPageDisabled(), fastifyApolloDrainPlugin(app), operationMetricsPlugin(metrics)],
  });
  await apollo.start();

  const graphqlHandler = fastifyApolloHandler(apollo, {
    context: async (request) => {
      try {
        return { principal: authenticator.authenticate(request.headers.authorization), services };
      } catch (err) {
        // Thrown from the context function, Apollo answers with this error and its HTTP status (401).
        throw isCdnError(err) ? toGraphQLError(err) : new GraphQLError('Authentication failed', { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
      }
    },
  });
  app.route({
    method: ['GET', 'POST', 'OPTIONS'],
    url: GRAPHQL_PATH,
    bodyLimit: GRAPHQL_BODY_LIMIT,
    // A browser opening /graphql gets the IDE (no auth: it holds no data); every GraphQL request goes on to Apollo.
    onRequest: async (request, reply) => {
      if (wantsIde(request.method, request.headers.accept)) {
        return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(idePageHtml());
      }
      return undefined;
    },
    handler: graphqlHandler,
  });
  registerHealthRoutes(app, {
    database: () => db.ping(),
    bus: () => deps.bus.publishedSeq(),
  });
  app.get('/metrics', async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  await app.listen({ host: config.host, port: config.port });
  const subscriptions = attachSubscriptions({ server: app.server, path: GRAPHQL_PATH, schema, authenticator, services, logger: log });
  relay.start();
  feed.start();
  acks.start();

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
        feed.stop();
        // Wakes purge waiters: subscriptions end, mutations with waitForEdges answer now instead of holding the drain.
        purgeTracker.close();
        // Websockets first: an upgraded socket would otherwise keep the HTTP server from closing.
        await subscriptions.close();
        // Apollo's drain plugin closes Fastify, which stops accepting and waits for in-flight requests.
        await apollo.stop();
        await acks.stop();
        await relay.stop();
        log.info('api stopped');
      })();
      return closing;
    },
  };
}

/** Turns one bus change into a `customerChanged` event for this replica's subscribers. */
async function publishChange(change: Change, pubSub: ApiPubSub, db: Database): Promise<void> {
  const event = change.event;
  if (event.kind === 'purge.requested') return; // purges have their own subscription (purgeStatus)
  const payload = new CustomerChange();
  payload.seq = change.seq;
  if (event.kind === 'customer.deleted') {
    payload.kind = CustomerChangeKind.DELETED;
    payload.customerId = event.customerId;
    payload.customer = null;
  } else {
    payload.kind = event.customer.version === 1 ? CustomerChangeKind.CREATED : CustomerChangeKind.UPDATED;
    payload.customerId = event.customer.id;
    // The bus carries no creation time; the row has it (unless deleted since, then updatedAt stands in).
    const row = await db.read((m) => m.getRepository(CustomerEntity).findOne({ where: { id: event.customer.id }, select: { id: true, createdAt: true } }));
    payload.customer = configToGraphqlCustomer(event.customer, row?.createdAt ?? new Date(event.customer.updatedAt));
  }
  pubSub.publish(CUSTOMER_CHANGED, payload);
}
