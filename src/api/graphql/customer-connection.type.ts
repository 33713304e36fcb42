/** Cursor pagination for `customers`: nodes ordered by id, an opaque cursor, and the total. */
import { Field, Int, ObjectType } from 'type-graphql';
import { Customer } from './customer.type';

@ObjectType()
export class PageInfo {
  @Field(() => String, { nullable: true, description: 'Pass as `after` to get the next page; null when the page is empty.' })
  endCursor!: string | null;

  @Field()
  hasNextPage!: boolean;
}

@ObjectType()
export class CustomerConnection {
  @Field(() => [Customer])
  nodes!: Customer[];

  @Field(() => Int, { description: 'Number of customers in total, across all pages.' })
  totalCount!: number;

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
