/** Payload of the `purgeStatus` subscription. */
import { Field, ObjectType } from 'type-graphql';
import { Purge, PurgeEdge } from './purge.type';

@ObjectType({ description: 'One step of a purge: the state when subscribing, then one event per edge that applies it.' })
export class PurgeStatusEvent {
  @Field(() => Purge, { description: 'The purge as it stands after this step; completedAt is set on the last event.' })
  purge!: Purge;

  @Field(() => PurgeEdge, {
    nullable: true,
    description: 'The edge that has just applied it; null on the first event, and on a last event that reports completion alone (a live edge that had not applied it stopped being live).',
  })
  edge!: PurgeEdge | null;
}
