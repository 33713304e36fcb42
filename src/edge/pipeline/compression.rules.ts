/**
 * What the edge may compress and how an encoded answer's fields differ from the identity's
 * (docs/EDGE.md, "Compression"). Pure rules: the encoded copies themselves are made by
 * encoded-variants.ts, the choice per request is content-coding.step.ts's.
 *
 * - Compressible: a 200 whose media type is on the built-in list or the customer's
 *   `compressTypes`, with no Content-Encoding of its own, no `Cache-Control: no-transform`
 *   (RFC 9110 §7.7: an intermediary must not transform such content), and a length within
 *   [minBytes, maxBytes] when it is known.
 * - ETags: an encoded body is another representation (RFC 9110 §8.8.3), so it gets its own
 *   entity-tag, the identity's with `-br` / `-gzip` added inside the quotes. Stored copies
 *   keep it strong (their bytes never change while the identity does not: Range and If-Range
 *   work on them); bodies encoded or decoded on the fly get it weak (`W/"…-br"`), since two
 *   streaming runs are not promised to give the same bytes.
 */
import type { CustomerConfig } from '../../core/customer.types';
import type { ObjectMeta, StoredHeaders } from '../cache/cache-store.port';

/** A body the edge encodes or decodes while it streams (EdgeTransaction.recode). */
export type Recode = { encode: 'br' | 'gzip' } | { decode: 'gzip' | 'br' | 'deflate' };

export interface CompressionSettings {
  /** CDN_EDGE_COMPRESS: off, the edge neither encodes nor decodes (bodies go as stored). */
  enabled: boolean;
  /** Bodies shorter than this are sent as they are (CDN_EDGE_COMPRESS_MIN_BYTES). */
  minBytes: number;
  /** Bodies longer than this are sent as they are (CDN_EDGE_COMPRESS_MAX_BYTES). */
  maxBytes: number;
  /** Brotli quality 0..11 (CDN_EDGE_COMPRESS_BROTLI_QUALITY). */
  brotliQuality: number;
  /** gzip level 1..9 (CDN_EDGE_COMPRESS_GZIP_LEVEL). */
  gzipLevel: number;
}

/**
 * Media types compressed whatever the customer says (besides text/* and the +json, +xml
 * suffixes). application/wasm: compiled code shrinks by half or more under brotli, and
 * browsers stream-compile it encoded. font/ttf, font/otf and EOT are uncompressed font
 * tables (WOFF and WOFF2 are compressed already and stay out). image/x-icon: ICO files
 * are mostly raw bitmaps. Not images, audio, video, archives: compressed formats gain
 * nothing and cost CPU.
 */
export const BUILT_IN_TYPES: ReadonlySet<string> = new Set([
  'application/json',
  'application/javascript',
  'application/x-javascript',
  'application/ecmascript',
  'application/xml',
  'application/xhtml+xml',
  'application/wasm',
  'application/manifest+json',
  'application/x-ndjson',
  'application/graphql-response+json',
  'image/svg+xml',
  'image/x-icon',
  'image/vnd.microsoft.icon',
  'font/ttf',
  'font/otf',
  'application/vnd.ms-fontobject',
]);

/**
 * text/event-stream is never compressed: a compressor holds events back until it has a
 * block's worth, which breaks a live stream.
 */
const NEVER = new Set(['text/event-stream']);

/** The media type of a Content-Type value: before any parameter, trimmed, lower-case. */
export function mediaTypeOf(contentType: string | string[] | undefined): string | undefined {
  const value = Array.isArray(contentType) ? contentType[0] : contentType;
  if (value === undefined) return undefined;
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  return type === '' ? undefined : type;
}

export function isCompressibleType(contentType: string | string[] | undefined, customer: Pick<CustomerConfig, 'compressTypes'> | undefined): boolean {
  const type = mediaTypeOf(contentType);
  if (type === undefined || NEVER.has(type)) return false;
  if (type.startsWith('text/') || BUILT_IN_TYPES.has(type) || type.endsWith('+json') || type.endsWith('+xml')) return true;
  return customer?.compressTypes?.includes(type) === true;
}

/** RFC 9110 §7.7 / RFC 9111 §5.2.2.6: `Cache-Control: no-transform` forbids changing the content coding. */
export function forbidsTransform(headers: StoredHeaders): boolean {
  const cc = headers['cache-control'];
  if (cc === undefined) return false;
  return /(?:^|,)\s*no-transform\s*(?:$|,|=)/i.test(Array.isArray(cc) ? cc.join(',') : cc);
}

/**
 * The content coding the origin applied: undefined for none (or `identity`); `gzip`, `br`
 * or `deflate` when the edge can decode it; `other` for anything else (several codings,
 * zstd, compress): passed on untouched.
 */
export function originCodingOf(headers: StoredHeaders): 'gzip' | 'br' | 'deflate' | 'other' | undefined {
  const raw = headers['content-encoding'];
  if (raw === undefined) return undefined;
  const value = (Array.isArray(raw) ? raw.join(',') : raw).trim().toLowerCase();
  if (value === '' || value === 'identity') return undefined;
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  if (value === 'br' || value === 'deflate') return value;
  return 'other';
}

