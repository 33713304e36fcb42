/** Payload of the `customerChanged` subscription: one change as relayed through the bus. */
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { Customer } from './customer.type';

export enum CustomerChangeKind {
  CREATED = 'CREATED',
  UPDATED = 'UPDATED',
  DELETED = 'DELETED',
}

registerEnumType(CustomerChangeKind, { name: 'CustomerChangeKind' });

@ObjectType()
export class CustomerChange {
  @Field(() => CustomerChangeKind)
  kind!: CustomerChangeKind;

  @Field(() => ID)
  customerId!: string;

  @Field(() => Customer, { nullable: true, description: 'The customer after the change; null when DELETED.' })
  customer!: Customer | null;

  @Field(() => Int, { description: 'Position of the change in the change log; increases with every change.' })
  seq!: number;
}
