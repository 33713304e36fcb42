/** The GraphQL `AccessStats` (grant monitoring) types. */
import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import { Role } from './token.type';

export enum GrantLevel {
  OK = 'OK',
  WARNING = 'WARNING',
  CRITICAL = 'CRITICAL',
}

registerEnumType(GrantLevel, { name: 'GrantLevel', description: 'A count against its thresholds: WARNING at or above the warning one, CRITICAL at or above the critical one.' });

@ObjectType({ description: 'Live tokens of one platform role.' })
export class RoleGrants {
  @Field(() => Role)
  role!: Role;

  @Field(() => Int)
  active!: number;

  @Field(() => Int)
  warning!: number;

  @Field(() => Int)
  critical!: number;

  @Field(() => GrantLevel)
  level!: GrantLevel;
}

@ObjectType({ description: "Live tokens of one customer's roles together." })
export class CustomerGrants {
  @Field()
  customerId!: string;

  @Field(() => Int)
  active!: number;

  @Field(() => GrantLevel)
  level!: GrantLevel;
}

@ObjectType({ description: 'Grant monitoring: live (neither expired nor revoked) tokens per platform role and per customer, against thresholds (CDN_GRANTS_*).' })
export class AccessStats {
  @Field(() => Date)
  at!: Date;

  @Field(() => Int)
  totalActive!: number;

  @Field(() => [RoleGrants])
  roles!: RoleGrants[];

  @Field(() => Int, { description: 'Warning threshold per customer.' })
  customerWarning!: number;

  @Field(() => Int, { description: 'Critical threshold per customer.' })
  customerCritical!: number;

  @Field(() => [CustomerGrants], { description: 'Customers with live tokens, most first (at most 100).' })
  customers!: CustomerGrants[];
}
