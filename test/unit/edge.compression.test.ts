/**
 * Compression rules (src/core/content-coding.rules.ts, src/edge/pipeline/compression.rules.ts)
 * and their configuration: Accept-Encoding negotiation (RFC 9110 §12.5.3), what may be encoded
 * or decoded, the ETag and Vary of an encoded answer, CDN_EDGE_COMPRESS_*.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptsCoding, negotiateCoding } from '../../src/core/content-coding.rules';
import { isCdnError } from '../../src/core/errors';
import { encodedKey, isEncodedRest, variantKey } from '../../src/edge/cache/cache-key';
import { COMPRESS_BROTLI_QUALITY_DEFAULT, COMPRESS_MAX_BYTES_DEFAULT, COMPRESS_MIN_BYTES_DEFAULT, loadEdgeConfig } from '../../src/edge/config';
import {
  bodySourceOf,
  codedEtag,
  encodedHeaders,
  forbidsTransform,
  isCompressibleType,
  mayDecode,
  mayEncode,
  streamedHeaders,
  varyWithAcceptEncoding,
  type CompressionSettings,
} from '../../src/edge/pipeline/compression.rules';

const SETTINGS: CompressionSettings = { enabled: true, minBytes: 256, maxBytes: 1024 * 1024, brotliQuality: 5, gzipLevel: 6 };

test('Accept-Encoding comes out as br, gzip or identity, whatever the client writes', () => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'identity'],
    ['', 'identity'],
    ['gzip', 'gzip'],
    ['br', 'br'],
    ['gzip, deflate, br', 'br'],
    ['gzip, deflate, br, zstd', 'br'],
    ['deflate, gzip', 'gzip'],
    ['br;q=0.9, gzip', 'gzip'],
    ['gzip;q=0.5, br;q=0.5', 'br'],
    ['br;q=0, gzip;q=0', 'identity'],
    ['br;q=0, gzip;q=0.001', 'gzip'],
    ['*', 'br'],
    ['*;q=0', 'identity'],
    ['br;q=0, *', 'gzip'],
    ['identity', 'identity'],
    ['identity;q=1, br;q=0.5', 'identity'],
    ['identity;q=0.5, br;q=0.5', 'br'],
    ['identity;q=0', 'identity'],
    ['x-gzip', 'gzip'],
    ['GZIP', 'gzip'],
    [' br ; q=1 ', 'br'],
    ['br;q=1.0', 'br'],
    ['br;q=1.5', 'identity'],
    ['br;q=0.1234', 'identity'],
    ['br;q=', 'identity'],
    ['br;level=5', 'br'],
    ['br;foo', 'identity'],
    [',,,', 'identity'],
    ['compress, deflate, zstd', 'identity'],
    ['gzip, br;q=0', 'gzip'],
    ['br, br;q=0', 'br'],
  ];
  for (const [field, expected] of cases) assert.equal(negotiateCoding(field), expected, `Accept-Encoding: ${String(field)}`);
  assert.equal(negotiateCoding('br, gzip', ['gzip']), 'gzip', 'only what the server offers');
});

test('acceptsCoding: a coding named with a weight above 0, or through *', () => {
  assert.equal(acceptsCoding(undefined, 'gzip'), false, 'no field: curl without --compressed cannot decode');
  assert.equal(acceptsCoding('gzip', 'gzip'), true);
  assert.equal(acceptsCoding('x-gzip', 'gzip'), true);
  assert.equal(acceptsCoding('gzip;q=0', 'gzip'), false);
  assert.equal(acceptsCoding('*', 'deflate'), true);
  assert.equal(acceptsCoding('*, deflate;q=0', 'deflate'), false);
  assert.equal(acceptsCoding('br', 'gzip'), false);
});

test('compressible types: text (not event streams), JSON, JavaScript, XML and SVG, wasm, uncompressed fonts, the customer\'s own', () => {
  for (const type of ['text/html; charset=utf-8', 'TEXT/CSS', 'text/javascript', 'application/javascript', 'application/json', 'application/ld+json', 'application/problem+json', 'application/xml', 'application/rss+xml', 'image/svg+xml', 'application/wasm', 'font/ttf', 'font/otf', 'image/x-icon']) {
    assert.equal(isCompressibleType(type, undefined), true, type);
  }
  for (const type of ['text/event-stream', 'image/png', 'image/jpeg', 'font/woff2', 'font/woff', 'application/octet-stream', 'application/zip', 'video/mp4', undefined, '']) {
    assert.equal(isCompressibleType(type, undefined), false, String(type));
  }
  assert.equal(isCompressibleType('application/x-custom', { compressTypes: ['application/x-custom'] }), true);
  assert.equal(isCompressibleType('application/x-custom; v=1', { compressTypes: ['application/x-custom'] }), true);
  assert.equal(isCompressibleType('application/x-other', { compressTypes: ['application/x-custom'] }), false);
});

test('what may be encoded: 200, a compressible type, no coding of its own, no no-transform, a length in range (or unknown)', () => {
  const text = { 'content-type': 'text/plain' };
  assert.equal(mayEncode(200, text, 1000, undefined, SETTINGS), true);
  assert.equal(mayEncode(200, text, undefined, undefined, SETTINGS), true, 'unknown length (streamed): encoded');
  assert.equal(mayEncode(200, text, 255, undefined, SETTINGS), false, 'below the minimum');
  assert.equal(mayEncode(200, text, 1024 * 1024 + 1, undefined, SETTINGS), false, 'above the maximum');
  assert.equal(mayEncode(404, text, 1000, undefined, SETTINGS), false);
  assert.equal(mayEncode(206, { ...text, 'content-range': 'bytes 0-9/10' }, 10, undefined, SETTINGS), false);
  assert.equal(mayEncode(200, { ...text, 'content-encoding': 'gzip' }, 1000, undefined, SETTINGS), false);
  assert.equal(mayEncode(200, { ...text, 'content-encoding': 'identity' }, 1000, undefined, SETTINGS), true);
  assert.equal(mayEncode(200, { ...text, 'cache-control': 'public, no-transform' }, 1000, undefined, SETTINGS), false);
  assert.equal(mayEncode(200, text, 1000, undefined, { ...SETTINGS, enabled: false }), false);
  assert.equal(forbidsTransform({ 'cache-control': 'max-age=60,No-Transform' }), true);
  assert.equal(forbidsTransform({ 'cache-control': 'max-age=60, no-transformer' }), false);
});

test('what may be decoded: gzip, br, deflate from the origin, unless no-transform or a range', () => {
  assert.equal(mayDecode(200, { 'content-encoding': 'gzip' }, SETTINGS), 'gzip');
  assert.equal(mayDecode(200, { 'content-encoding': 'x-gzip' }, SETTINGS), 'gzip');
  assert.equal(mayDecode(404, { 'content-encoding': 'br' }, SETTINGS), 'br');
  assert.equal(mayDecode(200, { 'content-encoding': 'deflate' }, SETTINGS), 'deflate');
  assert.equal(mayDecode(200, { 'content-encoding': 'gzip, br' }, SETTINGS), undefined, 'layered codings are passed on as they are');
  assert.equal(mayDecode(200, { 'content-encoding': 'zstd' }, SETTINGS), undefined);
  assert.equal(mayDecode(206, { 'content-encoding': 'gzip' }, SETTINGS), undefined);
  assert.equal(mayDecode(200, { 'content-encoding': 'gzip', 'cache-control': 'no-transform' }, SETTINGS), undefined);
  assert.equal(mayDecode(200, {}, SETTINGS), undefined);
});

test('an encoded answer has its own ETag: strong for a stored copy, weak while streamed; Vary merged with the origin\'s', () => {
  assert.equal(codedEtag('"abc"', 'br', false), '"abc-br"');
  assert.equal(codedEtag('"abc"', 'gzip', true), 'W/"abc-gzip"');
  assert.equal(codedEtag('W/"abc"', 'br', false), 'W/"abc-br"', 'a weak tag stays weak');
  assert.equal(codedEtag('abc', 'br', false), '"abc-br"', 'an unquoted tag is quoted');
  assert.equal(codedEtag(undefined, 'br', false), undefined);
  assert.equal(varyWithAcceptEncoding(undefined), 'Accept-Encoding');
  assert.equal(varyWithAcceptEncoding('Accept-Language'), 'Accept-Language, Accept-Encoding');
  assert.equal(varyWithAcceptEncoding('accept-encoding, Origin'), 'accept-encoding, Origin');
  assert.equal(varyWithAcceptEncoding('*'), '*');
  const identity = { 'content-type': 'text/css', 'content-length': '1000', etag: '"x"', vary: 'Origin', 'accept-ranges': 'bytes' };
  assert.deepEqual(encodedHeaders(identity, 'br', 200), { 'content-type': 'text/css', 'content-length': '200', etag: '"x-br"', vary: 'Origin, Accept-Encoding', 'accept-ranges': 'bytes', 'content-encoding': 'br' });
  assert.deepEqual(streamedHeaders(identity, 'gzip'), { 'content-type': 'text/css', etag: 'W/"x-gzip"', vary: 'Origin, Accept-Encoding', 'content-encoding': 'gzip' });
  assert.deepEqual(streamedHeaders({ ...identity, 'content-encoding': 'gzip' }, 'identity'), { 'content-type': 'text/css', etag: 'W/"x-identity"', vary: 'Origin, Accept-Encoding' });
});

test('encoded copies are keyed right after their object (inside the URL\'s range) and never meet a Vary variant id', () => {
  const key = 'customer-a\n/app.js?v=1';
  assert.equal(encodedKey(key, 'br'), `${key}\n~br`);
  assert.equal(encodedKey(variantKey(key, 'abcDEF123'), 'gzip'), `${key}\nabcDEF123\n~gzip`);
  assert.ok(encodedKey(key, 'br') > key && encodedKey(key, 'br').startsWith(`${key}\n`));
  assert.equal(isEncodedRest('/app.js?\n~br'), true);
  assert.equal(isEncodedRest('/app.js?\nabc'), false);
  assert.equal(bodySourceOf({ bodyId: 'b1', storedAt: 1, size: 2 }), 'b1');
  assert.equal(bodySourceOf({ storedAt: 1, fetchedAt: 5, size: 2 }), '5:2', 'objects stored before bodyIds');
});

test('CDN_EDGE_COMPRESS_*: defaults, values, and the errors for bad ones', () => {
  const base = { CDN_SECRET_KEY: 'x'.repeat(32) };
  const defaults = loadEdgeConfig(base).compression;
  assert.deepEqual(defaults, { enabled: true, minBytes: COMPRESS_MIN_BYTES_DEFAULT, maxBytes: COMPRESS_MAX_BYTES_DEFAULT, brotliQuality: COMPRESS_BROTLI_QUALITY_DEFAULT, gzipLevel: 6 });
  const set = loadEdgeConfig({ ...base, CDN_EDGE_COMPRESS: 'false', CDN_EDGE_COMPRESS_MIN_BYTES: '1000', CDN_EDGE_COMPRESS_MAX_BYTES: '2000', CDN_EDGE_COMPRESS_BROTLI_QUALITY: '11', CDN_EDGE_COMPRESS_GZIP_LEVEL: '9' }).compression;
  assert.deepEqual(set, { enabled: false, minBytes: 1000, maxBytes: 2000, brotliQuality: 11, gzipLevel: 9 });
  assert.throws(
    () => loadEdgeConfig({ ...base, CDN_EDGE_COMPRESS_BROTLI_QUALITY: '12', CDN_EDGE_COMPRESS_GZIP_LEVEL: '0', CDN_EDGE_COMPRESS_MIN_BYTES: '5000', CDN_EDGE_COMPRESS_MAX_BYTES: '4000' }),
    (err: unknown) => {
      assert.ok(isCdnError(err));
      for (const name of ['CDN_EDGE_COMPRESS_BROTLI_QUALITY', 'CDN_EDGE_COMPRESS_GZIP_LEVEL', 'CDN_EDGE_COMPRESS_MIN_BYTES']) assert.match(err.message, new RegExp(name));
      return true;
    },
  );
});
