/**
 * Webhooks: receivers, their deliveries, redeliver and test. Thin: arguments in, access check,
 * service call, mapper out. A customer's webhooks are read with customer.read (a customer
 * viewer sees them and their deliveries, never a secret) and changed with customer.update (a
 * customer admin, operators, admins); fleet-wide ones (customerId null) need webhook.fleet
 * (admins). A webhook or delivery the caller may not see answers NOT_FOUND, as an unknown one
 * does, so ids cannot be probed.
 */
import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { cdnError } from '../../core/errors';
import type { Capability } from '../../core/roles';
import type { WebhookRecord } from '../domain/webhook.types';
import { mayAccess, requireAccess } from './access';
import type { ApiContext } from './context.type';
import { PageInfo } from './customer-connection.type';
import {
  CreateWebhookInput,
  NewWebhook,
  toCoreEventType,
  toGraphqlDelivery,
  toGraphqlWebhook,
  UpdateWebhookInput,
  Webhook,
  WebhookDelivery,
  WebhookDeliveryConnection,
  WebhookDeliveryStatus,
} from './webhook.type';

export const WEBHOOK_DELIVERIES_PAGE_DEFAULT = 50;
export const WEBHOOK_DELIVERIES_PAGE_MAX = 500;

/** Whether the caller may read (`customer.read`) or change (`customer.update`) this webhook; fleet-wide ones need webhook.fleet either way. */
function allowed(ctx: ApiContext, webhook: Pick<WebhookRecord, 'customerId'>, capability: Capability): boolean {
  return webhook.customerId === null ? mayAccess(ctx.principal, 'webhook.fleet', '') && ctx.principal?.customerId === undefined : mayAccess(ctx.principal, capability, webhook.customerId);
}

async function webhookFor(ctx: ApiContext, id: string, capability: Capability): Promise<WebhookRecord> {
  const webhook = await ctx.services.webhooks.get(id);
  if (!allowed(ctx, webhook, 'customer.read')) throw cdnError('CDN_ERR_WEBHOOK_NOT_FOUND', id);
  // Visible but not changeable: say which capability is missing.
  if (capability !== 'customer.read') requireAccess(ctx, webhook.customerId === null ? 'webhook.fleet' : capability, webhook.customerId ?? undefined);
  return webhook;
}

@Resolver()
export class WebhookResolver {
  @Authorized('customer.read@customerId')
  @Query(() => [Webhook], { description: "A customer's webhooks, oldest first; customerId null: the fleet-wide ones (admins). NOT_FOUND for an unknown customer." })
  async webhooks(@Ctx() ctx: ApiContext, @Arg('customerId', () => ID, { nullable: true }) customerId?: string | null): Promise<Webhook[]> {
    const scope = customerId ?? null;
    if (scope === null) requireAccess(ctx, 'webhook.fleet');
    return (await ctx.services.webhooks.list(scope)).map(toGraphqlWebhook);
  }

  @Authorized('customer.read')
  @Query(() => WebhookDeliveryConnection, { description: "A webhook's deliveries, newest first, a page at a time (first: 1 to 500), optionally of one status." })
  async webhookDeliveries(
    @Ctx() ctx: ApiContext,
    @Arg('webhookId', () => ID) webhookId: string,
    @Arg('status', () => WebhookDeliveryStatus, { nullable: true }) status: WebhookDeliveryStatus | null,
    @Arg('first', () => Int, { nullable: true, defaultValue: WEBHOOK_DELIVERIES_PAGE_DEFAULT }) first: number | null,
    @Arg('after', () => String, { nullable: true, description: 'pageInfo.endCursor of the previous page.' }) after?: string | null,
  ): Promise<WebhookDeliveryConnection> {
    await webhookFor(ctx, webhookId, 'customer.read');
    const size = first ?? WEBHOOK_DELIVERIES_PAGE_DEFAULT;
    if (!Number.isInteger(size) || size < 1 || size > WEBHOOK_DELIVERIES_PAGE_MAX) {
      throw cdnError('CDN_ERR_INPUT_INVALID', [{ field: 'first', message: `must be 1 to ${WEBHOOK_DELIVERIES_PAGE_MAX}, got ${size}` }]);
    }
    const page = await ctx.services.webhooks.deliveries(webhookId, status ?? null, size, after ?? null);
    return Object.assign(new WebhookDeliveryConnection(), {
      nodes: page.items.map(toGraphqlDelivery),
      pageInfo: Object.assign(new PageInfo(), { endCursor: page.endCursor, hasNextPage: page.hasNextPage }),
    });
  }

