/** The GraphQL `Customer` object type. Never carries the Basic Auth password: only whether one is set. */
import { GraphQLSafeInt } from 'graphql-scalars';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { DeliveryRuleGql } from './delivery-rule.type';
import { Hsts } from './hsts.type';
import { OriginGql, OriginPolicyGql } from './origin.type';
import { SigningKey } from './signing-key.type';
import { QueryStringPolicy } from './query-string.type';

@ObjectType({ description: 'A customer of the CDN: an origin and the domains served from it.' })
export class Customer {
  @Field(() => ID, { description: 'Slug such as customer-a; starts every cache key.' })
  id!: string;

  @Field()
  name!: string;

  @Field({ description: 'http(s) URL of the preferred origin (the first of `origins`), without credentials. updateCustomer\'s originUrl changes that origin.' })
  originUrl!: string;

  @Field(() => [OriginGql], { description: 'Every origin, in preference order (priority, then name); setOrigins replaces them. Passwords are never returned.' })
  origins!: OriginGql[];

  @Field(() => OriginPolicyGql, { description: 'How the origins are used (setOriginPolicy); null fields take the edge\'s defaults.' })
  originPolicy!: OriginPolicyGql;

  @Field(() => [String], { description: 'Lower-cased hostnames served for this customer, sorted.' })
  domains!: string[];

  @Field(() => Int, { description: 'Seconds an object stays fresh when the origin gives no freshness.' })
  cacheTtl!: number;

  @Field(() => GraphQLSafeInt, {
    nullable: true,
    description: "Most bytes this customer's objects may take on one edge's disk (least recently used evicted beyond); null: only the edge's global cap.",
  })
  cacheQuotaBytes!: number | null;

  @Field(() => Int, {
    nullable: true,
    description:
      'Seconds past freshness a stored object may answer (X-Cache: STALE) for a failing origin (down, 5xx, timeout), beyond what its stale-if-error allows; never for must-revalidate, proxy-revalidate, no-cache or s-maxage responses. null: off.',
  })
  staleIfErrorSeconds!: number | null;

  @Field(() => QueryStringPolicy)
  queryString!: QueryStringPolicy;

  @Field(() => Boolean, {
    nullable: true,
    description: 'Plain HTTP answered with a 308 redirect to HTTPS: true always, false never, null (the default) for a host a valid certificate covers.',
  })
  httpsRedirect!: boolean | null;

  @Field(() => Hsts, { nullable: true, description: 'Strict-Transport-Security on HTTPS answers; null: none.' })
  hsts!: Hsts | null;

  @Field(() => [DeliveryRuleGql], { description: 'Delivery rules in the order they apply, after defaultRule (setDeliveryRules replaces them).' })
  rules!: DeliveryRuleGql[];

  @Field(() => DeliveryRuleGql, {
    description: 'The implicit first rule, `default`, made of cacheTtl, queryString and staleIfErrorSeconds (change it with updateCustomer); every request matches it.',
  })
  defaultRule!: DeliveryRuleGql;

  @Field(() => [String], { description: "Media types the edges compress beyond their built-in list (text, JSON, JavaScript, CSS, SVG, XML...)." })
  compressTypes!: string[];

  @Field(() => [SigningKey], { description: 'Keys of signed URLs, oldest first (at most two); secrets are never returned.' })
  signingKeys!: SigningKey[];

  @Field({ description: 'Whether requests to the preferred origin carry Basic Auth (see origins for each). The credentials themselves are never returned.' })
  hasBasicAuth!: boolean;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;
}
