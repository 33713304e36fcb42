/** Payload of the `certificateStatus` subscription. */
import { Field, ID, ObjectType } from 'type-graphql';
import { Certificate } from './certificate.type';

@ObjectType({ description: "One certificate that changed: uploaded, issued, renewing, failed, expired, or deleted." })
export class CertificateStatusEvent {
  @Field(() => ID)
  customerId!: string;

  @Field(() => ID)
  certificateId!: string;

  @Field(() => Certificate, { nullable: true, description: 'The certificate as it is now (status, lastError…); null when it was deleted.' })
  certificate!: Certificate | null;
}