  @Authorized('customer.update@input.customerId')
  @Mutation(() => NewWebhook, {
    description:
      'Creates a webhook (for a customer, or fleet-wide without customerId: admins only). Its URL is checked now (public address, http or https) and again at each connection. ' +
      'The answer holds its signing secret, shown this once.',
  })
  async createWebhook(@Ctx() ctx: ApiContext, @Arg('input', () => CreateWebhookInput) input: CreateWebhookInput): Promise<NewWebhook> {
    const customerId = input.customerId ?? null;
    if (customerId === null) requireAccess(ctx, 'webhook.fleet');
    const created = await ctx.services.webhooks.create({
      customerId,
      url: input.url,
      events: input.events.map(toCoreEventType),
      description: input.description ?? null,
      enabled: input.enabled ?? null,
    });
    return Object.assign(new NewWebhook(), { webhook: toGraphqlWebhook(created.webhook), secret: created.secret });
  }

  @Authorized('customer.update')
  @Mutation(() => Webhook, { description: 'Changes a webhook (the URL is checked again); deliveries already queued go to the new URL.' })
  async updateWebhook(@Ctx() ctx: ApiContext, @Arg('id', () => ID) id: string, @Arg('input', () => UpdateWebhookInput) input: UpdateWebhookInput): Promise<Webhook> {
    await webhookFor(ctx, id, 'customer.update');
    return toGraphqlWebhook(
      await ctx.services.webhooks.update(id, {
        url: input.url ?? null,
        events: input.events == null ? null : input.events.map(toCoreEventType),
        description: input.description ?? null,
        enabled: input.enabled ?? null,
      }),
    );
  }

  @Authorized('customer.update')
  @Mutation(() => Webhook, { description: 'Deletes a webhook and its deliveries (those not yet sent are dropped).' })
  async deleteWebhook(@Ctx() ctx: ApiContext, @Arg('id', () => ID) id: string): Promise<Webhook> {
    await webhookFor(ctx, id, 'customer.update');
    return toGraphqlWebhook(await ctx.services.webhooks.delete(id));
  }

  @Authorized('customer.update')
  @Mutation(() => WebhookDelivery, { description: 'Sends a delivery\'s event to its webhook again: a new delivery (same event id), retried for a fresh window.' })
  async redeliverWebhook(@Ctx() ctx: ApiContext, @Arg('deliveryId', () => ID) deliveryId: string): Promise<WebhookDelivery> {
    const delivery = await ctx.services.webhooks.delivery(deliveryId);
    const webhook = await ctx.services.webhooks.get(delivery.webhookId);
    if (!allowed(ctx, webhook, 'customer.read')) throw cdnError('CDN_ERR_WEBHOOK_DELIVERY_NOT_FOUND', deliveryId);
    await webhookFor(ctx, webhook.id, 'customer.update');
    return toGraphqlDelivery(await ctx.services.webhooks.redeliver(deliveryId));
  }

  @Authorized('customer.update')
  @Mutation(() => WebhookDelivery, {
    description: 'Sends a `webhook.test` event to this webhook now, whatever events it subscribes to; follow it with webhookDeliveries.',
  })
  async testWebhook(@Ctx() ctx: ApiContext, @Arg('webhookId', () => ID) webhookId: string): Promise<WebhookDelivery> {
    await webhookFor(ctx, webhookId, 'customer.update');
    return toGraphqlDelivery(await ctx.services.webhooks.test(webhookId));
  }
}
