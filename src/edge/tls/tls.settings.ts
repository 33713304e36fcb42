/**
 * The HTTPS port's TLS and HTTP/2 settings, in one place (docs/EDGE.md lists them).
 *
 * TLS: 1.2 and 1.3 only (1.0 and 1.1 are deprecated by RFC 8996). TLS 1.2 gets ECDHE key
 * exchange (forward secrecy) with AEAD ciphers only — Mozilla's "intermediate" list, which
 * every browser of the last years speaks; TLS 1.3's own suites are all AEAD. Key exchange
 * groups X25519, P-256, P-384. The server's cipher order wins.
 *
 * HTTP/2: every limit bounded, so one connection cannot take more than its share of memory
 * or CPU: 100 concurrent streams (the RFC 9113 recommended minimum, what browsers expect),
 * the head of a request bounded by the same CDN_EDGE_MAX_HEADER_BYTES as HTTP/1 (a larger
 * head resets its stream), 10 MB of session memory (nghttp2's buffers; beyond it new streams
 * are refused), a cap on invalid frames and on refused streams before the session is
 * closed, and a token bucket on stream resets from the client (rapid reset, CVE-2023-44487:
 * a client resetting streams faster than 50 a second past a burst of 200 gets GOAWAY).
 * CONTINUATION floods (CVE-2024-27316 family) end at the head size limit and nghttp2's own
 * cap on CONTINUATION frames per head.
 */
import type { SecureServerOptions } from 'node:http2';
import type { SecureContextOptions } from 'node:tls';

export const TLS_MIN_VERSION = 'TLSv1.2';
export const TLS_MAX_VERSION = 'TLSv1.3';

const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];
/** Node's `ciphers`: TLS 1.3 suites (TLS_*) and the TLS 1.2 list in one string. */
export const CIPHERS = [...TLS13_SUITES, ...TLS12_CIPHERS].join(':');
export const ECDH_CURVES = 'X25519:P-256:P-384';

/**
 * The session id context (OpenSSL checks that a resumed session was made for the same one).
 * Node's default hashes the process's command line, which differs between a cluster worker,
 * a single edge and `cdn start`: a constant lets every edge process resume the others'
 * sessions (with the shared ticket keys of ticket-keys.ts).
 */
export const SESSION_ID_CONTEXT = 'edgeplane-edge-v1';
/**
 * How long a session ticket may be used to resume (the lifetime hint sent with it). One
 * hour: returning visitors skip the full handshake, and a ticket outlives at most one hour
 * of a key's 12 h (ticket-keys.ts).
 */
export const SESSION_TIMEOUT_SECONDS = 3600;

/** What every TLS context of the HTTPS port shares: the server's own (no certificate) and each certificate's. */
export function tlsContextOptions(): SecureContextOptions {
  return {
    minVersion: TLS_MIN_VERSION,
    maxVersion: TLS_MAX_VERSION,
    ciphers: CIPHERS,
    ecdhCurve: ECDH_CURVES,
    honorCipherOrder: true,
    sessionIdContext: SESSION_ID_CONTEXT,
    sessionTimeout: SESSION_TIMEOUT_SECONDS,
  };
}

export const H2_MAX_CONCURRENT_STREAMS = 100;
/** MB (nghttp2's unit here). */
export const H2_MAX_SESSION_MEMORY_MB = 10;
export const H2_MAX_INVALID_FRAMES = 100;
export const H2_MAX_REJECTED_STREAMS = 100;
export const H2_MAX_HEADER_PAIRS = 128;
export const H2_RESET_BURST = 200;
export const H2_RESET_RATE = 50;

/** The HTTP/2 session options of the HTTPS port; `maxHeaderBytes` is CDN_EDGE_MAX_HEADER_BYTES. */
export function h2SessionOptions(maxHeaderBytes: number): SecureServerOptions {
  return {
    settings: {
      maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS,
      maxHeaderListSize: maxHeaderBytes,
      enablePush: false,
    },
    maxHeaderListPairs: H2_MAX_HEADER_PAIRS,
    maxSessionMemory: H2_MAX_SESSION_MEMORY_MB,
    maxSessionInvalidFrames: H2_MAX_INVALID_FRAMES,
    maxSessionRejectedStreams: H2_MAX_REJECTED_STREAMS,
    peerMaxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS,
    streamResetBurst: H2_RESET_BURST,
    streamResetRate: H2_RESET_RATE,
  };
}
