/**
 * The `tls` of a customer in a customers file (`cdn edge --config`): certificates given as
 * PEM (the chain and its private key in clear, like the file's Basic Auth passwords), sealed
 * with the SecretBox on load so the rest of the edge handles one shape (core/tls.types.ts).
 * The certificate's names and validity are read from it; every name must be one of the
 * customer's domains (a wildcard: cover one of them), as the api demands of an upload.
 *
 *   "tls": { "certificates": [{ "certPem": "...", "keyPem": "..." }],
 *            "httpsRedirect"?: true | false | null, "hsts"?: { "maxAge", "includeSubDomains"?, "preload"? } | null }
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { nameMatches } from '../../core/certificate.rules';
import type { FieldProblem } from '../../core/errors';
import type { SecretBox } from '../../core/secret-box';
import { HSTS_MAX_AGE_MAX, type CustomerTls, type EdgeCertificate, type HstsPolicy } from '../../core/tls.types';

export function parseFileTls(raw: unknown, at: string, domains: readonly string[], box: SecretBox, problems: FieldProblem[]): CustomerTls | undefined {
  if (raw === undefined || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw) || !Array.isArray(o.certificates)) {
    problems.push({ field: at, message: 'must be { "certificates": [{ "certPem", "keyPem" }], "httpsRedirect"?, "hsts"? }' });
    return undefined;
  }
  const certificates: EdgeCertificate[] = [];
  o.certificates.forEach((c: unknown, i) => {
    const certificate = parseCertificate(c, `${at}.certificates[${i}]`, domains, box, problems);
    if (certificate !== undefined) certificates.push(certificate);
  });
  let httpsRedirect: boolean | null = null;
  if (o.httpsRedirect !== undefined && o.httpsRedirect !== null) {
    if (typeof o.httpsRedirect !== 'boolean') problems.push({ field: `${at}.httpsRedirect`, message: 'must be true, false or null (redirect once a valid certificate exists)' });
    else httpsRedirect = o.httpsRedirect;
  }
  return { certificates, httpsRedirect, hsts: parseHsts(o.hsts, `${at}.hsts`, problems), acmeChallenges: [] };
}

function parseCertificate(raw: unknown, at: string, domains: readonly string[], box: SecretBox, problems: FieldProblem[]): EdgeCertificate | undefined {
  const o = raw as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || typeof o.certPem !== 'string' || typeof o.keyPem !== 'string') {
    problems.push({ field: at, message: 'must be { "certPem": the certificate chain (PEM, leaf first), "keyPem": its private key (PEM) }' });
    return undefined;
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(o.certPem);
  } catch (err) {
    problems.push({ field: `${at}.certPem`, message: `is not a PEM certificate (${err instanceof Error ? err.message : String(err)})` });
    return undefined;
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(o.keyPem))) {
      problems.push({ field: `${at}.keyPem`, message: 'is not the private key of the certificate (the first one of certPem)' });
      return undefined;
    }
  } catch (err) {
    problems.push({ field: `${at}.keyPem`, message: `is not a PEM private key (${err instanceof Error ? err.message : String(err)})` });
    return undefined;
  }
  const names = dnsNames(leaf);
  if (names.length === 0) problems.push({ field: `${at}.certPem`, message: 'names no DNS name (subject alternative names)' });
  for (const name of names) {
    if (!domains.some((d) => nameMatches(name, d))) problems.push({ field: `${at}.certPem`, message: `names "${name}", which covers none of the customer's domains` });
  }
  return {
    id: createHash('sha256').update(leaf.raw).digest('hex').slice(0, 32),
    domains: names,
    certPem: o.certPem,
    keyCiphertext: box.seal(o.keyPem),
    notBefore: new Date(leaf.validFrom).toISOString(),
    notAfter: new Date(leaf.validTo).toISOString(),
  };
}

/** The DNS names of the leaf's subject alternative names, lower-case. */
function dnsNames(leaf: X509Certificate): string[] {
  return (leaf.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase());
}

function parseHsts(raw: unknown, at: string, problems: FieldProblem[]): HstsPolicy | null {
  if (raw === undefined || raw === null) return null;
  const o = raw as Record<string, unknown>;
  const maxAge = o.maxAge;
  if (typeof raw !== 'object' || typeof maxAge !== 'number' || !Number.isInteger(maxAge) || maxAge < 0 || maxAge > HSTS_MAX_AGE_MAX) {
    problems.push({ field: at, message: `must be { "maxAge": seconds from 0 to ${HSTS_MAX_AGE_MAX}, "includeSubDomains"?: boolean, "preload"?: boolean } or null` });
    return null;
  }
  return { maxAge, includeSubDomains: o.includeSubDomains === true, preload: o.preload === true };
}
