/**
 * What the public port accepts from clients, before any customer is looked up: request
 * head size (431), target length (414), body size (413, on Content-Length and while the
 * body streams to the origin), and timeouts (408 for a head that does not arrive in time:
 * slowloris; 408 for a body that stops arriving: slow uploads; idle keep-alive connections
 * are closed). `Expect: 100-continue` is answered here, and only for a request that is
 * accepted. Every refusal is the edge's usual JSON error, `{"error": "...", "code": "CDN_ERR_...", "message": "..."}`,
 * with a catalog message.
 *
 * The same limits hold for HTTP/2 (edge/tls): target length, Content-Length and the body as
 * it streams, its pace. What differs is what a refusal closes: on HTTP/1 the connection (the
 * rest of the request is never read), on h2 only the request's stream, never the connection
 * that carries the client's other requests. h2 heads are bounded by the session settings
 * (tls/tls.settings.ts: the same CDN_EDGE_MAX_HEADER_BYTES), which reset a stream whose
 * head is too large.
 */
import { STATUS_CODES, type ServerOptions } from 'node:http';
import { constants as h2 } from 'node:http2';
import type { Socket } from 'node:net';
import { cdnError, httpErrorBody, type CdnError } from '../core/errors';
import type { EdgeConfig } from './config';
import { synthStep } from './pipeline/deliver.steps';
import type { EdgeTransaction } from './pipeline/transaction';

export type ClientLimits = Pick<EdgeConfig, 'maxUrlBytes' | 'maxHeaderBytes' | 'maxBodyBytes' | 'clientTimeoutMs' | 'bodyTimeoutMs' | 'keepAliveTimeoutMs' | 'cdnId'>;

/** The whole request, body included, must arrive within this (Node's own default). */
export const REQUEST_TIMEOUT_MS = 300_000;

/** node:http options of the public server. */
export function publicServerOptions(limits: ClientLimits): {
  http: ServerOptions;
  keepAliveTimeout: number;
  requestTimeout: number;
  clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => void;
} {
  return {
    http: {
      // A request without Host gets our JSON 400, not Node's bare one.
      requireHostHeader: false,
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.clientTimeoutMs,
      // Node looks for expired heads every 30 s by default: far too late to matter against slowloris.
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(limits.clientTimeoutMs / 2))),
      // A request without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3): Node
      // 24 then hands it over already ended, without the stream events a body would need. The
      // edge reads a body only when one of those fields is there (EdgeTransaction.hasBody).
      optimizeEmptyRequests: true,
    },
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: Math.max(REQUEST_TIMEOUT_MS, limits.clientTimeoutMs),
    clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => refuseUnparsed(err, socket, limits),
  };
}

/**
 * Checks a parsed request against the limits; answers it (and returns false) when it is
 * refused. `badUrl` is set when the target is not valid percent-encoding. Otherwise guards
 * the body as it streams, and returns true.
 *
 * `expectsContinue`: the request came with `Expect: 100-continue` (the server's
 * 'checkContinue' event, so Node has not answered it). RFC 9110 §10.1.1: the client waits
 * for `100 Continue` before sending its body; a refused request gets its final answer
 * instead (a 413 on Content-Length without the client ever sending the body), and the
 * connection is closed after it, since the body the client may still send is never read.
 * The expectation is the edge's to meet; it is not forwarded to origins.
 */
export function admitRequest(tx: EdgeTransaction, limits: ClientLimits, badUrl = false, expectsContinue = false): boolean {
  const target = tx.req.url ?? '/';
  if (tx.transport === 'h2' && !h2HeadWithinLimit(tx.req.rawHeaders, limits)) return refuse(tx, cdnError('CDN_ERR_EDGE_HEADERS_TOO_LARGE', limits.maxHeaderBytes));
  if (target.length > limits.maxUrlBytes) return refuse(tx, cdnError('CDN_ERR_EDGE_URL_TOO_LONG', limits.maxUrlBytes));
  if (badUrl) return refuse(tx, cdnError('CDN_ERR_EDGE_BAD_REQUEST', 'the request target is not valid percent-encoding'));
  // A shield's hop from an edge of this fleet (tx.hop, verified before) carries that edge's one entry.
  if (loopsThrough(tx.req.headers['cdn-loop'], limits.cdnId) > (tx.hop === undefined ? 0 : 1)) return refuse(tx, cdnError('CDN_ERR_EDGE_LOOP_DETECTED', limits.cdnId));
  const declared = tx.req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limits.maxBodyBytes) {
    return refuse(tx, cdnError('CDN_ERR_EDGE_BODY_TOO_LARGE', limits.maxBodyBytes));
  }
  if (expectsContinue) tx.res.writeContinue();
  if (tx.hasBody) guardBody(tx, limits);
  return true;
}

