/** setOrigins and setOriginPolicy. Thin: arguments in, service call, mapper out. */
import { Arg, Authorized, Ctx, ID, Mutation, Resolver } from 'type-graphql';
import type { OriginCommand } from '../services/origin.commands';
import type { ApiContext } from './context.type';
import { toGraphqlCustomer } from './customer.mapper';
import { Customer } from './customer.type';
import { OriginInput, OriginPolicyInput } from './origin.input';

// undefined (absent) and null must both survive for basicAuth: absent may mean "refuse", null removes.
function originCommand(input: OriginInput): OriginCommand {
  return {
    name: input.name,
    url: input.url,
    basicAuth: input.basicAuth == null ? input.basicAuth : { username: input.basicAuth.username, password: input.basicAuth.password },
    keepBasicAuth: input.keepBasicAuth ?? null,
    priority: input.priority ?? null,
    weight: input.weight ?? null,
    hostHeader: input.hostHeader ?? null,
    tlsServerName: input.tlsServerName ?? null,
    healthCheck: input.healthCheck == null ? null : { ...input.healthCheck },
  };
}

@Resolver()
export class OriginResolver {
  @Authorized('customer.update@customerId')
  @Mutation(() => Customer, {
    description:
      "Replaces the customer's origins (1 to 16). Validated as a whole first: every refusal names the origin and the field, and nothing changes. " +
      'Every edge uses them within a second. originUrl and hasBasicAuth of the Customer become the preferred origin\'s (lowest priority, then name).',
  })
  async setOrigins(
    @Ctx() ctx: ApiContext,
    @Arg('customerId', () => ID) customerId: string,
    @Arg('origins', () => [OriginInput]) origins: OriginInput[],
  ): Promise<Customer> {
    return toGraphqlCustomer(await ctx.services.origins.set(customerId, origins.map(originCommand)));
  }

  @Authorized('customer.update@customerId')
  @Mutation(() => Customer, { description: "Replaces the customer's origin policy (connection cap, queue, retry budget, stale when every origin is down)." })
  async setOriginPolicy(
    @Ctx() ctx: ApiContext,
    @Arg('customerId', () => ID) customerId: string,
    @Arg('policy', () => OriginPolicyInput) policy: OriginPolicyInput,
  ): Promise<Customer> {
    return toGraphqlCustomer(await ctx.services.origins.setPolicy(customerId, { ...policy }));
  }
}
