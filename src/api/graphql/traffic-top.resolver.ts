/**
 * Top URLs and status codes: the `trafficTop` query, served from the minute summaries every
 * edge process ships and every api stores (services/traffic-top.service.ts). Who may read it:
 * as cacheStats (stats.read: the customer's own roles, viewer and up, and the platform roles).
 * NOT_FOUND for an unknown customer; BAD_USER_INPUT for minutes or first out of range.
 */
import { Arg, Authorized, Ctx, ID, Int, Query, Resolver } from 'type-graphql';
import { cdnError } from '../../core/errors';
import type { ApiContext } from './context.type';
import { StatusCount, TopPath, TrafficTop } from './traffic-top.type';

@Resolver()
export class TrafficTopResolver {
  @Authorized('stats.read@customerId')
  @Query(() => TrafficTop, {
    description:
      "A customer's busiest paths and its status codes over the last `minutes` whole minutes (1 up to CDN_API_TOP_RETENTION_HOURS × 60; the current minute is not in it), " +
      'merged over every edge process: paths with their bounds, status codes exact. first: 1 to 100 paths. NOT_FOUND for an unknown customer.',
  })
  async trafficTop(
    @Ctx() ctx: ApiContext,
    @Arg('customerId', () => ID) customerId: string,
    @Arg('minutes', () => Int, { defaultValue: 60 }) minutes: number,
    @Arg('first', () => Int, { defaultValue: 10 }) first: number,
  ): Promise<TrafficTop> {
    if (!(await ctx.services.customers.get(customerId))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
    const top = await ctx.services.trafficTop.top(customerId, minutes, first);
    return Object.assign(new TrafficTop(), {
      ...top,
      paths: top.paths.map((p) => Object.assign(new TopPath(), p)),
      statuses: top.statuses.map((s) => Object.assign(new StatusCount(), s)),
    });
  }
}