/**
 * Whether a response of `status` with `headers` (and `length` body bytes, when known) may
 * be encoded by the edge.
 */
export function mayEncode(status: number, headers: StoredHeaders, length: number | undefined, customer: Pick<CustomerConfig, 'compressTypes'> | undefined, settings: CompressionSettings): boolean {
  if (!settings.enabled || status !== 200) return false;
  if (length !== undefined && (length < settings.minBytes || length > settings.maxBytes)) return false;
  if (headers['content-range'] !== undefined || originCodingOf(headers) !== undefined) return false;
  return isCompressibleType(headers['content-type'], customer) && !forbidsTransform(headers);
}

/** A stored object the edge may keep encoded copies of (its size is known). */
export function mayEncodeStored(meta: ObjectMeta, customer: Pick<CustomerConfig, 'compressTypes'> | undefined, settings: CompressionSettings): boolean {
  return meta.vary === undefined && meta.encoded === undefined && mayEncode(meta.status, meta.headers, meta.size, customer, settings);
}

/** Whether the edge decodes an origin-encoded answer for clients that do not accept its coding. */
export function mayDecode(status: number, headers: StoredHeaders, settings: CompressionSettings): 'gzip' | 'br' | 'deflate' | undefined {
  if (!settings.enabled || status === 206 || status === 204 || status === 304) return undefined;
  const coding = originCodingOf(headers);
  if (coding === undefined || coding === 'other' || forbidsTransform(headers) || headers['content-range'] !== undefined) return undefined;
  return coding;
}

/**
 * The entity-tag of the `suffix` representation (`br`, `gzip`, or `identity` for a decoded
 * body): the identity's opaque tag with `-<suffix>` inside its quotes; weak when `weak` or
 * when the identity's was. A tag without quotes (not RFC syntax, but origins send them) gets
 * the suffix at the end.
 */
export function codedEtag(etag: string | string[] | undefined, suffix: string, weak: boolean): string | undefined {
  const value = Array.isArray(etag) ? etag[0] : etag;
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  const wasWeak = trimmed.startsWith('W/');
  const opaque = wasWeak ? trimmed.slice(2) : trimmed;
  const tagged = opaque.length >= 2 && opaque.startsWith('"') && opaque.endsWith('"') ? `${opaque.slice(0, -1)}-${suffix}"` : `"${opaque.replace(/"/g, '')}-${suffix}"`;
  return weak || wasWeak ? `W/${tagged}` : tagged;
}

/** The Vary field with Accept-Encoding in it (merged with the origin's; unchanged when it is there, or `*`). */
export function varyWithAcceptEncoding(vary: string | string[] | undefined): string | string[] {
  if (vary === undefined) return 'Accept-Encoding';
  const value = Array.isArray(vary) ? vary.join(', ') : vary;
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === 'accept-encoding' || name === '*') return vary;
  }
  return value.trim() === '' ? 'Accept-Encoding' : `${value}, Accept-Encoding`;
}

/**
 * The answer's fields for a stored encoded copy of `size` bytes: the identity's, with the
 * coding, the copy's length (none while it is not known yet), its own strong entity-tag, and
 * Vary naming Accept-Encoding.
 */
export function encodedHeaders(identity: StoredHeaders, coding: 'br' | 'gzip', size: number | undefined): StoredHeaders {
  const out: StoredHeaders = { ...identity, 'content-encoding': coding, vary: varyWithAcceptEncoding(identity.vary) };
  if (size === undefined) delete out['content-length'];
  else out['content-length'] = String(size);
  const etag = codedEtag(identity.etag, coding, false);
  if (etag !== undefined) out.etag = etag;
  return out;
}

/**
 * The answer's fields for a body the edge encodes (`coding`) or decodes (`identity`) while
 * it streams: length unknown, so no Content-Length and no ranges (Accept-Ranges dropped), a
 * weak entity-tag of its own, Vary naming Accept-Encoding.
 */
export function streamedHeaders(origin: StoredHeaders, coding: 'br' | 'gzip' | 'identity'): StoredHeaders {
  const out: StoredHeaders = { ...origin, vary: varyWithAcceptEncoding(origin.vary) };
  delete out['content-length'];
  delete out['accept-ranges'];
  if (coding === 'identity') delete out['content-encoding'];
  else out['content-encoding'] = coding;
  const etag = codedEtag(origin.etag, coding, true);
  if (etag !== undefined) out.etag = etag;
  return out;
}

/**
 * What names a stored identity body for its encoded copies: its bodyId, or for objects
 * stored before bodyIds, when it was fetched and how long it is (a revalidation of such an
 * object moves fetchedAt, which only costs one more encoding).
 */
export function bodySourceOf(meta: Pick<ObjectMeta, 'bodyId' | 'fetchedAt' | 'storedAt' | 'size'>): string {
  return meta.bodyId ?? `${meta.fetchedAt ?? meta.storedAt}:${meta.size}`;
}

let bodySeq = 0;
const BODY_PREFIX = `${process.pid.toString(36)}.${Date.now().toString(36)}.`;

/** A new bodyId: unique per process start and fill (no random draw on the miss path). */
export function newBodyId(): string {
  bodySeq += 1;
  return BODY_PREFIX + bodySeq.toString(36);
}
