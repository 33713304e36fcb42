/** The GraphQL `Warm` and `WarmEdge` object types and the `WarmEdgeState` enum. */
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { Customer } from './customer.type';

/** Same values as services/warm-progress.ts's WarmEdgeState. */
export enum WarmEdgeState {
  PENDING = 'PENDING',
  WARMING = 'WARMING',
  DONE = 'DONE',
  INCOMPLETE = 'INCOMPLETE',
}

registerEnumType(WarmEdgeState, {
  name: 'WarmEdgeState',
  description: 'Where one edge stands with a warm.',
  valuesConfig: {
    PENDING: { description: 'The edge has not reported on it yet.' },
    WARMING: { description: 'The edge is fetching the URLs (urlsDone and urlsFailed so far).' },
    DONE: { description: 'The edge has fetched every URL: urlsDone + urlsFailed = urlsTotal.' },
    INCOMPLETE: {
      description:
        'The edge will not finish it: it stopped, restarted or went away before fetching every URL, or never took the warm up (`reason` says which). What it fetched stays cached; a warm is not resumed: warm again.',
    },
  },
});

@ObjectType({ description: 'One edge (a machine: CDN_EDGE_ID; a cluster warms once for all its workers) as far as a warm is concerned.' })
export class WarmEdge {
  @Field(() => ID, { description: 'CDN_EDGE_ID of the edge.' })
  edgeId!: string;

  @Field({ description: 'Whether some process of the edge is live now (its heartbeat has not expired).' })
  live!: boolean;

  @Field(() => WarmEdgeState)
  state!: WarmEdgeState;

  @Field(() => Int, { description: 'URLs the edge fetched with an answer below 400 (stored, unless the answer may not be cached).' })
  urlsDone!: number;

  @Field(() => Int, { description: 'URLs the edge got a 4xx or 5xx answer for, or no answer.' })
  urlsFailed!: number;

  @Field(() => Int, { description: 'URLs in the warm.' })
  urlsTotal!: number;

  @Field(() => Date, { nullable: true, description: "The edge's time of its last report; null before its first." })
  reportedAt!: Date | null;

  @Field(() => String, { nullable: true, description: 'Why the edge is INCOMPLETE; null in every other state.' })
  reason!: string | null;
}

@ObjectType({ description: 'A cache warm: URLs every edge (or one) fetches through its own request path, and how far each edge got.' })
export class Warm {
  @Field(() => ID)
  id!: string;

  @Field(() => Customer)
  customer!: Customer;

  @Field(() => [String], { description: 'The URLs warmed, distinct, in the order given: http://<domain><path?query>, a path given alone on the customer\'s first domain.' })
  urls!: string[];

  @Field(() => String, { nullable: true, description: 'The one edge asked to warm (CDN_EDGE_ID); null: every edge live when it was asked for.' })
  edgeId!: string | null;

  @Field(() => Int, { description: 'Position of the warm in the change log: an edge whose Edge.appliedSeq is at least this has seen it.' })
  seq!: number;

  @Field()
  requestedAt!: Date;

  @Field(() => Int, { description: 'Edges taking part: those live when it was asked for (or the one named), and any other that reported on it.' })
  edgesTotal!: number;

  @Field(() => Int, { description: 'Edges in `edges` that are DONE.' })
  edgesDone!: number;

  @Field(() => Date, {
    nullable: true,
    description: 'When the api saw no edge PENDING or WARMING any more (every one DONE or INCOMPLETE); set once, never cleared. Null while some edge is still at it, or while the live edges cannot be read.',
  })
  completedAt!: Date | null;

  @Field(() => [WarmEdge], { description: 'Each edge taking part, by edgeId.' })
  edges!: WarmEdge[];
}
