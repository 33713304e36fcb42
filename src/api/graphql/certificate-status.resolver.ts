/**
 * The `certificateStatus` subscription: one event per certificate that changes from now on
 * (status, renewal, failure, upload, deletion), through any api replica. Fed by the change
 * feed through CertificateWatch (see server.ts).
 */
import { Arg, Authorized, ID, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { cdnError } from '../../core/errors';
import type { CertificateUpdate } from '../services/certificate-watch.service';
import { requireAccess } from './access';
import { toGraphqlCertificate } from './certificate.mapper';
import { CertificateStatusEvent } from './certificate-status.type';
import type { ApiContext } from './context.type';
import { toGraphqlCustomer } from './customer.mapper';

async function toEvent(context: ApiContext, update: CertificateUpdate): Promise<CertificateStatusEvent> {
  const event = new CertificateStatusEvent();
  event.customerId = update.customerId;
  event.certificateId = update.certificateId;
  event.certificate = null;
  if (update.certificate === null) return event;
  // Gone since (deleted with its customer): the next event reports the certificate deleted.
  const customer = await context.services.customers.get(update.customerId);
  if (customer) event.certificate = toGraphqlCertificate(update.certificate, toGraphqlCustomer(customer));
  return event;
}

async function* events(context: ApiContext, updates: AsyncIterableIterator<CertificateUpdate>): AsyncGenerator<CertificateStatusEvent> {
  try {
    for await (const update of updates) yield await toEvent(context, update);
  } finally {
    await updates.return?.();
  }
}

@Resolver(() => CertificateStatusEvent)
export class CertificateStatusResolver {
  @Authorized('customer.read')
  @Subscription(() => CertificateStatusEvent, {
    description:
      "Every change of a certificate's status from now on (uploaded, issued, renewing, failed, expired, deleted), through any api replica: " +
      'of one customer, or of every customer the token may see. Each event holds the certificate as it is then, so changes in quick succession may come as one. ' +
      "NOT_FOUND for an unknown customer (or another customer's).",
    subscribe: async ({ args, context }: SubscribeResolverData<unknown, { customerId?: string | null }, ApiContext>) => {
      const principal = requireAccess(context, 'customer.read', args.customerId ?? undefined);
      // A customer-scoped token without a customer follows its own.
      const scope = args.customerId ?? principal.customerId;
      if (scope !== undefined && !(await context.services.customers.get(scope))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', scope);
      return events(context, context.services.certificateWatch.watch(scope));
    },
  })
  certificateStatus(
    @Root() event: CertificateStatusEvent,
    @Arg('customerId', () => ID, { nullable: true, description: 'Absent: every customer the token may see.' }) _customerId?: string | null,
  ): CertificateStatusEvent {
    return event;
  }
}
