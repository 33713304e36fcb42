/** The GraphQL `ApiToken`, `CreatedToken` and the `Role` and `TokenStatus` enums. */
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import type { Role as CoreRole } from '../../core/roles';

/** core's roles, spelled as GraphQL enum values (no dashes). */
export enum Role {
  ADMIN = 'ADMIN',
  OPERATOR = 'OPERATOR',
  VIEWER = 'VIEWER',
  CUSTOMER_ADMIN = 'CUSTOMER_ADMIN',
  CUSTOMER_PURGER = 'CUSTOMER_PURGER',
  CUSTOMER_VIEWER = 'CUSTOMER_VIEWER',
}

export function toCoreRole(role: Role): CoreRole {
  return role.toLowerCase().replace('_', '-') as CoreRole;
}

export function toGraphqlRole(role: CoreRole): Role {
  return role.toUpperCase().replace('-', '_') as Role;
}

registerEnumType(Role, {
  name: 'Role',
  description: 'What a token may do. Platform roles act on every customer: ADMIN ⊃ OPERATOR ⊃ VIEWER. Customer roles act on one customer: CUSTOMER_ADMIN ⊃ CUSTOMER_PURGER ⊃ CUSTOMER_VIEWER.',
  valuesConfig: {
    ADMIN: { description: 'Everything, including tokens and the audit log.' },
    OPERATOR: { description: 'Create, change and delete customers; purge any customer; read everything but the audit log. No tokens.' },
    VIEWER: { description: 'Read customers, purges, edges and statistics.' },
    CUSTOMER_ADMIN: { description: "Change its customer's settings, purge, and manage its customer's tokens (up to CUSTOMER_ADMIN)." },
    CUSTOMER_PURGER: { description: "Purge its customer's cache; read its customer, purges and statistics." },
    CUSTOMER_VIEWER: { description: "Read its customer, its purges and its statistics." },
  },
});

export enum TokenStatus {
  ACTIVE = 'ACTIVE',
  EXPIRED = 'EXPIRED',
  REVOKED = 'REVOKED',
}

registerEnumType(TokenStatus, { name: 'TokenStatus' });

@ObjectType({ description: 'An API token as stored: never the token itself, which is shown once, at creation.' })
export class ApiToken {
  @Field(() => ID)
  id!: string;

  @Field()
  name!: string;

  @Field(() => Role)
  role!: Role;

  @Field(() => ID, { nullable: true, description: 'The one customer a customer role acts on; null for platform roles.' })
  customerId!: string | null;

  @Field(() => TokenStatus)
  status!: TokenStatus;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  expiresAt!: Date;

  @Field(() => Date, { nullable: true })
  revokedAt!: Date | null;

  @Field(() => String, { nullable: true, description: 'Who created it: admin-token (the bootstrap CDN_ADMIN_TOKEN), cli, or token:<id>.' })
  createdBy!: string | null;
}

@ObjectType({ description: 'A new token and its secret. The secret is shown this once: store it now.' })
export class CreatedToken {
  @Field(() => ApiToken)
  token!: ApiToken;

  @Field({ description: 'Send it as `Authorization: Bearer <secret>` (graphql-ws: in connection_init).' })
  secret!: string;
}
