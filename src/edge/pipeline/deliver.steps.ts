/**
 * Steps `synth` (a JSON answer the edge makes up: bad host, unknown host, origin
 * errors) and `deliver` (write status, headers and the body stream to the client), and
 * planAnswer: what a GET/HEAD is answered with once the full response is known (client
 * preconditions, RFC 9110 §13; ranges, §14). Writes go to the raw Node response: the hit
 * path does no more than it must.
 */
import { pipeline, type Readable } from 'node:stream';
import type { StoredHeaders } from '../cache/cache-store.port';
import { VIA } from '../origin/origin-headers';
import { evaluatePreconditions, ifRangeMatches, notModifiedHeaders } from './conditional.rules';
import { meterRecoded, recoder } from './content-coding.choice';
import { ruledResponseHeaders } from './customer-rules';
import { contentRange, newBoundary, rangeSlicer, rangesLength, satisfiableRanges } from './range.rules';
import type { ClientResponse, EdgeTransaction, PipelineContext, StepName } from './transaction';

export function synthStep(tx: EdgeTransaction): StepName {
  const synthetic = tx.synthetic!;
  const body = Buffer.from(JSON.stringify(synthetic.body));
  tx.status = synthetic.status;
  tx.bytes = body.length;
  void releaseStored(tx);
  if (tx.clientGone) return 'done';
  const headers: StoredHeaders = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(body.length),
    'cache-control': 'no-store',
  };
  // Origin errors of a customer's request still say how the cache took part.
  if (tx.customer !== undefined) headers['x-cache'] = tx.cacheable ? 'MISS' : 'BYPASS';
  if (tx.hsts !== undefined) headers['strict-transport-security'] = tx.hsts;
  if (tx.synthHeaders !== undefined) Object.assign(headers, tx.synthHeaders);
  writeHead(tx.res, synthetic.status, headers);
  tx.res.end(body);
  return 'done';
}

/**
 * Fields HTTP/2 forbids (RFC 9113 §8.2.2: connection-specific; node:http2 throws on them).
 * Stored answers never hold them (origin-headers.ts drops hop-by-hop fields): this is the
 * last guard, for objects stored by an older edge.
 */
const H2_FORBIDDEN = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'te'] as const;

/** writeHead on either kind of response; on h2 without the fields HTTP/2 forbids. */
export function writeHead(res: ClientResponse, status: number, headers: StoredHeaders): void {
  if ('stream' in res) res.writeHead(status, h2Fields(headers));
  else res.writeHead(status, headers);
}

function h2Fields(headers: StoredHeaders): StoredHeaders {
  let out = headers;
  for (const name of H2_FORBIDDEN) {
    if (out[name] === undefined) continue;
    if (out === headers) out = { ...headers };
    delete out[name];
  }
  return out;
}

/**
 * Decides the answer to a GET/HEAD from the full response in tx (status, headers, size):
 * 304/412 for the client's preconditions (RFC 9110 §13.2.2, 2xx only), 206 or 416 for a
 * Range on a 200 of known size (§14.2, If-Range §13.1.5). Returns whether a body is sent.
 */
export function planAnswer(tx: EdgeTransaction): boolean {
  if (!tx.cacheable || tx.status < 200 || tx.status > 299) return !tx.isHead;
  const reqHeaders = tx.req.headers;
  const pre = evaluatePreconditions(reqHeaders, tx.headers);
  if (pre !== 200) {
    tx.status = pre;
    tx.headers = pre === 304 ? notModifiedHeaders(tx.headers) : { 'content-length': '0' };
    return false;
  }
  if (tx.isHead) return false;
  const range = reqHeaders.range;
  if (range === undefined || tx.status !== 200 || tx.size === undefined) return true;
  const ifRange = reqHeaders['if-range'];
  if (!ifRangeMatches(Array.isArray(ifRange) ? ifRange[0] : ifRange, tx.headers)) return true;
  const ranges = satisfiableRanges(range, tx.size);
  if (ranges === undefined) return true;
  if (ranges.length === 0) {
    // §15.5.17: 416 says how long the representation is.
    tx.status = 416;
    tx.headers = { 'content-range': `bytes */${tx.size}`, 'content-length': '0', ...(tx.headers.etag === undefined ? {} : { etag: tx.headers.etag }) };
    return false;
  }
  const headers: StoredHeaders = { ...tx.headers, 'accept-ranges': 'bytes' };
  if (ranges.length === 1) {
    headers['content-range'] = contentRange(ranges[0]!, tx.size);
  } else {
    const contentType = headers['content-type'];
    tx.multipart = { boundary: newBoundary(), contentType: Array.isArray(contentType) ? contentType[0] : contentType };
    headers['content-type'] = `multipart/byteranges; boundary=${tx.multipart.boundary}`;
  }
  headers['content-length'] = String(rangesLength(ranges, tx.size, tx.multipart));
  tx.status = 206;
  tx.ranges = ranges;
  tx.headers = headers;
  return true;
}

