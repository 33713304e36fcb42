/**
 * A customer's certificate as the api keeps it, without its key: the key is sealed in the
 * database and leaves it only as ciphertext inside the customer's config for the edges
 * (core's EdgeCertificate), never in a record.
 */

export type CertificateSource = 'ACME' | 'UPLOADED';

/**
 * PENDING: being requested (ACME), nothing to serve yet; ISSUED: served; RENEWING: served
 * while a successor is requested; FAILED: the last request failed (lastError says why);
 * EXPIRED: past notAfter, no longer served.
 */
export type CertificateStatus = 'PENDING' | 'ISSUED' | 'RENEWING' | 'FAILED' | 'EXPIRED';

export interface CertificateRecord {
  /** UUID. */
  id: string;
  customerId: string;
  /** DNS names (subject alternative names; `*.` wildcards), lower-case. */
  domains: string[];
  source: CertificateSource;
  status: CertificateStatus;
  /** The chain (leaf first) as PEM; null until issued. Public: no key in it. */
  certPem: string | null;
  notBefore: Date | null;
  notAfter: Date | null;
  /** The leaf's issuer distinguished name, on one line. */
  issuer: string | null;
  /** Why the last attempt failed; null after a success. */
  lastError: string | null;
  /** When the renewal scheduler should act next (ACME); null: never. */
  renewAt: Date | null;
  attempts: number;
  createdAt: Date;
  updatedAt: Date;
}
