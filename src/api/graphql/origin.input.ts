/**
 * setOrigins and setOriginPolicy inputs. Only shapes here: every rule (names, URL, ranges,
 * Host header, health check) is core/origin.rules.ts's, checked by the service, so every
 * problem comes back at once with the same messages as for the customers file.
 */
import { Field, InputType, Int } from 'type-graphql';
import { BasicAuthInput } from './customer.input';

@InputType({ description: 'Active health checks of an origin; absent fields take their defaults.' })
export class OriginHealthCheckInput {
  @Field({ description: 'Path (and query) asked with GET, starting with "/", as sent (percent-encoded).' })
  path!: string;

  @Field(() => Int, { nullable: true, description: 'Seconds, 1 to 3600; default 10.' })
  intervalSeconds?: number | null;

  @Field(() => Int, { nullable: true, description: 'Milliseconds, 100 to 60000 and at most intervalSeconds × 1000; default 2000.' })
  timeoutMs?: number | null;

  @Field(() => Int, { nullable: true, description: '100 to 599; default 200.' })
  expectedStatusMin?: number | null;

  @Field(() => Int, { nullable: true, description: 'expectedStatusMin to 599; default 399.' })
  expectedStatusMax?: number | null;

  @Field(() => Int, { nullable: true, description: '1 to 100; default 2.' })
  healthyThreshold?: number | null;

  @Field(() => Int, { nullable: true, description: '1 to 100; default 3.' })
  unhealthyThreshold?: number | null;
}

@InputType({
  description:
    'One origin. Credentials: `basicAuth { username password }` sets them, `basicAuth: null` removes them, `keepBasicAuth: true` keeps those the origin of this name has now. ' +
    'Leaving both out for an origin that has Basic Auth now is refused, since passwords are never read back.',
})
export class OriginInput {
  @Field({ description: 'Unique within the customer: lower-case letters, digits and "-", at most 63 characters.' })
  name!: string;

  @Field({ description: 'http or https URL, without credentials, query or fragment.' })
  url!: string;

  @Field(() => BasicAuthInput, { nullable: true })
  basicAuth?: BasicAuthInput | null;

  @Field(() => Boolean, { nullable: true, description: 'Keep the Basic Auth credentials the origin of this name has now.' })
  keepBasicAuth?: boolean | null;

  @Field(() => Int, { nullable: true, description: '1 (most preferred) to 100; default 1.' })
  priority?: number | null;

  @Field(() => Int, { nullable: true, description: '1 to 1000; default 1.' })
  weight?: number | null;

  @Field(() => String, { nullable: true, description: "host[:port] sent as the Host header; absent: the URL's host." })
  hostHeader?: string | null;

  @Field(() => String, { nullable: true, description: 'A host name (not an IP address) sent as the TLS server name; absent: the Host header\'s host.' })
  tlsServerName?: string | null;

  @Field(() => OriginHealthCheckInput, { nullable: true, description: 'Absent: passive checks only.' })
  healthCheck?: OriginHealthCheckInput | null;
}

@InputType({ description: "Replaces the whole policy; a null or absent field takes the edge's default." })
export class OriginPolicyInput {
  @Field(() => Int, { nullable: true, description: '1 to 10000.' })
  maxConnections?: number | null;

  @Field(() => Int, { nullable: true, description: 'Milliseconds, 0 to 60000.' })
  queueTimeoutMs?: number | null;

  @Field(() => Int, { nullable: true, description: '0 to 100; 0: never retry.' })
  retryBudgetPercent?: number | null;

  @Field(() => Int, { nullable: true, description: 'Seconds, 0 to 604800; 0: off.' })
  staleIfDownSeconds?: number | null;
}
