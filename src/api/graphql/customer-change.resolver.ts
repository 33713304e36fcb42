/** The `customerChanged` subscription, fed by the change feed through the PubSub (see server.ts). */
import { Authorized, Resolver, Root, Subscription } from 'type-graphql';
import { mayAccess } from './access';
import { CUSTOMER_CHANGED, type ApiContext } from './context.type';
import { CustomerChange } from './customer-change.type';

@Resolver(() => CustomerChange)
export class CustomerChangeResolver {
  @Authorized('customer.read')
  @Subscription(() => CustomerChange, {
    topics: CUSTOMER_CHANGED,
    // A customer-scoped token hears about its own customer only.
    filter: ({ payload, context }: { payload: CustomerChange; context: ApiContext }) => mayAccess(context.principal, 'customer.read', payload.customerId),
    description: 'Every customer created, updated or deleted, through any api replica (a customer-scoped token: its own customer only).',
  })
  customerChanged(@Root() change: CustomerChange): CustomerChange {
    return change;
  }
}
