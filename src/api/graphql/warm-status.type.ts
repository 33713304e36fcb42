/** Payload of the `warmStatus` subscription. */
import { Field, ObjectType } from 'type-graphql';
import { Warm, WarmEdge } from './warm.type';

@ObjectType({ description: 'One step of a warm: the state when subscribing, then one event per edge whose progress changed (about once a second while it warms).' })
export class WarmStatusEvent {
  @Field(() => Warm, { description: 'The warm as it stands after this step; completedAt is set on the last event.' })
  warm!: Warm;

  @Field(() => WarmEdge, { nullable: true, description: 'The edge whose progress has just changed; null on the first event, and on a last event that reports completion alone.' })
  edge!: WarmEdge | null;
}
