/**
 * The live access log tail's types (the `accessLog` subscription; docs/API.md "Access logs"):
 * one AccessLogEntry per request sent by an edge (kind RECORD), or a SKIPPED entry saying how
 * many requests were answered but not sent (sampled under load). Fields as in the export files
 * (docs/EDGE.md "Access logs").
 */
import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum AccessLogEntryKind {
  RECORD = 'RECORD',
  SKIPPED = 'SKIPPED',
}
registerEnumType(AccessLogEntryKind, {
  name: 'AccessLogEntryKind',
  description: 'RECORD: one request (`record`); SKIPPED: `skipped` requests answered but not sent (sampled under load).',
});

@ObjectType({ description: 'One client request as an edge logged it (never the query string).' })
export class AccessLogRecord {
  @Field({ description: 'When the answer ended (the edge\'s clock, ms).' })
  time!: Date;

  @Field({ description: 'The edge process (CDN_EDGE_ID, "#<n>" per cluster worker).' })
  edgeId!: string;

  @Field(() => ID)
  customerId!: string;

  @Field({ description: 'The client\'s address as the edge\'s socket saw it (IPv4-mapped IPv6 as IPv4).' })
  clientIp!: string;

  @Field()
  method!: string;

  @Field()
  host!: string;

  @Field({ description: 'The path, without the query (which may carry tokens or signatures).' })
  path!: string;

  @Field(() => Int)
  status!: number;

  @Field(() => Float, { description: 'Body bytes sent.' })
  bytes!: number;

  @Field({ description: 'HIT, MISS, STALE, REVALIDATED, BYPASS (the X-Cache value), ERROR (no answer from the origin) or NONE (no cache involved).' })
  cache!: string;

  @Field(() => Float, { nullable: true, description: 'Time to the origin\'s response headers (ms), when this request asked the origin.' })
  originMs!: number | null;

  @Field(() => Float, { description: 'Request time (ms): arrival to the end of the answer.' })
  ms!: number;

  @Field({ description: 'http (HTTP/1.x), https (HTTP/1.x over TLS) or h2.' })
  transport!: string;

  @Field(() => String, { nullable: true, description: 'TLS version (TLSv1.3), over TLS.' })
  tls!: string | null;

  @Field(() => String, { nullable: true, description: 'ALPN protocol (h2, http/1.1), over TLS.' })
  alpn!: string | null;

  @Field(() => String, { nullable: true, description: 'User-Agent, at most 512 characters.' })
  userAgent!: string | null;

  @Field(() => String, { nullable: true, description: 'Referer, at most 1024 characters.' })
  referer!: string | null;

  @Field({ description: 'The client left before the answer ended.' })
  aborted!: boolean;
}

@ObjectType({ description: 'One entry of a live access log tail: a request, or how many were skipped.' })
export class AccessLogEntry {
  @Field(() => AccessLogEntryKind)
  kind!: AccessLogEntryKind;

  @Field(() => AccessLogRecord, { nullable: true, description: 'The request (kind RECORD).' })
  record!: AccessLogRecord | null;

  @Field({ description: 'The edge process that sent it (empty when the api itself skipped, see `skipped`).' })
  edgeId!: string;

  @Field({ description: 'RECORD: the request\'s time; SKIPPED: the end of the second that was sampled.' })
  at!: Date;

  @Field(() => Int, {
    description:
      'SKIPPED: requests of this customer answered by that edge in that second but not sent (each edge sends at most ' +
      'CDN_EDGE_LOG_TAIL_PER_SECOND per customer per second), or not delivered by this api because the client read too slowly; ' +
      'counted before this tail\'s filter. 0 for RECORD.',
  })
  skipped!: number;
}

@InputType({ description: 'What a tail keeps; every field optional, none keeps every request.' })
export class AccessLogFilterInput {
  @Field(() => [Int], { nullable: true, description: 'Status classes, 1 to 5 (4 keeps 4xx). With statuses too, either matches.' })
  statusClasses?: number[] | null;

  @Field(() => [Int], { nullable: true, description: 'Exact status codes.' })
  statuses?: number[] | null;

  @Field(() => String, { nullable: true, description: 'Keep paths starting with this (starts with "/", at most 1024 characters).' })
  pathPrefix?: string | null;

  @Field(() => [String], { nullable: true, description: 'Cache results to keep: HIT, MISS, STALE, REVALIDATED, BYPASS, ERROR, NONE.' })
  cacheResults?: string[] | null;
}
