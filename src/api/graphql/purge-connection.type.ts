/** Cursor pagination for `purges`: newest first, an opaque cursor, and the total. */
import { Field, Int, ObjectType } from 'type-graphql';
import { PageInfo } from './customer-connection.type';
import { Purge } from './purge.type';

@ObjectType()
export class PurgeConnection {
  @Field(() => [Purge])
  nodes!: Purge[];

  @Field(() => Int, { description: "Number of the customer's purges in total, across all pages." })
  totalCount!: number;

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
