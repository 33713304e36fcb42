/**
 * The GraphQL `TrafficTop`, `TopPath` and `StatusCount` types (trafficTop). Counts are Float:
 * whole numbers, but a busy customer's day exceeds GraphQL's 32-bit Int.
 */
import { Field, Float, ID, Int, ObjectType } from 'type-graphql';

@ObjectType({
  description:
    'One path among the busiest of a window, merged over every edge process and minute from their Space-Saving summaries: ' +
    'the true count lies in [requests - errorBound, requests + missingBound].',
})
export class TopPath {
  @Field({ description: 'The request path, without the query string (cut at 512 characters, then marked with "…").' })
  path!: string;

  @Field(() => Float, { description: 'The summed count of the summaries that listed the path; an upper bound of its true count there. The ranking is by it.' })
  requests!: number;

  @Field(() => Float, { description: 'How much of requests may come from paths the summaries evicted: requests - errorBound is a lower bound of the true count.' })
  errorBound!: number;

  @Field(() => Float, { description: 'What the path may have had in the summaries that did not list it (each one\'s smallest kept count): requests + missingBound is an upper bound.' })
  missingBound!: number;
}

@ObjectType({ description: 'Requests answered with one status code in the window: exact.' })
export class StatusCount {
  @Field(() => Int)
  status!: number;

  @Field(() => Float)
  requests!: number;
}

@ObjectType({ description: "A customer's top paths and status codes over whole minutes, from every edge process (docs/API.md, \"Top URLs and status codes\")." })
export class TrafficTop {
  @Field(() => ID)
  customerId!: string;

  @Field(() => Date, { description: 'The first minute of the window (inclusive).' })
  from!: Date;

  @Field(() => Date, { description: 'The end of the window (exclusive): the start of the current minute, which edges report only once it has ended.' })
  to!: Date;

  @Field(() => Float, { description: 'Requests the edges counted in the window (every status).' })
  requests!: number;

  @Field(() => Int, { description: 'Minute summaries in the window: one per edge process and minute with traffic.' })
  summaries!: number;

  @Field(() => Float, { description: 'A path listed in no summary had at most this many requests (the sum of the summaries\' smallest kept counts); 0: every path of the window is counted exactly or with its bounds.' })
  unlistedBound!: number;

  @Field(() => [TopPath], { description: 'The busiest paths, most requests first (ties by path), at most `first`.' })
  paths!: TopPath[];

  @Field(() => [StatusCount], { description: 'Every status code answered in the window, most requests first; exact.' })
  statuses!: StatusCount[];
}
