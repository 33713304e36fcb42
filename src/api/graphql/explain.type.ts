/** What explainRequest answers: what an edge would do with a request, without sending it. */
import { Field, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { EdgeTtl, HeaderOp, RateLimitAction } from './delivery-rule.type';

export enum ExplainOutcome {
  DENY = 'deny',
  REDIRECT = 'redirect',
  BYPASS = 'bypass',
  CACHE = 'cache',
}
registerEnumType(ExplainOutcome, {
  name: 'ExplainOutcome',
  valuesConfig: {
    DENY: { description: 'Refused with 403 (deny, address, Referer or signature); `reason` says which.' },
    REDIRECT: { description: 'Redirected: `status` and `location`.' },
    BYPASS: { description: 'Sent to the origin, never stored (a bypass rule, or a method other than GET and HEAD).' },
    CACHE: { description: 'Looked up under `cacheKey`, fetched from the origin on a miss and stored as the TTLs say.' },
  },
});

@InputType({ description: 'A request header as the client would send it.' })
export class HeaderInput {
  @Field()
  name!: string;

  @Field()
  value!: string;
}

@ObjectType()
export class RequestExplanation {
  @Field(() => [String], { description: 'The rules that matched, in order, starting with `default`.' })
  matchedRules!: string[];

  @Field(() => ExplainOutcome)
  outcome!: ExplainOutcome;

  @Field(() => Int, { nullable: true, description: 'The status the edge itself would answer with (403, 3xx), if it answers without the cache.' })
  status!: number | null;

  @Field(() => String, { nullable: true, description: 'Why a request is refused (as the 403 body says it).' })
  reason!: string | null;

  @Field(() => String, { nullable: true })
  location!: string | null;

  @Field(() => String, { nullable: true, description: 'The cache key ("\\n" between its parts): customer, path and query, then a digest of the header and cookie values the rules add.' })
  cacheKey!: string | null;

  @Field(() => [String], { description: 'The header and cookie values the key depends on (`h:name=value`, `c:name=value`).' })
  keyParts!: string[];

  @Field({ description: "The path and query the origin would be asked for (relative to the customer's origin URL)." })
  originTarget!: string;

  @Field(() => EdgeTtl)
  edgeTtl!: EdgeTtl;

  @Field(() => Int, { nullable: true })
  browserTtl!: number | null;

  @Field(() => Int, { nullable: true })
  staleWhileRevalidate!: number | null;

  @Field(() => Int, { nullable: true })
  staleIfError!: number | null;

  @Field(() => [HeaderOp])
  responseHeaders!: HeaderOp[];

  @Field(() => [HeaderOp])
  originHeaders!: HeaderOp[];

  @Field({ description: 'Whether the URL must be signed (and, when it carries a signature, it was checked: see reason).' })
  signedUrlRequired!: boolean;

  @Field(() => RateLimitAction, { nullable: true, description: 'The per-address rate limit this request counts against.' })
  rateLimit!: RateLimitAction | null;
}
