/** A customer's Strict-Transport-Security policy, as GraphQL shows and accepts it (rules: services/customer.validation.ts, checkHsts). */
import { Field, InputType, Int, ObjectType } from 'type-graphql';

@ObjectType({ description: 'Strict-Transport-Security sent on the HTTPS answers of the customer\'s domains.' })
export class Hsts {
  @Field(() => Int, { description: 'max-age, in seconds.' })
  maxAge!: number;

  @Field({ description: 'Whether the policy covers the subdomains of each domain too.' })
  includeSubDomains!: boolean;

  @Field({ description: 'Whether the header asks to be on the browsers\' preload lists.' })
  preload!: boolean;
}

@InputType({ description: 'Replaces the whole policy. preload needs maxAge of at least 31536000 (one year) and includeSubDomains.' })
export class HstsInput {
  @Field(() => Int, { description: 'Seconds, 0 to 63072000 (two years); 0 tells browsers to forget the policy.' })
  maxAge!: number;

  @Field({ defaultValue: false })
  includeSubDomains!: boolean;

  @Field({ defaultValue: false })
  preload!: boolean;
}
