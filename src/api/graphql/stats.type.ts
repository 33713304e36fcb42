/**
 * The live statistics object types: CacheStats (one customer), FleetStats (every customer),
 * their per-edge breakdown (EdgeCacheStats) and the top customers (CustomerTraffic). The
 * figures they share are declared once (TrafficFigures, not a GraphQL type of its own).
 * Shapes agreed with the dashboard; see docs/API.md, "Live cache statistics".
 */
import { Field, Float, ID, Int, ObjectType } from 'type-graphql';

const HIT_RATIO = '(HIT + STALE + REVALIDATED) / (those + MISS); null when there were none.';

// Decorated so type-graphql gives its fields to the subclasses; never referenced, so never in the schema.
@ObjectType()
class TrafficFigures {
  @Field(() => Int, { description: 'Client requests answered (every cache result, errors included).' })
  requests!: number;

  @Field(() => Float)
  requestsPerSecond!: number;

  @Field(() => Float, { nullable: true, description: HIT_RATIO })
  hitRatio!: number | null;

  @Field(() => Float, { description: 'Body bytes sent to clients per second.' })
  bytesPerSecond!: number;

  @Field(() => Float, {
    nullable: true,
    description: 'Median origin time to response headers, ms, from the merged latency buckets (interpolated inside a bucket); null without origin responses.',
  })
  originP50Ms!: number | null;

  @Field(() => Float, { nullable: true, description: '95th percentile origin time to response headers, ms (as originP50Ms).' })
  originP95Ms!: number | null;

  @Field(() => Float, { description: 'Answers with status 5xx / requests; 0 without requests.' })
  errorRatio!: number;
}

@ObjectType({ description: 'One edge process\'s share of an interval.' })
export class EdgeCacheStats extends TrafficFigures {
  @Field({ description: 'The fleet\'s edge id (CDN_EDGE_ID, "#<n>" per cluster worker).' })
  edgeId!: string;
}

@ObjectType({ description: 'One interval of one customer\'s traffic, summed over every live edge.' })
export class CacheStats extends TrafficFigures {
  @Field(() => ID)
  customerId!: string;

  @Field({ description: 'End of the interval.' })
  at!: Date;

  @Field(() => Int)
  intervalSeconds!: number;

  @Field(() => [EdgeCacheStats], { description: 'Per edge that served the customer in the interval, by edgeId.' })
  edges!: EdgeCacheStats[];
}

@ObjectType({ description: 'One customer\'s traffic in a FleetStats interval.' })
export class CustomerTraffic {
  @Field(() => ID)
  customerId!: string;

  @Field(() => String, { nullable: true, description: 'Null when the customer no longer exists.' })
  customerName!: string | null;

  @Field(() => Int)
  requests!: number;

  @Field(() => Float)
  requestsPerSecond!: number;

  @Field(() => Float)
  bytesPerSecond!: number;

  @Field(() => Float, { nullable: true, description: HIT_RATIO })
  hitRatio!: number | null;
}

@ObjectType({ description: 'One interval of the whole fleet\'s traffic, every customer and every live edge.' })
export class FleetStats extends TrafficFigures {
  @Field({ description: 'End of the interval.' })
  at!: Date;

  @Field(() => Int)
  intervalSeconds!: number;

  @Field(() => Int, { description: 'Customers with at least one request in the interval.' })
  activeCustomers!: number;

  @Field(() => [EdgeCacheStats], { description: 'Per edge with traffic in the interval, by edgeId.' })
  edges!: EdgeCacheStats[];

  @Field(() => [CustomerTraffic], { description: 'The busiest customers by requests (ties by id), at most `top`.' })
  topCustomers!: CustomerTraffic[];
}
