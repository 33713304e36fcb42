/** The `customerChanged` subscription, fed by the change feed through the PubSub (see server.ts). */
import { Authorized, Resolver, Root, Subscription } from 'type-graphql';
import { CUSTOMER_CHANGED } from './context.type';
import { CustomerChange } from './customer-change.type';

@Resolver(() => CustomerChange)
export class CustomerChangeResolver {
  @Authorized()
  @Subscription(() => CustomerChange, {
    topics: CUSTOMER_CHANGED,
    description: 'Every customer created, updated or deleted, through any api replica.',
  })
  customerChanged(@Root() change: CustomerChange): CustomerChange {
    return change;
  }
}
