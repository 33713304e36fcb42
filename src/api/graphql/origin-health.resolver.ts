/**
 * The `originHealth` query and the `originHealthChanged` subscription, fed by the origin
 * health collector through the PubSub (see server.ts). Thin: arguments in, service call, mapper out.
 */
import { Arg, Authorized, Ctx, ID, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { OriginHealthEvent } from '../../core/fleet.port';
import type { OriginHealthRecord } from '../domain/origin-health.types';
import { mayAccess } from './access';
import { ORIGIN_HEALTH_CHANGED, type ApiContext } from './context.type';
import { OriginEdgeHealth, OriginHealth, OriginHealthChange, OriginHealthState } from './origin-health.type';

const STATE = { up: OriginHealthState.UP, down: OriginHealthState.DOWN } as const;

function toGraphqlOriginHealth(record: OriginHealthRecord): OriginHealth {
  const edges = record.edges.map((e) =>
    Object.assign(new OriginEdgeHealth(), { edgeId: e.edgeId, state: STATE[e.state], since: e.since === null ? null : new Date(e.since), reason: e.reason }),
  );
  return Object.assign(new OriginHealth(), {
    name: record.name,
    url: record.url,
    edgesUp: edges.filter((e) => e.state === OriginHealthState.UP).length,
    edgesDown: edges.filter((e) => e.state === OriginHealthState.DOWN).length,
    edges,
  });
}

export function toGraphqlOriginHealthChange(event: OriginHealthEvent): OriginHealthChange {
  return Object.assign(new OriginHealthChange(), { customerId: event.customerId, origin: event.origin, edgeId: event.edgeId, state: STATE[event.state], reason: event.reason, at: new Date(event.at) });
}

@Resolver()
export class OriginHealthResolver {
  @Authorized('customer.read@customerId')
  @Query(() => [OriginHealth], {
    description:
      "Each origin of the customer, in preference order, with its state on every live edge process (from the edges' heartbeats and the transitions they report). NOT_FOUND for an unknown customer.",
  })
  async originHealth(@Ctx() ctx: ApiContext, @Arg('customerId', () => ID) customerId: string): Promise<OriginHealth[]> {
    return (await ctx.services.originHealth.forCustomer(customerId)).map(toGraphqlOriginHealth);
  }

  @Authorized('customer.read')
  @Subscription(() => OriginHealthChange, {
    topics: ORIGIN_HEALTH_CHANGED,
    // A customer-scoped token hears about its own customer only.
    filter: ({ payload, args, context }: { payload: OriginHealthChange; args: { customerId?: string | null }; context: ApiContext }) =>
      (args.customerId == null || args.customerId === payload.customerId) && mayAccess(context.principal, 'customer.read', payload.customerId),
    description: "Every origin going down or coming back on any edge process, through any api replica; customerId: that customer's only (a customer-scoped token: its own customer only).",
  })
  originHealthChanged(@Root() change: OriginHealthChange, @Arg('customerId', () => ID, { nullable: true }) _customerId?: string | null): OriginHealthChange {
    return change;
  }
}
