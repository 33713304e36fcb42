/**
 * The `purgeStatus` subscription: the purge's state on subscribe, then one event per edge
 * that applies it; the server ends the subscription after the event in which it is
 * complete. Fed by the ack collector through PurgeTracker.watch (see server.ts).
 */
import { Arg, Authorized, ID, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { cdnError } from '../../core/errors';
import { toGraphqlCustomer } from './customer.mapper';
import { toGraphqlPurge, toGraphqlPurgeEdge } from './purge.mapper';
import type { PurgeUpdate } from '../services/purge-tracker.service';
import { mayAccess, requireAccess } from './access';
import type { ApiContext } from './context.type';
import { mapIterator } from './map-iterator';
import { PurgeStatusEvent } from './purge-status.type';

@Resolver(() => PurgeStatusEvent)
export class PurgeStatusResolver {
  @Authorized('purge.read')
  @Subscription(() => PurgeStatusEvent, {
    description: 'A purge as it reaches the edges: its state now, then an event as each edge applies it; ends once every live edge has. NOT_FOUND for an unknown id.',
    subscribe: async ({ args, context }: SubscribeResolverData<unknown, { id: string }, ApiContext>) => {
      requireAccess(context, 'purge.read');
      const purge = await context.services.purges.get(args.id);
      // Another customer's purge is as unknown as one that does not exist.
      if (!purge || !mayAccess(context.principal, 'purge.read', purge.customerId)) throw cdnError('CDN_ERR_PURGE_NOT_FOUND', args.id);
      const customer = await context.services.customers.get(purge.customerId);
      if (!customer) throw cdnError('CDN_ERR_PURGE_NOT_FOUND', args.id);
      const graphqlCustomer = toGraphqlCustomer(customer);
      return mapIterator(context.services.purgeTracker.watch(purge), (update: PurgeUpdate) =>
        Object.assign(new PurgeStatusEvent(), {
          purge: toGraphqlPurge(update.state, graphqlCustomer),
          edge: update.edge ? toGraphqlPurgeEdge(update.edge) : null,
        }),
      );
    },
  })
  purgeStatus(@Root() event: PurgeStatusEvent, @Arg('id', () => ID) _id: string): PurgeStatusEvent {
    return event;
  }
}
