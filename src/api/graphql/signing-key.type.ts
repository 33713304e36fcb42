/** Signing keys of signed URLs in GraphQL: the secret appears once, in NewSigningKey. */
import { Field, ID, ObjectType } from 'type-graphql';

@ObjectType({ description: 'A key that signs URLs of the customer (`ep_kid` in a signed URL). The secret is never returned after creation.' })
export class SigningKey {
  @Field(() => ID)
  id!: string;

  @Field()
  createdAt!: Date;
}

@ObjectType({ description: 'A key just created: its secret is shown this once; keep it where your application signs links.' })
export class NewSigningKey extends SigningKey {
  @Field({ description: 'The HMAC-SHA256 key, as the UTF-8 bytes of this string (docs/API.md, "Signed URLs").' })
  secret!: string;
}

@ObjectType()
export class SignedUrl {
  @Field()
  url!: string;

  @Field(() => ID)
  keyId!: string;

  @Field({ description: 'Edges refuse the link after this (plus a small clock-skew leeway).' })
  expiresAt!: Date;
}
