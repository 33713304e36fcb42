/**
 * Certificate rows → the api's CertificateRecord (never the key) and → core's
 * EdgeCertificate (the key as ciphertext), which travels to the edges in the customer's
 * config: only what an edge may serve now (issued or renewing, with its certificate and key,
 * not expired).
 */
import type { AcmeChallenge, EdgeCertificate } from '../../core/tls.types';
import type { CertificateRecord } from '../domain/certificate.types';
import type { AcmeChallengeEntity } from './acme-challenge.entity';
import type { CertificateEntity } from './certificate.entity';

export function toCertificateRecord(entity: CertificateEntity): CertificateRecord {
  return {
    id: entity.id,
    customerId: entity.customerId,
    domains: [...entity.domains],
    source: entity.source,
    status: entity.status,
    certPem: entity.certPem,
    notBefore: entity.notBefore,
    notAfter: entity.notAfter,
    issuer: entity.issuer,
    lastError: entity.lastError,
    renewAt: entity.renewAt,
    attempts: entity.attempts,
    createdAt: entity.createdAt,
    updatedAt: entity.updatedAt,
  };
}

/**
 * The certificates an edge may present, oldest first. A certificate whose names the
 * customer no longer owns may stay among them: an edge finds the customer by the host
 * (SNI) first and picks among that customer's certificates only, so it never serves one for
 * another customer's host (core/certificate.rules.ts, pickCertificate).
 */
export function toEdgeCertificates(entities: readonly CertificateEntity[], nowMs: number): EdgeCertificate[] {
  const out: EdgeCertificate[] = [];
  for (const e of [...entities].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id))) {
    if (e.status !== 'ISSUED' && e.status !== 'RENEWING') continue;
    if (e.certPem === null || e.keyEnc === null || e.notBefore === null || e.notAfter === null) continue;
    if (e.notAfter.getTime() <= nowMs) continue;
    out.push({
      id: e.id,
      domains: [...e.domains],
      certPem: e.certPem,
      keyCiphertext: e.keyEnc,
      notBefore: e.notBefore.toISOString(),
      notAfter: e.notAfter.toISOString(),
    });
  }
  return out;
}

export function toAcmeChallenges(entities: readonly AcmeChallengeEntity[]): AcmeChallenge[] {
  return [...entities]
    .sort((a, b) => a.token.localeCompare(b.token))
    .map((c) => ({ token: c.token, keyAuthorization: c.keyAuthorization }));
}
