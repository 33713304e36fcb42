/** Token queries and mutations. Thin: arguments in, the token service, mapper out. */
import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { cdnError } from '../../core/errors';
import { capabilitiesOf } from '../../core/roles';
import type { Principal } from '../services/bearer.authenticator';
import type { ApiContext } from './context.type';
import { CreateTokenInput } from './token.input';
import { AccessStats, GrantLevel } from './access-stats.type';
import { toGraphqlToken } from './token.mapper';
import { ApiToken, CreatedToken, toCoreRole, toGraphqlRole } from './token.type';
import { Viewer } from './viewer.type';

function caller(ctx: ApiContext): Principal {
  if (ctx.principal === null) throw cdnError('CDN_ERR_AUTH_MISSING');
  return ctx.principal;
}

@Resolver(() => ApiToken)
export class TokenResolver {
  @Authorized('token.manage')
  @Mutation(() => CreatedToken, {
    description: 'Creates a token (ADMIN: any role; CUSTOMER_ADMIN: its customer\'s roles up to its own). The secret is in the answer only.',
  })
  async createToken(@Ctx() ctx: ApiContext, @Arg('input', () => CreateTokenInput) input: CreateTokenInput): Promise<CreatedToken> {
    const { token, secret } = await ctx.services.tokens.create(caller(ctx), {
      name: input.name,
      role: toCoreRole(input.role),
      customerId: input.customerId ?? undefined,
      expiresIn: input.expiresIn,
    });
    return { token: toGraphqlToken(token), secret };
  }

  @Authorized('token.manage')
  @Mutation(() => ApiToken, { description: 'Revokes a token at once on every api instance. Revoking twice is harmless.' })
  async revokeToken(@Ctx() ctx: ApiContext, @Arg('id', () => ID) id: string): Promise<ApiToken> {
    return toGraphqlToken(await ctx.services.tokens.revoke(caller(ctx), id));
  }

  @Authorized()
  @Query(() => Viewer, { description: 'Who the caller is: its token\'s id, name, role, customer, expiry and capabilities (never the token). Any valid token.' })
  async me(@Ctx() ctx: ApiContext): Promise<Viewer> {
    const principal = caller(ctx);
    const row = principal.tokenId === undefined ? undefined : await ctx.services.tokens.lookup(principal.tokenId);
    const expiresAt = row?.expiresAt.getTime() ?? principal.expiresAt;
    return {
      tokenId: principal.tokenId ?? null,
      name: row?.name ?? null,
      role: toGraphqlRole(principal.role),
      customerId: principal.customerId ?? null,
      expiresAt: expiresAt === undefined ? null : new Date(expiresAt),
      capabilities: [...capabilitiesOf(principal.role)].sort(),
    };
  }

  @Authorized('token.manage')
  @Query(() => [ApiToken], { description: 'Tokens, newest first (at most 1,000): all of them, or one customer\'s. A customer admin sees its customer\'s.' })
  async tokens(@Ctx() ctx: ApiContext, @Arg('customerId', () => ID, { nullable: true }) customerId?: string | null): Promise<ApiToken[]> {
    const now = Date.now();
    return (await ctx.services.tokens.list(caller(ctx), customerId)).map((t) => toGraphqlToken(t, now));
  }

  @Authorized('audit.read')
  @Query(() => AccessStats, { description: 'Grant monitoring (ADMIN): live tokens per platform role and per customer against their thresholds.' })
  async accessStats(@Ctx() ctx: ApiContext): Promise<AccessStats> {
    const s = await ctx.services.accessStats.snapshot();
    const level = (l: 'ok' | 'warning' | 'critical'): GrantLevel => l.toUpperCase() as GrantLevel;
    return {
      at: s.at,
      totalActive: s.totalActive,
      roles: s.roles.map((r) => ({ role: toGraphqlRole(r.role), active: r.active, warning: r.warning, critical: r.critical, level: level(r.level) })),
      customerWarning: ctx.services.accessStats.thresholds.customer.warning,
      customerCritical: ctx.services.accessStats.thresholds.customer.critical,
      customers: s.customers.slice(0, 100).map((c) => ({ customerId: c.customerId, active: c.active, level: level(c.level) })),
    };
  }
}
