/**
 * The HTTPS port: node:http2's secure server with HTTP/1 fallback, so ALPN offers `h2` and
 * `http/1.1` on one port. HTTP/1.1 over TLS reaches the request handler as node:http's
 * IncomingMessage/ServerResponse (with the plain port's parser limits and timeouts); h2
 * streams as node:http2's compatibility objects. Both go through the same hit lane, pipeline,
 * cache, purges, metrics and client limits as plain HTTP (server.ts hands the handler in).
 *
 * Listening is the plain port's (accept.handles.ts: several SO_REUSEPORT sockets, a cluster
 * worker's own ones); connections count towards the same CDN_EDGE_MAX_CONNECTIONS. The
 * certificate is chosen by SNI (certificate-contexts.ts); session tickets use keys every edge
 * process derives alike (ticket-keys.ts), so resumption works across workers and edges.
 *
 * close(): stops accepting; h2 sessions get GOAWAY and finish their streams; HTTP/1
 * connections finish their request; connections still in their handshake, and HTTP/1 ones
 * that never sent a request, are closed at once (as on the plain port).
 */
import cluster from 'node:cluster';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session, type SecureServerOptions } from 'node:http2';
import type { IncomingMessage, ServerOptions as HttpServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../obs/logger.factory';
import { listenOnHandles, type AcceptHandles, type PublicListener } from '../accept.handles';
import type { ConnectionBudget } from '../connection-budget';
import { DrainGrace, drainGraceMs } from '../drain-grace';
import type { EdgeMetrics } from '../edge.metrics';
import { LISTEN_BACKLOG } from '../limits.check';
import type { Transport } from '../metrics.catalog';
import type { CertificateContexts } from './certificate-contexts';
import { handshakeFailureReason } from './handshake-failures';
import { rotateTicketKeys } from './ticket-keys';
import { h2SessionOptions, tlsContextOptions } from './tls.settings';

export type ServeRequest = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse, expectsContinue: boolean, transport: Transport) => void;

export interface SecureServerDeps {
  contexts: CertificateContexts;
  /** CDN_SECRET_KEY: the session ticket keys derive from it. */
  secretKey: string;
  /** node:http's options of the plain port (client-limits.ts): HTTP/1.1 over TLS gets the same. */
  http1: HttpServerOptions & { keepAliveTimeout: number; requestTimeout: number };
  /** Answers an HTTP/1 request node:http could not parse (client-limits.ts). */
  http1ClientError: (err: Error & { code?: string }, socket: Socket) => void;
  maxHeaderBytes: number;
  /** A TLS handshake must complete within this (CDN_EDGE_CLIENT_TIMEOUT_MS). */
  handshakeTimeoutMs: number;
  /** An h2 connection without any frame for this long is closed gracefully (CDN_EDGE_KEEPALIVE_TIMEOUT_MS). */
  idleTimeoutMs: number;
  acceptHandles: number;
  budget: ConnectionBudget;
  metrics: EdgeMetrics;
  logger: Logger;
  serve: ServeRequest;
}

export function createTlsServer(deps: SecureServerDeps): PublicListener {
  const { contexts, metrics, budget } = deps;
  const options: SecureServerOptions & HttpServerOptions = {
    ...tlsContextOptions(),
    ...h2SessionOptions(deps.maxHeaderBytes),
    ...deps.http1,
    allowHTTP1: true,
    // The server's own context has no certificate: SNI picks one, or the handshake fails.
    SNICallback: contexts.sniCallback,
    handshakeTimeout: deps.handshakeTimeoutMs,
    noDelay: true,
  };
  let closing = false;
  const server = createSecureServer(options);
  const stopTickets = rotateTicketKeys(server, deps.secretKey);

  /** Raw connections still in their TLS handshake, by remote address and port. */
  const handshaking = new Map<string, Socket>();
  /** TLS connections whose handshake completed (a clientError on any other is a TLS failure, not HTTP). */
  const established = new WeakSet<object>();
  /** HTTP/1 connections over TLS that have not sent a request yet. */
  const silent = new Set<Socket>();
  /** At close, connections in their handshake or silent get a short grace (drain-grace.ts). */
  const grace = new DrainGrace();

  const serve = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse, expectsContinue: boolean): void => {
    if ('stream' in req) {
      deps.serve(req, res, expectsContinue, 'h2');
      return;
    }
    silent.delete(req.socket);
    if (closing && !('stream' in res)) res.shouldKeepAlive = false;
    deps.serve(req, res, expectsContinue, 'https');
  };
  server.on('request', (req, res) => serve(req, res, false));
  // Expect: 100-continue: admitRequest sends `100 Continue` only to a request it accepts.
  server.on('checkContinue', (req, res) => serve(req, res, true));

  server.on('connection', (socket: Socket) => {
    if (!budget.admit(socket)) return;
    if (grace.over) {
      socket.destroy();
      return;
    }
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    handshaking.set(key, socket);
    socket.once('close', () => {
      if (handshaking.get(key) === socket) handshaking.delete(key);
    });
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    handshaking.delete(`${socket.remoteAddress}:${socket.remotePort}`);
    established.add(socket);
    metrics.tlsHandshake(socket.getProtocol(), socket.isSessionReused());
    if (socket.alpnProtocol === 'h2') return;
    if (grace.over) {
      socket.destroy();
      return;
    }
    silent.add(socket);
    socket.once('close', () => silent.delete(socket));
  });
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    metrics.tlsHandshakeFailed(handshakeFailureReason(err, contexts.outcomeOf(socket)));
  });
  // node:http2 hands TLS failures to 'clientError' too: only HTTP/1 parse errors get an HTTP answer.
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    if (established.has(socket)) deps.http1ClientError(err, socket);
    else socket.destroy();
  });
  server.on('session', (session: Http2Session) => {
    // Idle h2 connections close as idle keep-alive ones do; close() lets streams in flight finish.
    session.setTimeout(deps.idleTimeoutMs, () => session.close());
  });
  // Session-level protocol errors (a flood that tripped a limit, a broken peer) end that session only.
  server.on('sessionError', (err: Error) => deps.logger.debug({ err: err.message }, 'h2 session closed on an error'));

  let fanout: AcceptHandles | undefined;
  return {
    server,
    listen: async (host, port) => {
      fanout = await listenOnHandles(
        server,
        { host, port, backlog: LISTEN_BACKLOG, handles: deps.acceptHandles, exclusive: cluster.isWorker, probe: !cluster.isWorker, adopt: { noDelay: true, allowHalfOpen: false } },
        deps.logger,
      );
    },
    close: () =>
      new Promise<void>((resolve) => {
        stopTickets();
        if (!server.listening) return resolve();
        closing = true;
        const sweep = setInterval(() => closeIdleHttp1(server), 50);
        const copiesClosed = fanout?.close() ?? Promise.resolve();
        // Closes every h2 session gracefully (GOAWAY; streams in flight finish).
        server.close(() => {
          void copiesClosed.then(() => {
            clearInterval(sweep);
            grace.stop();
            resolve();
          });
        });
        closeIdleHttp1(server);
        grace.start(drainGraceMs(deps.handshakeTimeoutMs), () => {
          for (const socket of handshaking.values()) socket.destroy();
          for (const socket of silent) socket.destroy();
        });
      }),
  };
}

/** Closes HTTP/1 connections between two requests: node:http2's secure server does it as node:http's does (with allowHTTP1), though @types/node does not say so. */
function closeIdleHttp1(server: object): void {
  (server as { closeIdleConnections?: () => void }).closeIdleConnections?.call(server);
}
