/** The GraphQL `Viewer`: who the caller is, as `me` answers it. */
import { Field, ID, ObjectType } from 'type-graphql';
import { Role } from './token.type';

@ObjectType({
  description:
    'The caller: its token\'s id, name, role, customer and expiry, and what the role allows. Never the token itself. ' +
    'A client (the portal) reads what to offer from here instead of decoding the token; the api still checks every operation.',
})
export class Viewer {
  @Field(() => ID, { nullable: true, description: 'The API token\'s id; null for the bootstrap CDN_ADMIN_TOKEN, which has none.' })
  tokenId!: string | null;

  @Field(() => String, { nullable: true, description: 'The token\'s name; null for the bootstrap CDN_ADMIN_TOKEN.' })
  name!: string | null;

  @Field(() => Role)
  role!: Role;

  @Field(() => ID, { nullable: true, description: 'The one customer a customer role acts on; null for platform roles.' })
  customerId!: string | null;

  @Field(() => Date, { nullable: true, description: 'When the token expires; null for the bootstrap CDN_ADMIN_TOKEN.' })
  expiresAt!: Date | null;

  @Field(() => [String], {
    description:
      'The capabilities the role holds (src/core/roles.ts: customer.read, customer.update, purge.create, purge.read, stats.read, token.manage, ' +
      'audit.read, customer.audit, fleet.read, ...), sorted. A customer role holds them on its customer only.',
  })
  capabilities!: string[];
}
