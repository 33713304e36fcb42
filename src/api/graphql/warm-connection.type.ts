/** Cursor pagination for `warms`: newest first, an opaque cursor, and the total. */
import { Field, Int, ObjectType } from 'type-graphql';
import { PageInfo } from './customer-connection.type';
import { Warm } from './warm.type';

@ObjectType()
export class WarmConnection {
  @Field(() => [Warm])
  nodes!: Warm[];

  @Field(() => Int, { description: "Number of the customer's warms in total, across all pages." })
  totalCount!: number;

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
