/**
 * Delivery rules in GraphQL: one class per shape of core/delivery-rules.types.ts, each both
 * the output type (`RuleMatch`) and the input type (`RuleMatchInput`), so what a client reads
 * it can send back unchanged. Enum values map straight onto core's strings (OVERRIDE is
 * 'override'), so a rule needs no translation between the two: toCoreRules only drops the
 * nulls GraphQL clients may send for absent fields. Every rule about values (globs, CIDRs,
 * conflicts, limits) is core's validator's, so the file, the api and the edge agree.
 */
import { Field, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { DeliveryRule } from '../../core/delivery-rules.types';

export enum EdgeTtlMode {
  OVERRIDE = 'override',
  DEFAULT = 'default',
}
registerEnumType(EdgeTtlMode, {
  name: 'EdgeTtlMode',
  valuesConfig: {
    OVERRIDE: { description: "This TTL whatever the origin says about freshness (never makes a no-store, private or Set-Cookie answer storable)." },
    DEFAULT: { description: 'This TTL only when the origin gives no freshness of its own.' },
  },
});

export enum QueryKeyMode {
  ALL = 'all',
  NONE = 'none',
  ALLOW = 'allow',
  DENY = 'deny',
}
registerEnumType(QueryKeyMode, {
  name: 'QueryKeyMode',
  description: 'How the query string enters the cache key and the origin request. Kept parameters are sorted by name; signed-URL parameters never enter.',
  valuesConfig: {
    ALL: { description: 'Every parameter.' },
    NONE: { description: 'No query string.' },
    ALLOW: { description: 'Only the named parameters (`utm_*`: a prefix).' },
    DENY: { description: 'Every parameter but the named ones (`utm_*`: a prefix).' },
  },
});

export enum HeaderOpKind {
  SET = 'set',
  APPEND = 'append',
  REMOVE = 'remove',
}
registerEnumType(HeaderOpKind, { name: 'HeaderOpKind' });

@ObjectType('FieldMatch', { description: 'A request header or cookie: present (no values), or equal to one of `values` (exact).' })
@InputType('FieldMatchInput')
export class FieldMatch {
  @Field({ description: 'Header names in lower case; cookie names as sent.' })
  name!: string;

  @Field(() => [String], { nullable: true })
  values?: string[] | null;
}

@ObjectType('RuleMatch', { description: 'Every condition given must hold; within a list, any element may match. Absent: every request.' })
@InputType('RuleMatchInput')
export class RuleMatch {
  @Field(() => [String], { nullable: true, description: 'The path starts with one of these (each starts with "/").' })
  pathPrefixes?: string[] | null;

  @Field(() => [String], { nullable: true, description: 'The path matches one of these globs: `*` within a segment, `**` across segments, `?` one character.' })
  globs?: string[] | null;

  @Field(() => [String], { nullable: true, description: 'The last segment ends with one of these extensions (without the dot, any case).' })
  extensions?: string[] | null;

  @Field(() => [String], { nullable: true, description: 'The method is one of these.' })
  methods?: string[] | null;

  @Field(() => [FieldMatch], { nullable: true, description: 'Every one of these request header conditions holds.' })
  headers?: FieldMatch[] | null;

  @Field(() => [FieldMatch], { nullable: true, description: 'Every one of these cookie conditions holds.' })
  cookies?: FieldMatch[] | null;

  @Field(() => [RuleMatch], { nullable: true, description: 'Every one of these matches.' })
  all?: RuleMatch[] | null;

  @Field(() => [RuleMatch], { nullable: true, description: 'At least one of these matches.' })
  any?: RuleMatch[] | null;

  @Field(() => RuleMatch, { nullable: true, description: 'This one does not match.' })
  not?: RuleMatch | null;
}

@ObjectType('EdgeTtl')
@InputType('EdgeTtlInput')
export class EdgeTtl {
  @Field(() => Int, { description: 'Seconds, 0 to one year.' })
  seconds!: number;

  @Field(() => EdgeTtlMode)
  mode!: EdgeTtlMode;
}

@ObjectType('CacheAction')
@InputType('CacheActionInput')
export class CacheAction {
  @Field(() => Boolean, { nullable: true, description: 'Never looked up nor stored: straight to the origin (X-Cache: BYPASS).' })
  bypass?: boolean | null;

  @Field(() => EdgeTtl, { nullable: true, description: 'Freshness at the edge.' })
  edgeTtl?: EdgeTtl | null;

  @Field(() => Int, { nullable: true, description: "Seconds: the Cache-Control clients get (max-age; 0: no-cache), replacing the origin's." })
  browserTtl?: number | null;

  @Field(() => Int, { nullable: true, description: 'Seconds a stale object may be served while one refresh runs.' })
  staleWhileRevalidate?: number | null;

  @Field(() => Int, { nullable: true, description: 'Seconds past freshness a stored object may answer for a failing origin.' })
  staleIfError?: number | null;
}

@ObjectType('QueryKeyPolicy')
@InputType('QueryKeyPolicyInput')
export class QueryKeyPolicy {
  @Field(() => QueryKeyMode)
  mode!: QueryKeyMode;

  @Field(() => [String], { nullable: true, description: 'For ALLOW and DENY; a name ending in `*` is a prefix.' })
  names?: string[] | null;
}

@ObjectType('CacheKeyAction')
@InputType('CacheKeyActionInput')
export class CacheKeyAction {
  @Field(() => QueryKeyPolicy, { nullable: true })
  query?: QueryKeyPolicy | null;

  @Field(() => [String], { nullable: true, description: 'Request headers (lower case) whose values become part of the key.' })
  headers?: string[] | null;

  @Field(() => [String], { nullable: true, description: 'Cookies whose values become part of the key.' })
  cookies?: string[] | null;
}

@ObjectType('HeaderOp')
@InputType('HeaderOpInput')
export class HeaderOp {
  @Field(() => HeaderOpKind)
  op!: HeaderOpKind;

  @Field({ description: 'Lower-case field name.' })
  name!: string;

  @Field(() => String, { nullable: true, description: 'For SET and APPEND.' })
  value?: string | null;
}

@ObjectType('RefererPolicy')
@InputType('RefererPolicyInput')
export class RefererPolicy {
  @Field(() => [String], { description: 'Host names; `*.example.com` for its subdomains.' })
  allow!: string[];

  @Field(() => Boolean, { nullable: true, description: 'Serve requests without Referer (default true).' })
  allowEmpty?: boolean | null;
}

@ObjectType('RateLimitAction')
@InputType('RateLimitActionInput')
export class RateLimitAction {
  @Field(() => Int)
  perSecond!: number;

  @Field(() => Int)
  burst!: number;
}

@ObjectType('AccessAction')
@InputType('AccessActionInput')
export class AccessAction {
  @Field(() => Boolean, { nullable: true, description: 'Always 403.' })
  deny?: boolean | null;

  @Field(() => [String], { nullable: true, description: 'Only clients inside one of these CIDR blocks are served.' })
  allowCidrs?: string[] | null;

  @Field(() => [String], { nullable: true, description: 'Clients inside one of these CIDR blocks are refused.' })
  denyCidrs?: string[] | null;

  @Field(() => RefererPolicy, { nullable: true, description: 'Hotlink protection.' })
  referers?: RefererPolicy | null;

  @Field(() => Boolean, { nullable: true, description: "The URL must carry a valid signature by one of the customer's signing keys." })
  signedUrl?: boolean | null;

  @Field(() => RateLimitAction, { nullable: true, description: 'Per client address, shared by the workers of an edge; 429 with Retry-After beyond.' })
  rateLimit?: RateLimitAction | null;
}

@ObjectType('RedirectAction')
@InputType('RedirectActionInput')
export class RedirectAction {
  @Field(() => Int, { description: '301, 302, 307 or 308.' })
  status!: number;

  @Field({ description: 'Absolute http(s) URL or path; placeholders {scheme}, {host}, {path}, {query}, {search}.' })
  location!: string;
}

@ObjectType('RuleActions')
@InputType('RuleActionsInput')
export class RuleActions {
  @Field(() => CacheAction, { nullable: true })
  cache?: CacheAction | null;

  @Field(() => CacheKeyAction, { nullable: true })
  cacheKey?: CacheKeyAction | null;

  @Field(() => [HeaderOp], { nullable: true, description: 'Applied in order to the answer the client gets.' })
  responseHeaders?: HeaderOp[] | null;

  @Field(() => [HeaderOp], { nullable: true, description: 'Applied in order to the request the origin gets.' })
  originHeaders?: HeaderOp[] | null;

  @Field(() => AccessAction, { nullable: true })
  access?: AccessAction | null;

  @Field(() => RedirectAction, { nullable: true })
  redirect?: RedirectAction | null;
}

@ObjectType('DeliveryRule', { description: 'A match and what to do when it holds. Every matching rule applies, in order; a later value replaces an earlier one.' })
@InputType('DeliveryRuleInput')
export class DeliveryRuleGql {
  @Field({ description: 'Unique within the customer: lower-case letters, digits, "-" and "_"; not "default".' })
  name!: string;

  @Field(() => RuleMatch, { nullable: true })
  match?: RuleMatch | null;

  @Field(() => RuleActions)
  actions!: RuleActions;
}

/** GraphQL input (class instances, nulls for absent fields) → core's plain JSON, for the validator. */
export function toCoreRules(input: readonly DeliveryRuleGql[]): unknown[] {
  return input.map((rule) => withoutNulls(rule));
}

function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = withoutNulls(v);
  return out;
}

/** Core's rules as GraphQL objects: the shapes are the same, plain objects resolve as they are. */
export function toGraphqlRules(rules: readonly DeliveryRule[]): DeliveryRuleGql[] {
  return rules as unknown as DeliveryRuleGql[];
}
