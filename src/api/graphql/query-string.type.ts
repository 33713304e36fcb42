/**
 * The query-string policy of a customer's cache key, as GraphQL shows and accepts it.
 * The enum's values are core's lower-case modes, so GraphQL `KEEP` is `'keep'` inside.
 */
import { Field, ObjectType, registerEnumType } from 'type-graphql';

export enum QueryStringMode {
  KEEP = 'keep',
  IGNORE = 'ignore',
  ALLOWLIST = 'allowlist',
}

registerEnumType(QueryStringMode, {
  name: 'QueryStringMode',
  description: 'How the query string enters the cache key (and the request to the origin).',
  valuesConfig: {
    KEEP: { description: 'The whole query string, parameters sorted by name: `?a=1&b=2` and `?b=2&a=1` are one object.' },
    IGNORE: { description: 'No query string: `/x?a=1` and `/x` are one object, and the origin sees no query.' },
    ALLOWLIST: { description: 'Only the parameters named in `allow`, sorted by name; the others are dropped.' },
  },
});

@ObjectType({ description: 'How the query string enters the cache key.' })
export class QueryStringPolicy {
  @Field(() => QueryStringMode)
  mode!: QueryStringMode;

  @Field(() => [String], { description: 'Parameter names kept in ALLOWLIST mode; empty in the other modes.' })
  allow!: string[];
}
