/**
 * Which certificate an edge presents for a host (SNI), by RFC 6125 name matching: a DNS name
 * matches itself, case-insensitively; a wildcard `*.example.com` matches exactly one more
 * label on the left (`a.example.com`, not `example.com` nor `a.b.example.com`), and only as
 * the whole left-most label of a name with at least two labels after it.
 */
import type { CustomerTls, EdgeCertificate, HstsPolicy } from './tls.types';

/** RFC 6125 §6.4.3, as browsers apply it: `*` alone as the left-most label, one label matched. */
export function nameMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (!p.startsWith('*.')) return p === h;
  const suffix = p.slice(1); // ".example.com"
  if (suffix.split('.').length < 3) return false; // "*.com": never
  if (!h.endsWith(suffix)) return false;
  const label = h.slice(0, h.length - suffix.length);
  return label.length > 0 && !label.includes('.');
}

/** Whether `certificate` names `host` and is valid at `nowMs`. */
export function certificateServes(certificate: EdgeCertificate, host: string, nowMs: number): boolean {
  if (Date.parse(certificate.notBefore) > nowMs || Date.parse(certificate.notAfter) <= nowMs) return false;
  return certificate.domains.some((name) => nameMatches(name, host));
}

/**
 * The certificate to present for `host` among a customer's: valid now, naming the host; of
 * several, the one valid the longest (a renewed certificate takes over from the old one as
 * soon as it arrives). undefined: none (the handshake fails).
 */
export function pickCertificate(tls: CustomerTls | undefined, host: string, nowMs: number): EdgeCertificate | undefined {
  let best: EdgeCertificate | undefined;
  for (const certificate of tls?.certificates ?? []) {
    if (!certificateServes(certificate, host, nowMs)) continue;
    if (best === undefined || Date.parse(certificate.notAfter) > Date.parse(best.notAfter)) best = certificate;
  }
  return best;
}

/** Whether plain HTTP for `host` is answered with a redirect to HTTPS (CustomerTls.httpsRedirect). */
export function redirectsToHttps(tls: CustomerTls | undefined, host: string, nowMs: number): boolean {
  if (tls === undefined || tls.httpsRedirect === false) return false;
  if (tls.httpsRedirect === true) return true;
  return pickCertificate(tls, host, nowMs) !== undefined;
}

/** The Strict-Transport-Security value of a policy. */
export function hstsHeader(policy: HstsPolicy): string {
  let value = `max-age=${policy.maxAge}`;
  if (policy.includeSubDomains) value += '; includeSubDomains';
  if (policy.preload) value += '; preload';
  return value;
}