export function releaseStored(tx: EdgeTransaction): Promise<void> | undefined {
  const stored = tx.stored;
  tx.stored = undefined;
  tx.fromStore = false;
  return stored?.release();
}

/** The fields the edge adds to every answer it delivers: X-Cache, and itself in Via. */
export function addEdgeFields(headers: StoredHeaders, cache: string): StoredHeaders {
  headers['x-cache'] = cache;
  // RFC 9110 §7.6.3: an intermediary adds itself to Via in both directions.
  const via = headers.via;
  headers.via = via === undefined ? VIA : `${Array.isArray(via) ? via.join(', ') : via}, ${VIA}`;
  return headers;
}

export function deliverStep(tx: EdgeTransaction, ctx: PipelineContext): StepName {
  let headers = addEdgeFields(tx.headers, tx.cache);
  if (tx.hsts !== undefined) headers['strict-transport-security'] = tx.hsts;
  // The customer's rules: browser TTL and response fields, last (the edge's own fields are protected from them).
  // Not on a shield's hop: the asking edge stores the answer as the origin's, and applies them for its client.
  if (tx.decision !== undefined && tx.hop === undefined) headers = ruledResponseHeaders(headers, tx.decision);
  const res = tx.res;
  // A small miss's body, already whole (fetch.step.ts WHOLE_BODY_MAX): one write, no stream.
  if (tx.wholeBody !== undefined) return sendWhole(tx, headers, tx.wholeBody);
  let body: Readable | undefined = tx.body;
  if (tx.fromStore && body === undefined) {
    const stored = tx.stored!;
    tx.stored = undefined;
    // A memory hit of a whole object: one write, no stream (the hot path).
    if (stored.body !== undefined && tx.ranges === undefined && tx.recode === undefined) {
      if (!tx.clientGone && tx.copyOf !== undefined) ctx.metrics.compression.sent(tx.copyOf.coding, stored.body.length, tx.copyOf.identitySize);
      return sendWhole(tx, headers, stored.body);
    }
    body = stored.openBody();
    // A whole stored encoded copy: counted as sent as it starts (its length is known).
    if (tx.copyOf !== undefined && tx.ranges === undefined) ctx.metrics.compression.sent(tx.copyOf.coding, tx.size ?? 0, tx.copyOf.identitySize);
  } else {
    void releaseStored(tx);
  }
  if (tx.clientGone) {
    body?.destroy();
    return 'done';
  }
  const recode = tx.recode;
  if (body !== undefined && recode !== undefined && ctx.compression !== undefined) {
    const source = body;
    const coded = recoder(recode, ctx.compression.settings);
    if ('encode' in recode) meterRecoded(source, coded, recode.encode, (coding, sent, identity) => ctx.metrics.compression.sent(coding, sent, identity));
    else ctx.metrics.compression.decoded();
    // A body the decoder cannot read (an origin's broken gzip) cuts the answer short, as a broken origin body does.
    body = pipeline(source, coded, () => {});
  }
  if (body !== undefined && tx.ranges !== undefined) {
    const sliced = rangeSlicer(tx.ranges, tx.size!, tx.multipart);
    body = pipeline(body, sliced, () => {});
  }
  tx.body = body;
  writeHead(res, tx.status, headers);
  if (body === undefined) {
    res.end();
    return 'done';
  }
  body.on('data', (chunk: Buffer) => (tx.bytes += chunk.length));
  sendBody(body, res);
  return 'done';
}

/** Head and a body held whole, in one write (nothing for a client already gone). */
function sendWhole(tx: EdgeTransaction, headers: StoredHeaders, body: Buffer): StepName {
  if (tx.clientGone) return 'done';
  writeHead(tx.res, tx.status, headers);
  tx.res.end(body);
  tx.bytes += body.length;
  return 'done';
}

/**
 * The body to the client, as pipeline() would send it: a body that stops before its end (an
 * origin body cut short, an error) cuts the response short too (the connection closes, never a
 * short body that looks whole), and a client that leaves stops the body. pipe() and listeners,
 * not pipeline(): pipeline() makes an AbortController and end-of-stream watchers per call and
 * aborts the controller when done, which builds an AbortError with its stack trace for every
 * response (about 5 % of a 1 KB miss's CPU in a profile of the cold-miss bench).
 */
function sendBody(body: Readable, res: ClientResponse): void {
  body.once('error', ignore); // its 'close' follows and cuts the response short
  body.once('close', () => {
    if (!body.readableEnded) res.destroy();
  });
  // A response written after it ended emits 'error': without a listener, pipe() would throw it.
  res.once('error', () => body.destroy());
  res.once('close', () => {
    if (!body.readableEnded) body.destroy();
  });
  body.pipe(res);
}

function ignore(): void {}
