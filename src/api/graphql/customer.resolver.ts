/** Customer queries and mutations. Thin: arguments in, service call, mapper out. */
import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { toGraphqlCustomer } from './customer.mapper';
import type { HstsCommand, QueryStringCommand } from '../services/customer.commands';
import { PAGE_SIZE_DEFAULT } from '../services/customer.service';
import { mayAccess, requireAccess } from './access';
import type { ApiContext } from './context.type';
import { CustomerConnection, PageInfo } from './customer-connection.type';
import { CreateCustomerInput, UpdateCustomerInput } from './customer.input';
import { Customer } from './customer.type';
import type { HstsInput } from './hsts.type';
import type { QueryStringPolicyInput } from './query-string.input';

// null and undefined must survive: on update, absent keeps the policy and null is reported.
function queryStringCommand(input: QueryStringPolicyInput | null | undefined): QueryStringCommand | null | undefined {
  return input == null ? input : { mode: input.mode, allow: input.allow ?? null };
}

// Likewise: absent keeps HSTS, null removes it.
function hstsCommand(input: HstsInput | null | undefined): HstsCommand | null | undefined {
  return input == null ? input : { maxAge: input.maxAge, includeSubDomains: input.includeSubDomains, preload: input.preload };
}

@Resolver(() => Customer)
export class CustomerResolver {
  @Authorized('customer.read')
  @Query(() => CustomerConnection, { description: 'Customers ordered by id, a page at a time (first: 1 to 500). A customer-scoped token sees its own only.' })
  async customers(
    @Ctx() ctx: ApiContext,
    @Arg('first', () => Int, { nullable: true, defaultValue: PAGE_SIZE_DEFAULT }) first: number | null,
    @Arg('after', () => String, { nullable: true, description: 'pageInfo.endCursor of the previous page.' }) after?: string | null,
  ): Promise<CustomerConnection> {
    const scope = requireAccess(ctx, 'customer.read').customerId;
    const page = await ctx.services.customers.list({ first: first ?? PAGE_SIZE_DEFAULT, after: after ?? null }, scope);
    const connection = new CustomerConnection();
    connection.nodes = page.nodes.map(toGraphqlCustomer);
    connection.totalCount = page.totalCount;
    connection.pageInfo = Object.assign(new PageInfo(), { endCursor: page.endCursor, hasNextPage: page.hasNextPage });
    return connection;
  }

  @Authorized('customer.read@id')
  @Query(() => Customer, { nullable: true })
  async customer(@Ctx() ctx: ApiContext, @Arg('id', () => ID) id: string): Promise<Customer | null> {
    const entity = await ctx.services.customers.get(id);
    return entity ? toGraphqlCustomer(entity) : null;
  }

  @Authorized('customer.read')
  @Query(() => Customer, { nullable: true, description: 'The customer serving a host name (case and a trailing dot ignored).' })
  async customerByDomain(@Ctx() ctx: ApiContext, @Arg('domain') domain: string): Promise<Customer | null> {
    const entity = await ctx.services.customers.getByDomain(domain);
    // Another customer's domain looks unserved to a customer-scoped token.
    return entity && mayAccess(ctx.principal, 'customer.read', entity.id) ? toGraphqlCustomer(entity) : null;
  }

  @Authorized('customer.create')
  @Mutation(() => Customer)
  async createCustomer(@Ctx() ctx: ApiContext, @Arg('input', () => CreateCustomerInput) input: CreateCustomerInput): Promise<Customer> {
    const entity = await ctx.services.customers.create({
      id: input.id,
      name: input.name,
      originUrl: input.originUrl,
      domains: input.domains,
      cacheTtl: input.cacheTtl,
      basicAuth: input.basicAuth ? { username: input.basicAuth.username, password: input.basicAuth.password } : null,
      cacheQuotaBytes: input.cacheQuotaBytes ?? null,
      staleIfErrorSeconds: input.staleIfErrorSeconds ?? null,
      queryString: queryStringCommand(input.queryString) ?? null,
      httpsRedirect: input.httpsRedirect ?? null,
      hsts: hstsCommand(input.hsts) ?? null,
      compressTypes: input.compressTypes ?? null,
    }, requireAccess(ctx, 'customer.create'));
    return toGraphqlCustomer(entity);
  }

  @Authorized('customer.update@id')
  @Mutation(() => Customer, {
    description:
      'Changes only the fields given; `basicAuth: null` removes Basic Auth, `cacheQuotaBytes: null` the quota, `staleIfErrorSeconds: null` turns it off, ' +
      '`httpsRedirect: null` restores the default, `hsts: null` removes HSTS. `originUrl` and `basicAuth` are the preferred origin\'s: they change that origin.',
  })
  async updateCustomer(
    @Ctx() ctx: ApiContext,
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateCustomerInput) input: UpdateCustomerInput,
  ): Promise<Customer> {
    // The service words its errors for the caller: a customer-scoped one learns nothing of other customers.
    const caller = requireAccess(ctx, 'customer.update', id);
    const entity = await ctx.services.customers.update(id, {
      name: input.name,
      originUrl: input.originUrl,
      domains: input.domains,
      cacheTtl: input.cacheTtl,
      // undefined (absent) keeps Basic Auth, null removes it: the distinction must survive.
      basicAuth:
        input.basicAuth === undefined || input.basicAuth === null
          ? input.basicAuth
          : { username: input.basicAuth.username, password: input.basicAuth.password },
      cacheQuotaBytes: input.cacheQuotaBytes,
      staleIfErrorSeconds: input.staleIfErrorSeconds,
      queryString: queryStringCommand(input.queryString),
      httpsRedirect: input.httpsRedirect,
      hsts: hstsCommand(input.hsts),
      compressTypes: input.compressTypes,
    }, caller);
    return toGraphqlCustomer(entity);
  }

  @Authorized('customer.delete@id')
  @Mutation(() => Boolean, { description: 'Deletes the customer, its domains and its certificates; edges stop serving them within a second.' })
  async deleteCustomer(@Ctx() ctx: ApiContext, @Arg('id', () => ID) id: string): Promise<boolean> {
    await ctx.services.customers.delete(id);
    return true;
  }
}
