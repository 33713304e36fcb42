/** The GraphQL `Certificate` object type and its enums. Never carries the private key, in any form. */
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { Customer } from './customer.type';

/** Same values as the domain's CertificateSource. */
export enum CertificateSource {
  ACME = 'ACME',
  UPLOADED = 'UPLOADED',
}

/** Same values as the domain's CertificateStatus. */
export enum CertificateStatus {
  PENDING = 'PENDING',
  ISSUED = 'ISSUED',
  RENEWING = 'RENEWING',
  FAILED = 'FAILED',
  EXPIRED = 'EXPIRED',
}

registerEnumType(CertificateSource, {
  name: 'CertificateSource',
  valuesConfig: {
    ACME: { description: 'Requested and renewed by the api from an ACME certificate authority.' },
    UPLOADED: { description: 'Uploaded with uploadCertificate; renewed by uploading its successor.' },
  },
});

registerEnumType(CertificateStatus, {
  name: 'CertificateStatus',
  valuesConfig: {
    PENDING: { description: 'Being requested; nothing to serve yet.' },
    ISSUED: { description: 'Served by the edges for the names it covers.' },
    RENEWING: { description: 'Served while its successor is being requested.' },
    FAILED: { description: 'The last request failed: lastError says why.' },
    EXPIRED: { description: 'Past notAfter: no longer served.' },
  },
});

@ObjectType({ description: "A TLS certificate for some of a customer's domains. Its private key is kept encrypted and never returned." })
export class Certificate {
  @Field(() => ID)
  id!: string;

  @Field(() => Customer)
  customer!: Customer;

  @Field(() => [String], { description: 'The DNS names it covers (subject alternative names; *. wildcards cover one label), lower-case.' })
  domains!: string[];

  @Field(() => CertificateSource)
  source!: CertificateSource;

  @Field(() => CertificateStatus)
  status!: CertificateStatus;

  @Field(() => Date, { nullable: true, description: 'Start of the leaf certificate\'s validity; null until issued.' })
  notBefore!: Date | null;

  @Field(() => Date, { nullable: true, description: 'End of the leaf certificate\'s validity; null until issued.' })
  notAfter!: Date | null;

  @Field(() => String, { nullable: true, description: 'The distinguished name of the leaf\'s issuer, on one line.' })
  issuer!: string | null;

  @Field(() => String, { nullable: true, description: 'Why the last attempt failed; null after a success.' })
  lastError!: string | null;

  @Field(() => String, { nullable: true, description: 'The certificate chain as PEM, leaf first (public: no key in it); null until issued.' })
  certificatePem!: string | null;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;
}
