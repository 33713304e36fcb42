/** The GraphQL `Purge` and `PurgeEdge` object types and the `PurgeKind` enum. */
import { GraphQLSafeInt } from 'graphql-scalars';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { Customer } from './customer.type';

/** Same values as core's PurgeKind. */
export enum PurgeKind {
  URL = 'URL',
  PREFIX = 'PREFIX',
  TAG = 'TAG',
  ALL = 'ALL',
}

registerEnumType(PurgeKind, {
  name: 'PurgeKind',
  description: 'What a purge removes from every edge. Each takes effect at an edge at once, whatever the number of cached objects.',
  valuesConfig: {
    URL: { description: 'One object, every Vary variant of it: `value` is its path with its query, e.g. /img/logo.png?v=2.' },
    PREFIX: { description: 'Every object whose path?query starts with `value`, e.g. /img/. Never empty nor "/" (use ALL).' },
    TAG: { description: 'Every object whose Surrogate-Key or Cache-Tag response header names `value`.' },
    ALL: { description: 'Every object of the customer; no `value`.' },
  },
});

@ObjectType({ description: 'One edge process as far as a purge is concerned.' })
export class PurgeEdge {
  @Field(() => ID, { description: 'The edge process (CDN_EDGE_ID, "#<n>" per cluster worker).' })
  edgeId!: string;

  @Field({ description: 'Whether the edge is live now (its heartbeat has not expired).' })
  live!: boolean;

  @Field(() => Date, {
    nullable: true,
    description:
      'When the purge took effect there: from the edge\'s ack, or, when its heartbeat already reports the purge\'s seq as applied but the ack has not arrived, the time of that heartbeat. Null: a live edge that has not applied it yet.',
  })
  appliedAt!: Date | null;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Objects removed or marked stale at once, from the ack; null without one (a ban\'s lurker may remove more later).' })
  objectsRemoved!: number | null;
}

@ObjectType({ description: 'A purge and how far it has reached across the edges.' })
export class Purge {
  @Field(() => ID)
  id!: string;

  @Field(() => Customer)
  customer!: Customer;

  @Field(() => PurgeKind)
  kind!: PurgeKind;

  @Field(() => String, { nullable: true, description: 'Path, prefix (an absolute URL given is kept as its path?query) or tag; null for ALL.' })
  value!: string | null;

  @Field({ description: 'Marked stale (revalidated with the origin on the next request) rather than removed.' })
  soft!: boolean;

  @Field(() => Int, { description: "Position of the purge in the change log: an edge whose Edge.appliedSeq is at least this has applied it." })
  seq!: number;

  @Field()
  requestedAt!: Date;

  @Field(() => Int, { description: 'Edges listed in `edges`: those that applied it and those live now.' })
  edgesTotal!: number;

  @Field(() => Int, { description: 'Edges in `edges` that applied it (by ack, or by a heartbeat whose appliedSeq is at least `seq`).' })
  edgesApplied!: number;

  @Field(() => Date, {
    nullable: true,
    description:
      'When the api saw every live edge had applied it (with no edge live at all, nothing is left to wait for and it is complete at once); set once, never cleared. Null: some live edge has not applied it yet, or the live edges cannot be read.',
  })
  completedAt!: Date | null;

  @Field(() => [PurgeEdge], {
    description: 'Every edge that applied it (live or not) and every live edge, by edgeId; a live edge with appliedAt null has not applied it yet.',
  })
  edges!: PurgeEdge[];
}
