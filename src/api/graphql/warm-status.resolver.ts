/**
 * The `warmStatus` subscription: the warm's state on subscribe, then one event per edge whose
 * progress changed; the server ends the subscription after the event in which it is complete.
 * Fed by the warm report collector through WarmTracker.watch (see server.ts), as purgeStatus is.
 */
import { Arg, Authorized, ID, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { cdnError } from '../../core/errors';
import type { WarmUpdate } from '../services/warm-tracker.service';
import { mayAccess, requireAccess } from './access';
import type { ApiContext } from './context.type';
import { toGraphqlCustomer } from './customer.mapper';
import { mapIterator } from './map-iterator';
import { WarmStatusEvent } from './warm-status.type';
import { toGraphqlWarm, toGraphqlWarmEdge } from './warm.mapper';

@Resolver(() => WarmStatusEvent)
export class WarmStatusResolver {
  @Authorized('purge.read')
  @Subscription(() => WarmStatusEvent, {
    description: 'A warm as the edges work through it: its state now, then an event as each edge reports progress; ends once no edge is PENDING or WARMING. NOT_FOUND for an unknown id.',
    subscribe: async ({ args, context }: SubscribeResolverData<unknown, { id: string }, ApiContext>) => {
      requireAccess(context, 'purge.read');
      const warm = await context.services.warms.get(args.id);
      // Another customer's warm is as unknown as one that does not exist.
      if (!warm || !mayAccess(context.principal, 'purge.read', warm.customerId)) throw cdnError('CDN_ERR_WARM_NOT_FOUND', args.id);
      const customer = await context.services.customers.get(warm.customerId);
      if (!customer) throw cdnError('CDN_ERR_WARM_NOT_FOUND', args.id);
      const graphqlCustomer = toGraphqlCustomer(customer);
      return mapIterator(context.services.warmTracker.watch(warm), (update: WarmUpdate) =>
        Object.assign(new WarmStatusEvent(), {
          warm: toGraphqlWarm(update.state, graphqlCustomer),
          edge: update.edge ? toGraphqlWarmEdge(update.edge, warm.urls.length) : null,
        }),
      );
    },
  })
  warmStatus(@Root() event: WarmStatusEvent, @Arg('id', () => ID) _id: string): WarmStatusEvent {
    return event;
  }
}
