/**
 * Which content coding an answer goes with (docs/EDGE.md, "Compression"), chosen once the
 * answer's status and fields are known and before preconditions and ranges are judged
 * (planAnswer), so a 304 or a 206 is judged on the representation actually sent.
 *
 * - A stored identity body the edge may compress, for a client whose Accept-Encoding comes
 *   out as br or gzip (core/content-coding.rules.ts): the stored encoded copy
 *   (encoded-variants.ts), made on the spot when there is none yet. Its own strong ETag, its
 *   length, ranges cut from its bytes.
 * - An answer streaming from the origin (a miss, an unshared answer, a pass) that the edge may
 *   compress: encoded while it streams (weak ETag, no length, no ranges). A Range request
 *   gets the identity instead, whose ranges the edge can cut.
 * - An origin-encoded body (gzip, br, deflate) for a client that does not accept its coding:
 *   decoded while it streams.
 * - Every answer whose coding depends on Accept-Encoding says so in Vary, whichever coding it has.
 */
import type { Readable, Transform } from 'node:stream';
import { createBrotliCompress, createBrotliDecompress, createGunzip, createGzip, createInflate, constants as zlib } from 'node:zlib';
import { acceptsCoding, negotiateCoding } from '../../core/content-coding.rules';
import type { ObjectMeta } from '../cache/cache-store.port';
import { evaluatePreconditions } from './conditional.rules';
import { encodedHeaders, mayDecode, mayEncode, mayEncodeStored, streamedHeaders, varyWithAcceptEncoding, type CompressionSettings, type Recode } from './compression.rules';
import type { EdgeTransaction, PipelineContext } from './transaction';

function acceptEncodingOf(tx: EdgeTransaction): string | undefined {
  const raw = tx.req.headers['accept-encoding'];
  return Array.isArray(raw) ? raw.join(', ') : raw;
}

/**
 * A stored answer (hit, stale, revalidated, stale-if-error): tx.headers and tx.size are the
 * identity's (`meta`), tx.stored the identity object. May put the encoded copy in its place.
 */
export async function codeStoredAnswer(tx: EdgeTransaction, ctx: PipelineContext, meta: ObjectMeta): Promise<void> {
  const variants = ctx.compression;
  // A shield's hop (tx.hop) gets the object as stored: the asking edge codes it for its own client.
  if (variants === undefined || !variants.settings.enabled || tx.stored === undefined || tx.hop !== undefined) return;
  const accept = acceptEncodingOf(tx);
  if (decodeIfRefused(tx, accept, variants.settings)) return;
  if (!mayEncodeStored(meta, tx.customer, variants.settings)) return;
  tx.headers.vary = varyWithAcceptEncoding(tx.headers.vary);
  const coding = negotiateCoding(accept);
  if (coding === 'identity') return;
  const identityHeaders = tx.headers;
  tx.headers = encodedHeaders(identityHeaders, coding, undefined);
  // A 304 or 412 sends no body and no length: nothing to look up or make for it.
  if (evaluatePreconditions(tx.req.headers, tx.headers) !== 200) return;
  const copy = await variants.get(tx.variantKey ?? tx.key, tx.stored, coding);
  if (copy === undefined || copy === 'useless' || tx.clientGone) {
    if (copy !== undefined && copy !== 'useless') void copy.release();
    tx.headers = identityHeaders;
    return;
  }
  void tx.stored.release();
  tx.stored = copy;
  tx.size = copy.meta.size;
  tx.headers['content-length'] = String(copy.meta.size);
  tx.copyOf = { coding, identitySize: meta.size };
}

/**
 * An answer streaming from the origin: tx.status and tx.headers are the origin's, tx.size its
 * declared length. Before planAnswer.
 */
export function codeStreamedAnswer(tx: EdgeTransaction, ctx: PipelineContext): void {
  const variants = ctx.compression;
  if (variants === undefined || !variants.settings.enabled || tx.hop !== undefined) return;
  const settings = variants.settings;
  const accept = acceptEncodingOf(tx);
  if (decodeIfRefused(tx, accept, settings)) return;
  if (!mayEncode(tx.status, tx.headers, declaredLength(tx.headers['content-length']), tx.customer, settings)) return;
  tx.headers.vary = varyWithAcceptEncoding(tx.headers.vary);
  // The edge cuts ranges from a body of known length only: a Range request gets the identity.
  if (tx.cacheable && tx.req.headers.range !== undefined) return;
  const coding = negotiateCoding(accept);
  if (coding === 'identity') return;
  tx.headers = streamedHeaders(tx.headers, coding);
  tx.size = undefined;
  tx.recode = { encode: coding };
}

/** Origin-encoded content for a client that does not accept its coding: decoded on the way. True when the body is origin-encoded. */
function decodeIfRefused(tx: EdgeTransaction, accept: string | undefined, settings: CompressionSettings): boolean {
  const coding = mayDecode(tx.status, tx.headers, settings);
  if (coding === undefined) return false;
  tx.headers.vary = varyWithAcceptEncoding(tx.headers.vary);
  if (acceptsCoding(accept, coding)) return true;
  tx.headers = streamedHeaders(tx.headers, 'identity');
  tx.size = undefined;
  tx.recode = { decode: coding };
  return true;
}

/** The stream that applies `recode` to a body (zlib on the thread pool, chunk by chunk). */
export function recoder(recode: Recode, settings: CompressionSettings): Transform {
  if ('encode' in recode) {
    if (recode.encode === 'gzip') return createGzip({ level: settings.gzipLevel });
    return createBrotliCompress({ params: { [zlib.BROTLI_PARAM_QUALITY]: settings.brotliQuality, [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT } });
  }
  if (recode.decode === 'gzip') return createGunzip();
  if (recode.decode === 'br') return createBrotliDecompress();
  return createInflate();
}

/**
 * Counts what an encoded stream saved once it has ended: bytes in (identity) and out (sent).
 * A stream cut short counts nothing.
 */
export function meterRecoded(source: Readable, coded: Readable, coding: 'br' | 'gzip', sent: (coding: 'br' | 'gzip', sentBytes: number, identityBytes: number) => void): void {
  let inBytes = 0;
  let outBytes = 0;
  source.on('data', (chunk: Buffer) => (inBytes += chunk.length));
  coded.on('data', (chunk: Buffer) => (outBytes += chunk.length));
  coded.once('end', () => sent(coding, outBytes, inBytes));
}

function declaredLength(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
