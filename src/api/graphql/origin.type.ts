/** A customer's origins and origin policy as GraphQL shows them. Never a password: only whether an origin has Basic Auth. */
import { Field, Int, ObjectType } from 'type-graphql';

@ObjectType('OriginHealthCheck', { description: 'Active health checks: every edge GETs `path` every `intervalSeconds` (each from a random offset).' })
export class OriginHealthCheckGql {
  @Field({ description: 'Path (and query) asked with GET.' })
  path!: string;

  @Field(() => Int, { description: 'Seconds between two checks by one edge, 1 to 3600.' })
  intervalSeconds!: number;

  @Field(() => Int, { description: 'Milliseconds a check may take, 100 to 60000 (and at most the interval).' })
  timeoutMs!: number;

  @Field(() => Int, { description: 'Lowest status that counts as healthy (100 to 599).' })
  expectedStatusMin!: number;

  @Field(() => Int, { description: 'Highest status that counts as healthy (expectedStatusMin to 599).' })
  expectedStatusMax!: number;

  @Field(() => Int, { description: 'Consecutive successes that bring a down origin back, 1 to 100.' })
  healthyThreshold!: number;

  @Field(() => Int, { description: 'Consecutive failures (checks or real requests) that take an origin down, 1 to 100.' })
  unhealthyThreshold!: number;
}

@ObjectType('Origin', { description: 'One origin of a customer. The edges send requests to the healthy origins of the lowest priority number, weighted by weight.' })
export class OriginGql {
  @Field({ description: 'Unique within the customer; names the origin in health reports and metrics. `primary` is the one every customer had before several were possible.' })
  name!: string;

  @Field({ description: 'http(s) URL without credentials; a path prefixes every origin request.' })
  url!: string;

  @Field({ description: 'Whether requests to this origin carry Basic Auth. The credentials themselves are never returned.' })
  hasBasicAuth!: boolean;

  @Field(() => Int, { description: '1 (most preferred) to 100.' })
  priority!: number;

  @Field(() => Int, { description: '1 to 1000: the share of requests among the healthy origins of one priority.' })
  weight!: number;

  @Field(() => String, { nullable: true, description: "The Host header the origin gets; null: the URL's host." })
  hostHeader!: string | null;

  @Field(() => String, { nullable: true, description: 'The TLS server name (SNI) for an https origin; null: the host of hostHeader, else of the URL.' })
  tlsServerName!: string | null;

  @Field(() => OriginHealthCheckGql, { nullable: true, description: "Active health checks; null: only passive ones (the edges' own requests)." })
  healthCheck!: OriginHealthCheckGql | null;
}

@ObjectType('OriginPolicy', { description: "How the customer's origins are used. A null field takes the edge's default." })
export class OriginPolicyGql {
  @Field(() => Int, { nullable: true, description: 'Concurrent origin requests of this customer on one edge process (1 to 10000); beyond, misses queue.' })
  maxConnections!: number | null;

  @Field(() => Int, { nullable: true, description: 'Milliseconds a miss waits in that queue before a 503 (0 to 60000).' })
  queueTimeoutMs!: number | null;

  @Field(() => Int, { nullable: true, description: 'Retries may be at most this share of origin requests, in percent (0 to 100; 0: never retry).' })
  retryBudgetPercent!: number | null;

  @Field(() => Int, {
    nullable: true,
    description: 'Seconds past freshness a stored object may answer (X-Cache: STALE) when every origin is down, 0 to 604800 (one week); 0 turns it off.',
  })
  staleIfDownSeconds!: number | null;
}
