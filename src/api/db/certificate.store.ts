/**
 * The certificate queries, and those of the ACME challenges: rows in, CertificateRecord
 * out (certificate.mapper.ts). The key goes in as ciphertext and never comes back out of
 * these functions: the only way it leaves the database is inside a customer's config for
 * the edges (customer.mapper.ts). Services call these inside their own unit of work, with
 * the customer's version bump and outbox row (a certificate is part of what the edges know
 * of its customer).
 */
import { In, LessThanOrEqual } from 'typeorm';
import type { CertificateRecord, CertificateSource, CertificateStatus } from '../domain/certificate.types';
import { AcmeChallengeEntity } from './acme-challenge.entity';
import { CertificateEntity } from './certificate.entity';
import { toCertificateRecord } from './certificate.mapper';
import type { Tx } from './database';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface NewCertificate {
  /** UUID, assigned by the caller. */
  id: string;
  customerId: string;
  domains: readonly string[];
  source: CertificateSource;
  status: CertificateStatus;
  certPem: string | null;
  /** secret-box ciphertext; never the key itself. */
  keyCiphertext: string | null;
  notBefore: Date | null;
  notAfter: Date | null;
  issuer: string | null;
  renewAt: Date | null;
  /** Also its first updatedAt. */
  createdAt: Date;
}

/** Absent (undefined) keeps a column. `keyCiphertext`: secret-box ciphertext only. */
export type CertificatePatch = Partial<Omit<NewCertificate, 'id' | 'customerId' | 'source' | 'createdAt'>> & {
  lastError?: string | null;
  attempts?: number;
  updatedAt: Date;
};

export async function insertCertificate(m: Tx, certificate: NewCertificate): Promise<CertificateRecord> {
  const row = Object.assign(new CertificateEntity(), {
    id: certificate.id,
    customerId: certificate.customerId,
    domains: [...certificate.domains],
    source: certificate.source,
    status: certificate.status,
    certPem: certificate.certPem,
    keyEnc: certificate.keyCiphertext,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    issuer: certificate.issuer,
    lastError: null,
    renewAt: certificate.renewAt,
    attempts: 0,
    createdAt: certificate.createdAt,
    updatedAt: certificate.createdAt,
  });
  await m.insert(CertificateEntity, row);
  return toCertificateRecord(row);
}

/** Null for an id that is not a UUID (it names no certificate; PostgreSQL would refuse it with an error). */
export async function findCertificate(m: Tx, id: string): Promise<CertificateRecord | null> {
  if (!UUID.test(id)) return null;
  const row = await m.getRepository(CertificateEntity).findOne({ where: { id } });
  return row ? toCertificateRecord(row) : null;
}

/** The customer's certificates, newest first. */
export async function listCertificates(m: Tx, customerId: string): Promise<CertificateRecord[]> {
  const rows = await m.getRepository(CertificateEntity).find({ where: { customerId }, order: { createdAt: 'DESC', id: 'ASC' } });
  return rows.map(toCertificateRecord);
}

/** What tells one state of a certificate from the next: for the certificateStatus subscription's baseline. */
export interface CertificateState {
  id: string;
  customerId: string;
  status: CertificateStatus;
  updatedAt: Date;
}

/** The state of every certificate of the customer, or (no customer) of every customer. */
export async function readCertificateStates(m: Tx, customerId?: string): Promise<CertificateState[]> {
  const rows = await m.getRepository(CertificateEntity).find({
    where: customerId === undefined ? {} : { customerId },
    select: { id: true, customerId: true, status: true, updatedAt: true },
  });
  return rows.map((r) => ({ id: r.id, customerId: r.customerId, status: r.status, updatedAt: r.updatedAt }));
}

/** Served certificates (ISSUED or RENEWING) not yet past notAfter whose notAfter is before `before`, soonest first (certificate.expiring webhooks). */
export async function readCertificatesExpiringBefore(m: Tx, now: Date, before: Date, limit: number): Promise<CertificateRecord[]> {
  const rows = await m
    .getRepository(CertificateEntity)
    .createQueryBuilder('c')
    .where(`c.status IN ('ISSUED', 'RENEWING') AND c.not_after > :now AND c.not_after <= :before`, { now, before })
    .orderBy('c.not_after', 'ASC')
    .limit(limit)
    .getMany();
  return rows.map(toCertificateRecord);
}

export function countCertificates(m: Tx, customerId: string): Promise<number> {
  return m.getRepository(CertificateEntity).countBy({ customerId });
}

export async function updateCertificate(m: Tx, id: string, patch: CertificatePatch): Promise<void> {
  const { keyCiphertext, domains, ...rest } = patch;
  const row: Partial<CertificateEntity> = { ...rest };
  if (keyCiphertext !== undefined) row.keyEnc = keyCiphertext;
  if (domains !== undefined) row.domains = [...domains];
  await m.update(CertificateEntity, { id }, row);
}

/** Deletes the certificate (its challenges go with it); false when there was none. */
export async function deleteCertificate(m: Tx, id: string): Promise<boolean> {
  if (!UUID.test(id)) return false;
  const result = await m.delete(CertificateEntity, { id });
  return Boolean(result.affected);
}

/**
 * Up to `limit` certificates in one of `statuses` whose renew_at is at or before `at`,
 * earliest first: the renewal scheduler's work (the (status, renew_at) index serves it).
 */
export async function readCertificatesDue(m: Tx, statuses: readonly CertificateStatus[], at: Date, limit: number): Promise<CertificateRecord[]> {
  const rows = await m.getRepository(CertificateEntity).find({
    where: { status: In([...statuses]), renewAt: LessThanOrEqual(at) },
    order: { renewAt: 'ASC', id: 'ASC' },
    take: limit,
  });
  return rows.map(toCertificateRecord);
}

