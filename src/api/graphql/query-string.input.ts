/** Input of the query-string policy; the rules (allow only with ALLOWLIST, limits) are core's checkQueryString. */
import { Field, InputType } from 'type-graphql';
import { QueryStringMode } from './query-string.type';

@InputType({ description: 'Replaces the whole policy. `allow` only with ALLOWLIST: 1 to 100 names, each 1 to 256 characters; repeats are dropped.' })
export class QueryStringPolicyInput {
  @Field(() => QueryStringMode)
  mode!: QueryStringMode;

  @Field(() => [String], { nullable: true, description: 'Parameter names as decoded (`a%20b` in a URL is "a b" here).' })
  allow?: string[] | null;
}
