/** Purge queries and the `purgeCache` mutation. Thin: arguments in, services, mapper out. */
import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { cdnError } from '../../core/errors';
import type { PurgeRecord } from '../domain/purge.types';
import type { Principal } from '../services/bearer.authenticator';
import { PURGE_PAGE_SIZE_DEFAULT } from '../services/purge.service';
import { mayAccess } from './access';
import type { ApiContext } from './context.type';
import { PageInfo } from './customer-connection.type';
import { toGraphqlCustomer } from './customer.mapper';
import type { Customer } from './customer.type';
import { PurgeConnection } from './purge-connection.type';
import { PurgeInput } from './purge.input';
import { toGraphqlPurge } from './purge.mapper';
import { Purge } from './purge.type';

/** Who asked, for the purge's (or warm's) record. */
export function requestedBy(principal: Principal | null): string | null {
  if (!principal) return null;
  return principal.tokenId ? `${principal.kind}:${principal.tokenId}` : principal.kind;
}

/** The GraphQL customer of these purges or warms (they belong to one customer, or to few). */
export async function customersOf(ctx: ApiContext, purges: readonly Pick<PurgeRecord, 'customerId'>[]): Promise<Map<string, Customer>> {
  const out = new Map<string, Customer>();
  for (const id of new Set(purges.map((p) => p.customerId))) {
    const entity = await ctx.services.customers.get(id);
    // Purges go with their customer (cascade); a miss is a deletion racing this read.
    if (!entity) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', id);
    out.set(id, toGraphqlCustomer(entity));
  }
  return out;
}

export async function toGraphqlPurges(ctx: ApiContext, purges: readonly PurgeRecord[]): Promise<Purge[]> {
  const [states, customers] = await Promise.all([ctx.services.purgeTracker.states(purges), customersOf(ctx, purges)]);
  return states.map((s) => toGraphqlPurge(s, customers.get(s.purge.customerId)!));
}

@Resolver(() => Purge)
export class PurgeResolver {
  @Authorized('purge.create@input.customerId')
  @Mutation(() => Purge, {
    description:
      'Purges cached objects of one customer at every edge. Returns at once (completedAt null until every live edge has applied it), ' +
      'or with waitForEdges once every live edge has applied it or waitTimeoutMs has passed: then the live edges with appliedAt null are those that had not.',
  })
  async purgeCache(@Ctx() ctx: ApiContext, @Arg('input', () => PurgeInput) input: PurgeInput): Promise<Purge> {
    const { purge, valid } = await ctx.services.purges.request(
      { customerId: input.customerId, kind: input.kind, value: input.value ?? null, soft: input.soft, waitTimeoutMs: input.waitTimeoutMs },
      requestedBy(ctx.principal),
    );
    const state = input.waitForEdges
      ? await ctx.services.purgeTracker.waitUntilComplete(purge, valid.waitTimeoutMs)
      : await ctx.services.purgeTracker.state(purge);
    const customers = await customersOf(ctx, [purge]);
    return toGraphqlPurge(state, customers.get(purge.customerId)!);
  }

  @Authorized('purge.read')
  @Query(() => Purge, { nullable: true, description: 'One purge, or null when there is none with that id (or it is another customer\'s).' })
  async purge(@Ctx() ctx: ApiContext, @Arg('id', () => ID) id: string): Promise<Purge | null> {
    const entity = await ctx.services.purges.get(id);
    return entity && mayAccess(ctx.principal, 'purge.read', entity.customerId) ? (await toGraphqlPurges(ctx, [entity]))[0]! : null;
  }

  @Authorized('purge.read@customerId')
  @Query(() => PurgeConnection, { description: "A customer's purges, newest first, a page at a time (first: 1 to 500). NOT_FOUND for an unknown customer." })
  async purges(
    @Ctx() ctx: ApiContext,
    @Arg('customerId', () => ID) customerId: string,
    @Arg('first', () => Int, { nullable: true, defaultValue: PURGE_PAGE_SIZE_DEFAULT }) first: number | null,
    @Arg('after', () => String, { nullable: true, description: 'pageInfo.endCursor of the previous page.' }) after?: string | null,
  ): Promise<PurgeConnection> {
    const page = await ctx.services.purges.list(customerId, { first: first ?? PURGE_PAGE_SIZE_DEFAULT, after: after ?? null });
    const connection = new PurgeConnection();
    connection.nodes = await toGraphqlPurges(ctx, page.nodes);
    connection.totalCount = page.totalCount;
    connection.pageInfo = Object.assign(new PageInfo(), { endCursor: page.endCursor, hasNextPage: page.hasNextPage });
    return connection;
  }
}
