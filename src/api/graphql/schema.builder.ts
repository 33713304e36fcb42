/**
 * Builds the GraphQL schema from the resolvers. Used by the server, by
 * scripts/emit-schema.ts and by the staleness test, so all three see the same schema.
 */
import 'reflect-metadata';
import { createPubSub } from '@graphql-yoga/subscription';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { AlertResolver } from './alert.resolver';
import { AccessLogResolver } from './access-log.resolver';
import { AuditResolver } from './audit.resolver';
import { authChecker } from './auth.checker';
import { CertificateStatusResolver } from './certificate-status.resolver';
import { CertificateResolver } from './certificate.resolver';
import type { ApiPubSub } from './context.type';
import { CustomerChangeResolver } from './customer-change.resolver';
import { CustomerResolver } from './customer.resolver';
import { DeliveryResolver } from './delivery.resolver';
import { EdgeResolver } from './edge.resolver';
import { OriginHealthResolver } from './origin-health.resolver';
import { OriginResolver } from './origin.resolver';
import { PurgeStatusResolver } from './purge-status.resolver';
import { PurgeResolver } from './purge.resolver';
import { StatsResolver } from './stats.resolver';
import { TokenResolver } from './token.resolver';
import { TrafficTopResolver } from './traffic-top.resolver';
import { WarmStatusResolver } from './warm-status.resolver';
import { WarmResolver } from './warm.resolver';
import { WebhookResolver } from './webhook.resolver';

export async function buildApiSchema(options: { pubSub?: ApiPubSub } = {}): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [CustomerResolver, CustomerChangeResolver, CertificateResolver, CertificateStatusResolver, DeliveryResolver, OriginResolver, OriginHealthResolver, PurgeResolver, PurgeStatusResolver, WarmResolver, WarmStatusResolver, EdgeResolver, StatsResolver, AccessLogResolver, AuditResolver, TokenResolver, AlertResolver, WebhookResolver, TrafficTopResolver],
    authChecker,
    // Inputs are checked by the services with core's rules, not by class-validator.
    validate: false,
    pubSub: options.pubSub ?? createPubSub(),
  });
}

/** Deterministic SDL: sorted, so the committed file only changes when the schema does. */
export function printApiSchema(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
