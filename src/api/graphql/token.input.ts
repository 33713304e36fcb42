/** Input of `createToken`. Only shapes here: the rules are the service's (services/token.service.ts). */
import { Field, ID, InputType } from 'type-graphql';
import { TOKEN_EXPIRES_IN_DEFAULT } from '../services/token.service';
import { Role } from './token.type';

@InputType()
export class CreateTokenInput {
  @Field({ description: 'What the token is for (shown in `tokens` and in the audit log), 1 to 200 characters.' })
  name!: string;

  @Field(() => Role)
  role!: Role;

  @Field(() => ID, { nullable: true, description: 'Required for customer roles, left out for platform roles.' })
  customerId?: string | null;

  @Field(() => String, { defaultValue: TOKEN_EXPIRES_IN_DEFAULT, description: 'How long the token lives: 90d, 12h, 30m or 3600s; 60 seconds to 366 days.' })
  expiresIn!: string;
}
