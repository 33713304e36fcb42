/**
 * Mutation inputs. Only shapes here: every rule (slug, URL, hostnames, TTL range) is
 * checked by the service with core/customer.rules.ts, so all problems come back at once
 * with the same messages whatever the entry point.
 */
import { GraphQLSafeInt } from 'graphql-scalars';
import { Field, ID, InputType, Int } from 'type-graphql';
import { CACHE_TTL_DEFAULT } from '../../core/customer.types';
import { HstsInput } from './hsts.type';
import { QueryStringPolicyInput } from './query-string.input';

@InputType({ description: 'Credentials the edge sends to the origin. The password is stored encrypted and never returned.' })
export class BasicAuthInput {
  @Field()
  username!: string;

  @Field()
  password!: string;
}

@InputType()
export class CreateCustomerInput {
  @Field(() => ID, { description: 'Slug: lower-case letters, digits and "-", at most 63 characters.' })
  id!: string;

  @Field()
  name!: string;

  @Field({ description: 'http or https URL, without credentials, query or fragment.' })
  originUrl!: string;

  @Field(() => [String], { description: 'At least one hostname; each may belong to one customer only.' })
  domains!: string[];

  @Field(() => Int, { defaultValue: CACHE_TTL_DEFAULT, description: 'Seconds, 0 to one year.' })
  cacheTtl!: number;

  @Field(() => BasicAuthInput, { nullable: true })
  basicAuth?: BasicAuthInput | null;

  @Field(() => GraphQLSafeInt, { nullable: true, description: "Bytes on one edge's disk, 1 MiB (1048576) to 1 PiB; null or absent: no quota of its own." })
  cacheQuotaBytes?: number | null;

  @Field(() => Int, { nullable: true, description: 'Seconds, 0 to one week (604800); null or absent: off (only the origin\'s stale-if-error).' })
  staleIfErrorSeconds?: number | null;

  @Field(() => QueryStringPolicyInput, { nullable: true, description: 'Absent: KEEP.' })
  queryString?: QueryStringPolicyInput | null;

  @Field(() => Boolean, { nullable: true, description: 'true: always redirect plain HTTP to HTTPS (308), false: never; null or absent: once a valid certificate covers the host.' })
  httpsRedirect?: boolean | null;

  @Field(() => HstsInput, { nullable: true, description: 'null or absent: no Strict-Transport-Security.' })
  hsts?: HstsInput | null;

  @Field(() => [String], { nullable: true, description: 'Media types (type/subtype) the edges compress beyond their built-in list; at most 50.' })
  compressTypes?: string[] | null;
}

@InputType({
  description:
    'Only the fields given change. `basicAuth: null` removes Basic Auth and `cacheQuotaBytes: null` the quota, `staleIfErrorSeconds: null` turns stale-if-error off, ' +
    '`httpsRedirect: null` restores the default and `hsts: null` removes HSTS; leaving them out keeps them.',
})
export class UpdateCustomerInput {
  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => String, { nullable: true, description: "The preferred origin's URL (the first of Customer.origins): changes that origin; setOrigins manages the others." })
  originUrl?: string | null;

  @Field(() => [String], { nullable: true, description: 'Replaces the whole set of domains.' })
  domains?: string[] | null;

  @Field(() => Int, { nullable: true })
  cacheTtl?: number | null;

  @Field(() => BasicAuthInput, { nullable: true, description: "The preferred origin's Basic Auth: changes that origin's; null removes it." })
  basicAuth?: BasicAuthInput | null;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Bytes, 1 MiB to 1 PiB; null removes the quota.' })
  cacheQuotaBytes?: number | null;

  @Field(() => Int, { nullable: true, description: 'Seconds, 0 to one week; null turns it off.' })
  staleIfErrorSeconds?: number | null;

  @Field(() => QueryStringPolicyInput, { nullable: true, description: 'Replaces the whole policy.' })
  queryString?: QueryStringPolicyInput | null;

  @Field(() => Boolean, { nullable: true, description: 'true: always redirect plain HTTP to HTTPS, false: never; null: the default (once a valid certificate covers the host).' })
  httpsRedirect?: boolean | null;

  @Field(() => HstsInput, { nullable: true, description: 'Replaces the whole policy; null removes it.' })
  hsts?: HstsInput | null;

  @Field(() => [String], { nullable: true, description: 'Replaces the whole list.' })
  compressTypes?: string[] | null;
}
