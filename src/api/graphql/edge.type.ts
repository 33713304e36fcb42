/** The GraphQL `Edge` object type: one live edge process as its last heartbeat reported it. */
import { GraphQLSafeInt } from 'graphql-scalars';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum EdgeRole {
  EDGE = 'edge',
  SHIELD = 'shield',
}
registerEnumType(EdgeRole, {
  name: 'EdgeRole',
  description: 'EDGE serves clients and sends its misses to the live shields (or the origins); SHIELD is an origin shield (CDN_EDGE_ROLE=shield) the edges fill from.',
});

@ObjectType({ description: 'A live edge process (one per cluster worker), as its last heartbeat reported it.' })
export class Edge {
  @Field(() => ID, { description: 'CDN_EDGE_ID (default: host name and port), "#<n>" per cluster worker.' })
  edgeId!: string;

  @Field()
  host!: string;

  @Field(() => Int)
  pid!: number;

  @Field({ description: 'Edgeplane version the edge runs.' })
  version!: string;

  @Field(() => Int, { description: 'The last change seq the edge applied: every purge whose seq is at most this is in effect there.' })
  appliedSeq!: number;

  @Field({ description: 'Time of the last heartbeat.' })
  lastHeartbeat!: Date;

  @Field()
  startedAt!: Date;

  @Field({ description: 'Whether the edge reports ready (its /readyz).' })
  ready!: boolean;

  @Field(() => GraphQLSafeInt, { description: 'Objects in its cache.' })
  cacheObjects!: number;

  @Field(() => GraphQLSafeInt, { description: 'Bytes in its cache.' })
  cacheBytes!: number;

  @Field(() => EdgeRole, { description: 'EDGE, or SHIELD for an origin shield (edges older than the shield report none: EDGE).' })
  role!: EdgeRole;

  @Field(() => String, { nullable: true, description: "A shield's URL, where the edges send their misses (CDN_EDGE_SHIELD_URL); null for an edge." })
  shieldUrl!: string | null;
}