/** An HTTP-01 challenge the edges answer until it is removed (with its certificate at the latest). */
export interface NewAcmeChallenge {
  token: string;
  customerId: string;
  certificateId: string;
  domain: string;
  keyAuthorization: string;
  createdAt: Date;
}

export async function insertAcmeChallenge(m: Tx, challenge: NewAcmeChallenge): Promise<void> {
  await m.insert(AcmeChallengeEntity, { ...challenge });
}

/** Removes the challenges of a certificate; how many there were. */
export async function deleteAcmeChallenges(m: Tx, certificateId: string): Promise<number> {
  const result = await m.delete(AcmeChallengeEntity, { certificateId });
  return result.affected ?? 0;
}

/**
 * Takes a due certificate for one attempt: moves its renew_at to `leaseUntil` (and its status
 * to `status`) only if renew_at is still `renewAt`, so of several api replicas that read the
 * same due row, one takes it; the others see false. The lease also covers a replica that dies
 * mid-attempt: the row comes due again when the lease ends.
 */
export async function claimCertificate(m: Tx, id: string, renewAt: Date, leaseUntil: Date, status: CertificateStatus): Promise<boolean> {
  const result = await m
    .createQueryBuilder()
    .update(CertificateEntity)
    .set({ renewAt: leaseUntil, status, updatedAt: new Date() })
    .where('id = :id AND renew_at = :renewAt', { id, renewAt })
    .execute();
  return result.affected === 1;
}

/** Marks served certificates past their notAfter EXPIRED; returns the customers concerned. */
export async function expireCertificates(m: Tx, at: Date): Promise<string[]> {
  const rows: Array<{ customer_id: string }> = await m.query(
    `UPDATE "certificate" SET "status" = 'EXPIRED', "renew_at" = NULL, "updated_at" = $1
      WHERE "status" IN ('ISSUED', 'RENEWING') AND "not_after" <= $1 RETURNING "customer_id"`,
    [at],
  );
  return [...new Set(rows.map((r) => r.customer_id))];
}

/**
 * Up to `limit` domains that no certificate of their customer covers or is being requested
 * for (ISSUED, RENEWING, PENDING or FAILED: a failed one is retried by its own back-off), by
 * exact name or by a wildcard one label up: what automatic ACME requests a certificate for.
 * Customers holding `perCustomerMax` certificates are left out (nothing could be requested for
 * them), so they never fill the batch ahead of others.
 */
export async function readUncoveredDomains(m: Tx, limit: number, perCustomerMax: number): Promise<Array<{ customerId: string; domain: string }>> {
  const rows: Array<{ customer_id: string; hostname: string }> = await m.query(
    `SELECT d."customer_id", d."hostname" FROM "domain" d
      WHERE NOT EXISTS (
        SELECT 1 FROM "certificate" c
         WHERE c."customer_id" = d."customer_id"
           AND c."status" IN ('ISSUED', 'RENEWING', 'PENDING', 'FAILED')
           AND (d."hostname" = ANY (c."domains") OR '*.' || substring(d."hostname" from position('.' in d."hostname") + 1) = ANY (c."domains")))
        AND (SELECT count(*) FROM "certificate" h WHERE h."customer_id" = d."customer_id") < $2
      ORDER BY d."customer_id", d."hostname" LIMIT $1`,
    [limit, perCustomerMax],
  );
  return rows.map((r) => ({ customerId: r.customer_id, domain: r.hostname }));
}

/** What the certificate gauges read at scrape time (readCertificateStats). */
export interface CertificateStatsRows {
  /** Certificates per status and source; a pair with none is absent. */
  counts: Array<{ status: CertificateStatus; source: CertificateSource; count: number }>;
  /** Served certificates (ISSUED or RENEWING, notAfter still ahead) expiring at or before each window's end. */
  expiring: { warning: number; critical: number };
  /** Per customer with a served certificate, its soonest notAfter: the `limit` soonest customers, soonest first. */
  soonest: Array<{ customerId: string; notAfter: Date }>;
}

/**
 * The certificate gauges' reads: two grouped queries, whatever the number of certificates
 * (the first answers at most a row per status and source, the second `limit` rows). Served
 * means what the edges are given (certificate.mapper.ts, toEdgeCertificates): ISSUED or
 * RENEWING and not past notAfter, even before the sweep marks it EXPIRED.
 */
export async function readCertificateStats(m: Tx, now: Date, windowEnds: { warning: Date; critical: Date }, limit: number): Promise<CertificateStatsRows> {
  const served = `"status" IN ('ISSUED', 'RENEWING') AND "not_after" > $1`;
  const counts: Array<{ status: CertificateStatus; source: CertificateSource; n: number; warning: number; critical: number }> = await m.query(
    `SELECT "status", "source", count(*)::int AS n,
            count(*) FILTER (WHERE ${served} AND "not_after" <= $2)::int AS warning,
            count(*) FILTER (WHERE ${served} AND "not_after" <= $3)::int AS critical
       FROM "certificate" GROUP BY "status", "source"`,
    [now, windowEnds.warning, windowEnds.critical],
  );
  const soonest: Array<{ customer_id: string; not_after: Date | string }> = await m.query(
    `SELECT "customer_id", min("not_after") AS not_after FROM "certificate" WHERE ${served}
      GROUP BY "customer_id" ORDER BY 2, 1 LIMIT $2`,
    [now, limit],
  );
  return {
    counts: counts.map((r) => ({ status: r.status, source: r.source, count: r.n })),
    expiring: { warning: counts.reduce((sum, r) => sum + r.warning, 0), critical: counts.reduce((sum, r) => sum + r.critical, 0) },
    soonest: soonest.map((r) => ({ customerId: r.customer_id, notAfter: new Date(r.not_after) })),
  };
}