/**
 * An h2 request head within CDN_EDGE_MAX_HEADER_BYTES, counted as HTTP/1 would send it (the
 * pseudo-headers standing for the request line): `name: value` and a line end per field.
 * nghttp2 enforces the same limit (tls/tls.settings.ts maxHeaderListSize) by resetting the
 * stream, but only once the client has acknowledged the edge's SETTINGS: the requests of a
 * connection's first flight are measured here, and get HTTP/1's 431.
 */
export function h2HeadWithinLimit(rawHeaders: readonly string[], limits: Pick<ClientLimits, 'maxHeaderBytes'>): boolean {
  let bytes = 0;
  for (let i = 0; i < rawHeaders.length; i += 1) bytes += rawHeaders[i]!.length + 2;
  return bytes <= limits.maxHeaderBytes;
}

/** RFC 8586 §2: how many times a CDN-Loop field already names this CDN (`cdn-id *( OWS ";" OWS parameter )`, comma-separated). */
export function loopsThrough(field: string | string[] | undefined, cdnId: string): number {
  if (field === undefined) return 0;
  const id = cdnId.toLowerCase();
  let times = 0;
  for (const line of Array.isArray(field) ? field : [field]) {
    for (const member of line.split(',')) {
      const semi = member.indexOf(';');
      if ((semi < 0 ? member : member.slice(0, semi)).trim().toLowerCase() === id) times += 1;
    }
  }
  return times;
}

/**
 * A shield refusing a request's Edgeplane-Hop field (edge/shield/shield-gate.ts): 403, with
 * the reason in Edgeplane-Hop-Refused too, so an edge of the fleet with another secret or a
 * clock far off sees why and asks the origin itself. The request is never looked at further.
 */
export function refuseHop(tx: EdgeTransaction, reason: string): false {
  tx.synthHeaders = { 'edgeplane-hop-refused': reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 300) };
  return refuse(tx, cdnError('CDN_ERR_EDGE_HOP_REFUSED', reason));
}

function refuse(tx: EdgeTransaction, err: CdnError): false {
  dropRestOfRequest(tx);
  tx.synth(err);
  synthStep(tx);
  return false;
}

/**
 * The rest of the request (a body, a pipelined request) is never read. HTTP/1: the
 * connection closes after the answer. h2: the stream is reset once the answer is sent
 * (RST_STREAM NO_ERROR: "stop sending", RFC 9113 §8.1), the connection goes on.
 */
function dropRestOfRequest(tx: EdgeTransaction): void {
  const res = tx.res;
  if ('stream' in res) {
    // The stream's own 'finish' (the answer is written); the response's waits for the stream to close.
    const stream = res.stream;
    stream.once('finish', () => {
      if (!stream.closed) stream.close(h2.NGHTTP2_NO_ERROR);
    });
  } else {
    res.shouldKeepAlive = false;
  }
}

/** An answer already under way cannot be finished: HTTP/1 closes the connection, h2 cancels the stream. */
function cutShort(tx: EdgeTransaction): void {
  const res = tx.res;
  if ('stream' in res) {
    if (!res.stream.closed) res.stream.close(h2.NGHTTP2_CANCEL);
  } else {
    res.destroy();
    res.socket?.destroy();
  }
}

