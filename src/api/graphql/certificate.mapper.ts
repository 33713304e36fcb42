/** CertificateRecord (never holds the key) → the GraphQL Certificate. */
import type { CertificateRecord } from '../domain/certificate.types';
import { Certificate, CertificateSource, CertificateStatus } from './certificate.type';
import type { Customer } from './customer.type';

export function toGraphqlCertificate(record: CertificateRecord, customer: Customer): Certificate {
  return Object.assign(new Certificate(), {
    id: record.id,
    customer,
    domains: [...record.domains],
    source: CertificateSource[record.source],
    status: CertificateStatus[record.status],
    notBefore: record.notBefore,
    notAfter: record.notAfter,
    issuer: record.issuer,
    lastError: record.lastError,
    certificatePem: record.certPem,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  });
}
