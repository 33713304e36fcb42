/** Delivery rules, explainRequest, signing keys and signUrl. Thin: arguments in, service call, mapper out. */
import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { ApiContext } from './context.type';
import { toGraphqlCustomer } from './customer.mapper';
import { Customer } from './customer.type';
import { DeliveryRuleGql, toCoreRules } from './delivery-rule.type';
import { ExplainOutcome, HeaderInput, RequestExplanation } from './explain.type';
import { NewSigningKey, SignedUrl, SigningKey } from './signing-key.type';

const OUTCOME: Record<string, ExplainOutcome> = { deny: ExplainOutcome.DENY, redirect: ExplainOutcome.REDIRECT, bypass: ExplainOutcome.BYPASS, cache: ExplainOutcome.CACHE };

@Resolver()
export class DeliveryResolver {
  @Authorized('customer.update@customerId')
  @Mutation(() => Customer, {
    description:
      "Replaces the customer's delivery rules (in order; every matching rule applies, a later value replacing an earlier one). " +
      'Validated as a whole first: every refusal names the rule and the field, and nothing changes. Every edge applies them within a second.',
  })
  async setDeliveryRules(
    @Ctx() ctx: ApiContext,
    @Arg('customerId', () => ID) customerId: string,
    @Arg('rules', () => [DeliveryRuleGql]) rules: DeliveryRuleGql[],
  ): Promise<Customer> {
    return toGraphqlCustomer(await ctx.services.deliveryRules.set(customerId, toCoreRules(rules)));
  }

  @Authorized('customer.read@customerId')
  @Query(() => RequestExplanation, {
    description: 'What an edge would do with this request, computed as the edges compute it: the rules that match, the cache key, the TTLs, access and redirect. Nothing is sent anywhere.',
  })
  async explainRequest(
    @Ctx() ctx: ApiContext,
    @Arg('customerId', () => ID) customerId: string,
    @Arg('url', { description: "An absolute URL on one of the customer's domains, or a path with its query." }) url: string,
    @Arg('method', () => String, { nullable: true, defaultValue: 'GET' }) method: string | null,
    @Arg('headers', () => [HeaderInput], { nullable: true, description: 'Request headers (Cookie, Referer, Accept-Language...).' }) headers: HeaderInput[] | null,
    @Arg('clientIp', () => String, { nullable: true, description: 'The client address, for address rules and IP-bound signatures.' }) clientIp: string | null,
  ): Promise<RequestExplanation> {
    const e = await ctx.services.deliveryRules.explain({ customerId, url, method, headers, clientIp });
    const d = e.decision;
    return Object.assign(new RequestExplanation(), {
      matchedRules: e.matchedRules,
      outcome: OUTCOME[e.outcome]!,
      status: e.status,
      reason: e.reason,
      location: e.location,
      cacheKey: e.cacheKey,
      keyParts: e.keyParts,
      originTarget: e.originTarget,
      edgeTtl: d.edgeTtl,
      browserTtl: d.browserTtl ?? null,
      staleWhileRevalidate: d.staleWhileRevalidate ?? null,
      staleIfError: d.staleIfError ?? null,
      responseHeaders: [...d.responseHeaders],
      originHeaders: [...d.originHeaders],
      signedUrlRequired: e.signedUrlRequired,
      rateLimit: d.access?.rateLimit ?? null,
    });
  }

  @Authorized('customer.update@customerId')
  @Mutation(() => NewSigningKey, {
    description: 'Creates a key for signed URLs (at most two per customer, so one can replace the other). Its secret is in this answer only.',
  })
  async createSigningKey(@Ctx() ctx: ApiContext, @Arg('customerId', () => ID) customerId: string): Promise<NewSigningKey> {
    return Object.assign(new NewSigningKey(), await ctx.services.signingKeys.create(customerId));
  }

  @Authorized('customer.update@customerId')
  @Mutation(() => SigningKey, { description: 'Deletes a signing key: links it signed are refused by every edge within a second.' })
  async deleteSigningKey(@Ctx() ctx: ApiContext, @Arg('customerId', () => ID) customerId: string, @Arg('id', () => ID) id: string): Promise<SigningKey> {
    return Object.assign(new SigningKey(), await ctx.services.signingKeys.delete(customerId, id));
  }

  @Authorized('customer.update@customerId')
  @Query(() => SignedUrl, { description: "A signed link to `url` (on one of the customer's domains), valid for `expiresIn` seconds." })
  async signUrl(
    @Ctx() ctx: ApiContext,
    @Arg('customerId', () => ID) customerId: string,
    @Arg('url') url: string,
    @Arg('expiresIn', () => Int, { description: 'Seconds, 1 to one year.' }) expiresIn: number,
    @Arg('keyId', () => ID, { nullable: true, description: 'Absent: the newest key.' }) keyId: string | null,
    @Arg('pathPrefix', () => String, { nullable: true, description: "Sign every path under this prefix (the URL's path must start with it)." }) pathPrefix: string | null,
    @Arg('clientIp', () => String, { nullable: true, description: 'Bind the link to this client address.' }) clientIp: string | null,
  ): Promise<SignedUrl> {
    return Object.assign(new SignedUrl(), await ctx.services.signingKeys.signUrl({ customerId, url, expiresIn, keyId, pathPrefix, clientIp }));
  }
}