/**
 * Watches the body as the parser pushes it, without consuming it (the pipeline streams
 * `tx.req` itself to the origin):
 *
 * - Size: a chunked (or lying) body is counted; past `maxBodyBytes` it gets 413.
 * - Pace: a body that stops arriving for `bodyTimeoutMs` while the edge waits for it gets
 *   408. A slow upload streaming to the origin holds an origin connection for as long as
 *   its client dawdles, so "keep sending" is enforced far below the origin timeout: Node's
 *   own limit is only on the whole request (REQUEST_TIMEOUT_MS, 5 min), which let one byte
 *   every few seconds hold a connection for minutes. The clock runs only while the edge
 *   wants more: a body held back because the edge is not reading yet (backpressure, an
 *   upload queued for an origin connection) is not the client's delay.
 *
 * Either way nothing more is passed on, the client gets the JSON error (or a closed
 * connection if an answer had already started), the connection is closed after it (the
 * rest of the body is never read), and the origin request is aborted: the origin never
 * sees a complete body, and the connection it held is free for the next request.
 */
function guardBody(tx: EdgeTransaction, limits: ClientLimits): void {
  const req = tx.req;
  const push = req.push.bind(req);
  const read = req._read.bind(req);
  let seen = 0;
  let stopped = false;
  /** The body is complete, or the answer is done: nothing more to wait for. */
  let settled = false;
  let stall: NodeJS.Timeout | undefined;
  const stop = (err: CdnError): void => {
    stopped = true;
    idle();
    if (tx.res.headersSent || tx.clientGone) {
      cutShort(tx);
    } else {
      // HTTP/1: the client may still be sending; h2's stream reset (refuse) stops it instead.
      const res = tx.res;
      const socket = 'stream' in res ? undefined : res.socket;
      refuse(tx, err);
      if (socket != null) res.once('finish', () => socket.destroy());
    }
    // After the answer is written: an aborted upload may take the client's socket down with it.
    tx.abort?.abort();
  };
  const onStall = (): void => stop(cdnError('CDN_ERR_EDGE_BODY_TIMEOUT', limits.bodyTimeoutMs));
  /** The edge waits for the client: from now on (or still from the last chunk) the body must keep coming. */
  const waiting = (): void => {
    if (stall === undefined && !stopped && !settled) stall = setTimeout(onStall, limits.bodyTimeoutMs);
  };
  const idle = (): void => {
    clearTimeout(stall);
    stall = undefined;
  };
  req.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (stopped) return true;
    if (chunk === null || chunk === undefined) {
      settled = true;
      idle();
      return push(chunk, encoding);
    }
    seen += (chunk as Buffer).length;
    if (seen > limits.maxBodyBytes) {
      stop(cdnError('CDN_ERR_EDGE_BODY_TOO_LARGE', limits.maxBodyBytes));
      return true;
    }
    const more = push(chunk, encoding);
    // Full: the parser stops reading the socket until the edge reads (_read below).
    if (!more) idle();
    else if (stall !== undefined) stall.refresh();
    else waiting();
    return more;
  };
  req._read = (size: number): void => {
    waiting();
    read(size);
  };
  tx.res.once('close', () => {
    settled = true;
    idle();
  });
  waiting();
}

/** Requests node:http could not parse or that timed out: answered on the socket itself. */
function refuseUnparsed(err: Error & { code?: string }, socket: Socket, limits: ClientLimits): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent: boolean } })._httpMessage;
  if (!socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  let e: CdnError;
  if (err.code === 'HPE_HEADER_OVERFLOW') e = cdnError('CDN_ERR_EDGE_HEADERS_TOO_LARGE', limits.maxHeaderBytes);
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') e = cdnError('CDN_ERR_EDGE_REQUEST_TIMEOUT', limits.clientTimeoutMs);
  else e = cdnError('CDN_ERR_EDGE_BAD_REQUEST', `the HTTP parser refused it (${err.code ?? err.message})`);
  const body = JSON.stringify(httpErrorBody(e));
  const head =
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? 'Error'}\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\nConnection: close\r\n\r\n';
  socket.write(head + body, () => socket.destroy());
  // A client that reads nothing does not keep the socket either.
  setTimeout(() => socket.destroy(), 1_000).unref();
}
