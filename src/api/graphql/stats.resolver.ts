/**
 * Live cache statistics: the `cacheStats` and `fleetStats` subscriptions (one event per
 * interval, zeros included; `after` resumes a stream, on any replica, from the last event a
 * client saw) and the `cacheStatsHistory` query, all served by this replica's
 * StatsAggregator from every edge's reports. NOT_FOUND for an unknown customer;
 * BAD_USER_INPUT for an interval, top or minutes out of range.
 */
import { Arg, Authorized, Ctx, ID, Int, Query, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { cdnError } from '../../core/errors';
import type { CacheStatsEvent, FleetStatsEvent } from '../services/stats-aggregator.service';
import type { EdgeTrafficSummary } from '../services/stats-window';
import { requireAccess } from './access';
import type { ApiContext } from './context.type';
import { mapIterator } from './map-iterator';
import { CacheStats, CustomerTraffic, EdgeCacheStats, FleetStats } from './stats.type';

type CacheStatsArgs = { customerId: string; intervalSeconds: number; after?: Date | null };
type FleetStatsArgs = { intervalSeconds: number; top: number; after?: Date | null };

const AFTER =
  'Resume: the `at` of the last event received. The intervals that ended after it come first (as far back as the api keeps, ' +
  'CDN_STATS_RETENTION_MINUTES), then live ones; none twice. Send it when resubscribing, e.g. after a reconnect to another api replica.';

@Resolver()
export class StatsResolver {
  @Authorized('stats.read@customerId')
  @Subscription(() => CacheStats, {
    description:
      'One customer\'s traffic over every live edge: one event per interval (aligned on the clock, e.g. every :05 for 5 s), ' +
      'also with zeros when there was none, each about 1.5 s after its interval ends so late edge reports still count. ' +
      'intervalSeconds 1..60; `after` resumes. NOT_FOUND for an unknown customer.',
    subscribe: async ({ args, context }: SubscribeResolverData<unknown, CacheStatsArgs, ApiContext>) => {
      requireAccess(context, 'stats.read', args.customerId);
      await requireCustomer(context, args.customerId);
      return mapIterator(context.services.stats.cacheStats(args.customerId, args.intervalSeconds, args.after), toCacheStats);
    },
  })
  cacheStats(
    @Root() event: CacheStats,
    @Arg('customerId', () => ID) _customerId: string,
    @Arg('intervalSeconds', () => Int, { defaultValue: 1 }) _intervalSeconds: number,
    @Arg('after', () => Date, { nullable: true, description: AFTER }) _after: Date | null,
  ): CacheStats {
    return event;
  }

  @Authorized('fleet.read')
  @Subscription(() => FleetStats, {
    description:
      'The whole fleet\'s traffic, with the busiest customers: one event per interval, as cacheStats. intervalSeconds 1..60, top 1..100; `after` resumes.',
    subscribe: ({ args, context }: SubscribeResolverData<unknown, FleetStatsArgs, ApiContext>) => {
      requireAccess(context, 'fleet.read');
      return mapIterator(context.services.stats.fleetStats(args.intervalSeconds, args.top, args.after), toFleetStats);
    },
  })
  fleetStats(
    @Root() event: FleetStats,
    @Arg('intervalSeconds', () => Int, { defaultValue: 1 }) _intervalSeconds: number,
    @Arg('top', () => Int, { defaultValue: 10 }) _top: number,
    @Arg('after', () => Date, { nullable: true, description: AFTER }) _after: Date | null,
  ): FleetStats {
    return event;
  }

  @Authorized('stats.read@customerId')
  @Query(() => [CacheStats], {
    description:
      'One customer\'s traffic per second over the last `minutes` (1 up to the retention, 15 by default), oldest first, ' +
      'seconds without traffic as zeros; what a dashboard draws before live cacheStats events arrive. NOT_FOUND for an unknown customer.',
  })
  async cacheStatsHistory(
    @Ctx() context: ApiContext,
    @Arg('customerId', () => ID) customerId: string,
    @Arg('minutes', () => Int, { defaultValue: 5 }) minutes: number,
  ): Promise<CacheStats[]> {
    await requireCustomer(context, customerId);
    return context.services.stats.history(customerId, minutes).map(toCacheStats);
  }
}

async function requireCustomer(context: ApiContext, customerId: string): Promise<void> {
  if (!(await context.services.customers.get(customerId))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
}

function toEdge(edge: EdgeTrafficSummary): EdgeCacheStats {
  return Object.assign(new EdgeCacheStats(), edge);
}

function toCacheStats(event: CacheStatsEvent): CacheStats {
  return Object.assign(new CacheStats(), { ...event, edges: event.edges.map(toEdge) });
}

function toFleetStats(event: FleetStatsEvent): FleetStats {
  return Object.assign(new FleetStats(), {
    ...event,
    edges: event.edges.map(toEdge),
    topCustomers: event.topCustomers.map((c) =>
      Object.assign(new CustomerTraffic(), {
        customerId: c.customerId,
        customerName: c.customerName,
        requests: c.requests,
        requestsPerSecond: c.requestsPerSecond,
        bytesPerSecond: c.bytesPerSecond,
        hitRatio: c.hitRatio,
      }),
    ),
  });
}
