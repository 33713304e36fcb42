/**
 * The GraphQL side of the change feed (services/change-feed.service.ts): one bus change
 * becomes a `customerChanged` event for this replica's subscribers.
 */
import type { Change } from '../../core/bus.events';
import type { CustomerService } from '../services/customer.service';
import { CUSTOMER_CHANGED, type ApiPubSub } from './context.type';
import { CustomerChange, CustomerChangeKind } from './customer-change.type';
import { configToGraphqlCustomer } from './customer.mapper';

export async function publishCustomerChange(change: Change, pubSub: ApiPubSub, customers: Pick<CustomerService, 'createdAt'>): Promise<void> {
  const event = change.event;
  if (event.kind === 'purge.requested') return; // purges have their own subscription (purgeStatus)
  if (event.kind === 'warm.requested') return; // and warms theirs (warmStatus)
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
    const createdAt = await customers.createdAt(event.customer.id);
    payload.customer = configToGraphqlCustomer(event.customer, createdAt ?? new Date(event.customer.updatedAt));
  }
  pubSub.publish(CUSTOMER_CHANGED, payload);
}
