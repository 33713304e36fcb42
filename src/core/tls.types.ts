/**
 * What the edges know of a customer's HTTPS: the certificates they may present for its
 * domains, whether plain HTTP is redirected, HSTS, and the ACME HTTP-01 challenges in
 * progress. It travels inside the customer's CustomerConfig (`tls`), so a change of domains
 * and of certificates reaches an edge as one event: an edge never serves a certificate for
 * a host that is no longer the customer's, nor a host whose certificate has not arrived yet
 * (docs/ARCHITECTURE.md, "HTTPS"). Keys stay encrypted (secret-box ciphertext, see
 * secret-box.ts) on the bus, in the snapshot and in the edge's last-known-good file; an edge
 * opens them with CDN_SECRET_KEY when it builds the TLS context.
 */

export interface EdgeCertificate {
  /** The certificate's id in the api (a UUID): edges cache one TLS context per id. */
  id: string;
  /** DNS names of its subject alternative names, lower-case; `*.example.com` wildcards allowed. */
  domains: string[];
  /** PEM: the leaf first, then the intermediates (no root needed). */
  certPem: string;
  /** secret-box ciphertext of the PKCS#8 PEM private key. */
  keyCiphertext: string;
  /** ISO times of the leaf's validity. */
  notBefore: string;
  notAfter: string;
}

/** Strict-Transport-Security, sent on HTTPS answers of the customer's domains. */
export interface HstsPolicy {
  /** Seconds (max-age). */
  maxAge: number;
  includeSubDomains: boolean;
  preload: boolean;
}

/** An HTTP-01 challenge the edges answer at `/.well-known/acme-challenge/<token>`. */
export interface AcmeChallenge {
  token: string;
  keyAuthorization: string;
}

export interface CustomerTls {
  /** Certificates in use (issued or uploaded, not yet expired): at most a few per customer. */
  certificates: EdgeCertificate[];
  /**
   * Plain HTTP answered with 308 to https://: true always, false never, null (the default)
   * for a host covered by a currently valid certificate.
   */
  httpsRedirect: boolean | null;
  /** null: no Strict-Transport-Security header. */
  hsts: HstsPolicy | null;
  /** HTTP-01 challenges in progress for the customer's domains. */
  acmeChallenges: AcmeChallenge[];
}

/** Two years, the most HSTS preload lists ask for. */
export const HSTS_MAX_AGE_MAX = 2 * 365 * 24 * 3600;
/** Where ACME HTTP-01 challenges are fetched (RFC 8555 §8.3). */
export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';
