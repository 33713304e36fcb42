/**
 * The `warmCache` mutation and the `warm` / `warms` queries. Thin: arguments in, services,
 * mapper out. Warming takes the purge capabilities (core/roles.ts): whoever may purge a
 * customer's cache may warm it (both make every edge go to the origin; a warm is bounded by
 * CDN_WARM_MAX_URLS and the edges' rate per origin), and whoever may see its purges may see
 * its warms.
 */
import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { WarmRecord } from '../domain/warm.types';
import { WARM_PAGE_SIZE_DEFAULT } from '../services/warm.service';
import { mayAccess } from './access';
import type { ApiContext } from './context.type';
import { PageInfo } from './customer-connection.type';
import { customersOf, requestedBy } from './purge.resolver';
import { WarmConnection } from './warm-connection.type';
import { toGraphqlWarm } from './warm.mapper';
import { Warm } from './warm.type';

export async function toGraphqlWarms(ctx: ApiContext, warms: readonly WarmRecord[]): Promise<Warm[]> {
  const [states, customers] = await Promise.all([ctx.services.warmTracker.states(warms), customersOf(ctx, warms)]);
  return states.map((s) => toGraphqlWarm(s, customers.get(s.warm.customerId)!));
}

@Resolver(() => Warm)
export class WarmResolver {
  @Authorized('purge.create@customerId')
  @Mutation(() => Warm, {
    description:
      "Warms one customer's cache: every live edge (or the one named) fetches each URL through its own request path, as a client's miss would, " +
      'at most CDN_EDGE_WARM_CONCURRENCY at a time and CDN_EDGE_WARM_RATE_PER_SECOND per origin. Returns at once; follow it with warmStatus or the warm query.',
  })
  async warmCache(
    @Ctx() ctx: ApiContext,
    @Arg('customerId', () => ID) customerId: string,
    @Arg('urls', () => [String], {
      description:
        "Paths (/index.html, /img/logo.png?v=2: warmed on the customer's first domain) or absolute http(s) URLs on the customer's domains, " +
        'at most CDN_WARM_MAX_URLS (default 1000), each at most 2048 characters; the same URL twice is warmed once.',
    })
    urls: string[],
    @Arg('edgeId', () => ID, { nullable: true, description: 'Only this edge warms (CDN_EDGE_ID, as `edges` lists it; a cluster worker\'s id means its edge). It must be live. Left out: every live edge.' })
    edgeId?: string | null,
  ): Promise<Warm> {
    const warm = await ctx.services.warms.request({ customerId, urls, edgeId: edgeId ?? null }, requestedBy(ctx.principal));
    return (await toGraphqlWarms(ctx, [warm]))[0]!;
  }

  @Authorized('purge.read')
  @Query(() => Warm, { nullable: true, description: "One warm, or null when there is none with that id (or it is another customer's)." })
  async warm(@Ctx() ctx: ApiContext, @Arg('id', () => ID) id: string): Promise<Warm | null> {
    const record = await ctx.services.warms.get(id);
    return record && mayAccess(ctx.principal, 'purge.read', record.customerId) ? (await toGraphqlWarms(ctx, [record]))[0]! : null;
  }

  @Authorized('purge.read@customerId')
  @Query(() => WarmConnection, { description: "A customer's warms, newest first, a page at a time (first: 1 to 500). NOT_FOUND for an unknown customer." })
  async warms(
    @Ctx() ctx: ApiContext,
    @Arg('customerId', () => ID) customerId: string,
    @Arg('first', () => Int, { nullable: true, defaultValue: WARM_PAGE_SIZE_DEFAULT }) first: number | null,
    @Arg('after', () => String, { nullable: true, description: 'pageInfo.endCursor of the previous page.' }) after?: string | null,
  ): Promise<WarmConnection> {
    const page = await ctx.services.warms.list(customerId, { first: first ?? WARM_PAGE_SIZE_DEFAULT, after: after ?? null });
    const connection = new WarmConnection();
    connection.nodes = await toGraphqlWarms(ctx, page.nodes);
    connection.totalCount = page.totalCount;
    connection.pageInfo = Object.assign(new PageInfo(), { endCursor: page.endCursor, hasNextPage: page.hasNextPage });
    return connection;
  }
}
