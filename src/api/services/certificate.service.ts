/**
 * Certificates of a customer: upload (checked by core/certificate-upload.rules.ts, the key
 * sealed at once), delete, list, get. Each change commits with the customer's version bump
 * and its `customer.upserted` outbox row (customer-announce.ts), so the edges receive the
 * certificate within a second and never before its customer's domains. Every check that can
 * fail runs before the first write; a refusal changes nothing. The key is never returned,
 * logged or put in an error. Throws CdnError only.
 */
import { randomUUID } from 'node:crypto';
import { checkCertificateNames, readCertificateUpload, type CertificateUpload } from '../../core/certificate-upload.rules';
import { cdnError, invalidInput, type FieldProblem } from '../../core/errors';
import type { SecretBox } from '../../core/secret-box';
import { isPlainText } from '../../core/text.rules';
import type { Logger } from '../../obs/logger.factory';
import {
  countCertificates,
  deleteCertificate,
  findCertificate,
  insertCertificate,
  listCertificates,
} from '../db/certificate.store';
import { customerDomains, customerExists, othersDomainsUnder } from '../db/customer.store';
import type { Database } from '../db/database';
import type { CertificateRecord } from '../domain/certificate.types';
import { announceCustomer, lockCustomer } from './customer-announce';
import type { Audience } from './customer.service';

/** Certificates one customer may keep (each travels to every edge in its config). */
export const CERTIFICATES_PER_CUSTOMER_MAX = 20;

export interface CertificateServiceOptions {
  db: Database;
  secretBox: SecretBox;
  logger: Logger;
  /** Called after each committed change (not awaited): wakes the relay. */
  onCommitted?: () => void;
  /** The clock certificates are checked against (tests). */
  now?: () => number;
}

export class CertificateService {
  readonly #db: Database;
  readonly #box: SecretBox;
  readonly #log: Logger;
  readonly #onCommitted: () => void;
  readonly #now: () => number;

  constructor(options: CertificateServiceOptions) {
    this.#db = options.db;
    this.#box = options.secretBox;
    this.#log = options.logger;
    this.#onCommitted = options.onCommitted ?? (() => {});
    this.#now = options.now ?? Date.now;
  }

  /**
   * Stores an uploaded certificate (status ISSUED, source UPLOADED) for the customer.
   * Throws CDN_ERR_INPUT_INVALID naming every problem (certificatePem, privateKeyPem,
   * customerId), CDN_ERR_CUSTOMER_NOT_FOUND for an unknown customer. `audience`: a
   * customer-scoped caller is not told which other customer a wildcard collides with.
   */
  async upload(customerId: string, certificatePem: string, privateKeyPem: string, audience: Audience): Promise<CertificateRecord> {
    const now = this.#now();
    const { problems, upload } = readCertificateUpload(certificatePem, privateKeyPem, now);
    if (upload === null) throw invalidInput(problems);
    const record = await this.#db.transaction(async (m) => {
      const { version } = await lockCustomer(m, customerId);
      const names = checkCertificateNames(
        upload.domains,
        { id: customerId, domains: await customerDomains(m, customerId) },
        await othersDomainsUnder(m, upload.domains, customerId),
        audience.customerId === undefined,
      );
      const held = await countCertificates(m, customerId);
      const full: FieldProblem[] =
        held >= CERTIFICATES_PER_CUSTOMER_MAX
          ? [{ field: 'customerId', message: `customer "${customerId}" already has ${held} certificates, the most it may keep: delete those it no longer needs (deleteCertificate), then upload again` }]
          : [];
      if (names.length + full.length > 0) throw invalidInput([...names, ...full]);
      const at = new Date(now);
      const inserted = await insertCertificate(m, this.#row(customerId, upload, at));
      await announceCustomer(m, customerId, version, at);
      return inserted;
    });
    this.#onCommitted();
    this.#log.info(
      { customerId, certificateId: record.id, domains: record.domains, notAfter: record.notAfter, issuer: record.issuer },
      'certificate uploaded',
    );
    return record;
  }

  /**
   * Deletes a certificate; the edges stop presenting it within a second. Another
   * customer's certificate, for a customer-scoped audience, is CDN_ERR_CERTIFICATE_NOT_FOUND
   * exactly like one that does not exist.
   */
  async delete(id: string, audience: Audience): Promise<CertificateRecord> {
    const deleted = await this.#db.transaction(async (m) => {
      const certificate = await findCertificate(m, id);
      if (!certificate || !visibleTo(certificate, audience)) throw cdnError('CDN_ERR_CERTIFICATE_NOT_FOUND', id);
      const { version } = await lockCustomer(m, certificate.customerId);
      // Gone meanwhile (deleted with its customer, or by another request): as unknown as any other.
      if (!(await deleteCertificate(m, id))) throw cdnError('CDN_ERR_CERTIFICATE_NOT_FOUND', id);
      await announceCustomer(m, certificate.customerId, version);
      return certificate;
    });
    this.#onCommitted();
    this.#log.info({ customerId: deleted.customerId, certificateId: id, domains: deleted.domains }, 'certificate deleted');
    return deleted;
  }

  /** The customer's certificates, newest first; CDN_ERR_CUSTOMER_NOT_FOUND for an unknown customer. */
  async list(customerId: string): Promise<CertificateRecord[]> {
    return this.#db.read(async (m) => {
      if (!isPlainText(customerId) || !(await customerExists(m, customerId))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
      return listCertificates(m, customerId);
    });
  }

  /** The certificate, or null when there is none with that id. */
  async get(id: string): Promise<CertificateRecord | null> {
    return this.#db.read((m) => findCertificate(m, id));
  }

  #row(customerId: string, upload: CertificateUpload, at: Date) {
    return {
      id: randomUUID(),
      customerId,
      domains: upload.domains,
      source: 'UPLOADED' as const,
      status: 'ISSUED' as const,
      certPem: upload.certPem,
      // Sealed here, the only place the key exists in clear; what is stored and sent is the ciphertext.
      keyCiphertext: this.#box.seal(upload.keyPem),
      notBefore: upload.notBefore,
      notAfter: upload.notAfter,
      issuer: upload.issuer,
      // An uploaded certificate is renewed by whoever uploaded it, not by the api.
      renewAt: null,
      createdAt: at,
    };
  }
}

/** Whether the audience may know of the certificate (a customer-scoped one: its own customer's only). */
function visibleTo(certificate: CertificateRecord, audience: Audience): boolean {
  return audience.customerId === undefined || audience.customerId === certificate.customerId;
}
