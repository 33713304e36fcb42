/** The GraphQL `OriginHealth`, `OriginEdgeHealth` and `OriginHealthChange` types and the `OriginHealthState` enum. */
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum OriginHealthState {
  UP = 'UP',
  DOWN = 'DOWN',
}

registerEnumType(OriginHealthState, {
  name: 'OriginHealthState',
  description: "An origin's state on one edge process (its circuit breaker there).",
  valuesConfig: {
    UP: { description: 'The edge sends it requests.' },
    DOWN: { description: 'The edge holds it down (failures, or failed health checks) and sends it nothing until a trial or a check succeeds.' },
  },
});

@ObjectType({ description: 'One origin as one live edge process sees it.' })
export class OriginEdgeHealth {
  @Field(() => ID, { description: 'The edge process (its heartbeat edgeId: "#<n>" per cluster worker, each with its own breakers).' })
  edgeId!: string;

  @Field(() => OriginHealthState)
  state!: OriginHealthState;

  @Field(() => Date, { nullable: true, description: "When it entered this state, by the edge's clock; null: up, and the api never saw it change there." })
  since!: Date | null;

  @Field(() => String, { nullable: true, description: 'Why it went down or came back (the failure, or the check that passed); null as for since.' })
  reason!: string | null;
}

@ObjectType({ description: "One origin of a customer, and its state on every live edge process." })
export class OriginHealth {
  @Field({ description: 'The origin name within its customer.' })
  name!: string;

  @Field()
  url!: string;

  @Field(() => Int, { description: 'Live edge processes that hold it up.' })
  edgesUp!: number;

  @Field(() => Int, { description: 'Live edge processes that hold it down.' })
  edgesDown!: number;

  @Field(() => [OriginEdgeHealth], { description: 'One per live edge process, by edgeId.' })
  edges!: OriginEdgeHealth[];
}

@ObjectType({ description: 'One origin going down or coming back on one edge process.' })
export class OriginHealthChange {
  @Field(() => ID)
  customerId!: string;

  @Field({ description: 'The origin name within its customer.' })
  origin!: string;

  @Field(() => ID)
  edgeId!: string;

  @Field(() => OriginHealthState)
  state!: OriginHealthState;

  @Field()
  reason!: string;

  @Field({ description: "When, by the edge's clock." })
  at!: Date;
}
