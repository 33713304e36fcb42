/**
 * Why a TLS handshake failed, bucketed to the fixed reasons of cdn_edge_tls_handshake_failures_total
 * (metrics.catalog.ts TLS_FAILURE_REASONS): the label never carries anything a client chose.
 *
 * Without a certificate to present, OpenSSL fails with "no suitable signature algorithm" (TLS
 * 1.3) or "no shared cipher" (TLS 1.2) and alerts the client (handshake_failure): whether
 * that was an unknown name, no name at all, or a real cipher mismatch is told by what the SNI
 * lookup found for the connection (certificate-contexts.ts).
 */
import type { TlsFailureReason } from '../metrics.catalog';
import type { SniOutcome } from './certificate-contexts';

const PROTOCOL_VERSION = new Set([
  'ERR_SSL_UNSUPPORTED_PROTOCOL',
  'ERR_SSL_NO_PROTOCOLS_AVAILABLE',
  'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
  'ERR_SSL_UNSUPPORTED_SSL_VERSION',
  'ERR_SSL_VERSION_TOO_LOW',
]);
const NO_CERTIFICATE_FOR_CLIENT = new Set(['ERR_SSL_NO_SHARED_CIPHER', 'ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM']);

export function handshakeFailureReason(err: Error & { code?: string }, sni: SniOutcome | undefined): TlsFailureReason {
  const code = err.code ?? '';
  if (PROTOCOL_VERSION.has(code)) return 'protocol_version';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (sni === 'unmatched') return 'unknown_sni';
  if (NO_CERTIFICATE_FOR_CLIENT.has(code)) return sni === undefined ? 'no_sni' : 'no_shared_cipher';
  return 'other';
}
