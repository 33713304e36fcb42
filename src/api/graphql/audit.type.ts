/** The GraphQL `AuditEntry`, its `AuditActor` and the `auditLog` page. */
import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, ObjectType } from 'type-graphql';
import { PageInfo } from './customer-connection.type';

@ObjectType({ description: 'Who ran a mutation, as authenticated.' })
export class AuditActor {
  @Field({ description: 'How the caller authenticated: `admin` (the bootstrap admin token) or `token` (an API token).' })
  kind!: string;

  @Field({ description: "The caller's role, e.g. admin, operator, customer-purger." })
  role!: string;

  @Field(() => ID, { nullable: true, description: 'The API token used; null for the bootstrap admin token.' })
  tokenId!: string | null;

  @Field(() => ID, { nullable: true, description: 'The customer a customer-scoped token is bound to; null for platform roles.' })
  customerId!: string | null;
}

@ObjectType({ description: 'One mutation an authenticated caller ran: who, what, about which customer, when, and how it ended.' })
export class AuditEntry {
  @Field(() => ID)
  id!: string;

  @Field(() => Date, { description: 'When the mutation was about to run (the entry is written before it runs).' })
  at!: Date;

  @Field(() => Date, { nullable: true, description: 'When its outcome was recorded; null when outcome is null.' })
  finishedAt!: Date | null;

  @Field(() => AuditActor)
  actor!: AuditActor;

  @Field({ description: 'The mutation field, e.g. createCustomer, purgeCache.' })
  mutation!: string;

  @Field(() => String, { nullable: true, description: "The client's operation name, if it gave one." })
  operationName!: string | null;

  @Field(() => GraphQLJSONObject, {
    description:
      'The arguments as run (variables resolved), with every secret replaced by "[REDACTED]": passwords, tokens, secrets, ' +
      'authorization values, credentials in URLs. Long values are shortened.',
  })
  arguments!: Record<string, unknown>;

  @Field(() => ID, { nullable: true, description: 'The customer the mutation was about (from its arguments or its result), if any.' })
  customerId!: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      '`OK`; the error\'s extensions.code (e.g. BAD_USER_INPUT, NOT_FOUND, FORBIDDEN); NOT_RUN when an earlier field of the same ' +
      'operation failed and ended it. Null: the api never saw it end ' +
      '(it stopped mid-mutation, or could not record the outcome); check the data.',
  })
  outcome!: string | null;

  @Field(() => String, { nullable: true, description: "The api's id for the HTTP request (the reqId in its logs)." })
  requestId!: string | null;

  @Field(() => String, { nullable: true, description: "The client's IP address as the api saw it." })
  clientIp!: string | null;
}

@ObjectType()
export class AuditEntryConnection {
  @Field(() => [AuditEntry])
  nodes!: AuditEntry[];

  // No totalCount: counting months of entries on every page would cost more than the page.
  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
