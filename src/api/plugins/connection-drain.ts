/**
 * Stopping the api's HTTP server without turning away a request a balancer has already sent.
 *
 * Fastify, once closing, answers every request that reaches it with 503, and Node's
 * server.close() closes connections between two requests. A connection accepted an instant
 * before the stop (the balancer opens one per request) carries a request already sent: it would
 * get that 503, or a reset, and a balancer rightly never passes a POST on to another replica
 * once it reached one (the mutation may have run), so the client gets the 503 or a 502.
 *
 * stopAccepting() closes the listening socket only: a new connection is refused, which a
 * balancer retries on another replica, POST included, since nothing reached this one. Then it
 * waits, at most `graceMs`, until every connection accepted before has begun a request (or an
 * upgrade) or gone; only then does the api let Fastify close (through Apollo's drain), which
 * closes the connections left idle and waits for the requests in flight.
 *
 * What no process can cover alone: a connection still queued in the kernel's accept queue
 * when the listening socket closes is reset by the kernel.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { Server as NetServer } from 'node:net';

/** How long a connection accepted before the stop may take to send its first request. */
export const FRESH_CONNECTION_GRACE_MS = 2000;

export class ConnectionDrain {
  readonly #server: Server;
  /** Connections accepted that have not begun a request yet. */
  readonly #fresh = new Set<Socket>();
  #settle: (() => void) | undefined;

  constructor(server: Server) {
    this.#server = server;
    server.on('connection', (socket: Socket) => {
      this.#fresh.add(socket);
      socket.once('close', () => this.#started(socket));
    });
    server.on('request', (req: { socket: Socket }) => this.#started(req.socket));
    server.on('upgrade', (req: { socket: Socket }) => this.#started(req.socket));
  }

  /**
   * Refuses new connections from now on, then resolves once every connection accepted before
   * has begun a request or closed, or after `graceMs`.
   */
  async stopAccepting(graceMs: number = FRESH_CONNECTION_GRACE_MS): Promise<void> {
    // net.Server's close: the listening socket only (http.Server's would also destroy idle connections).
    if (this.#server.listening) NetServer.prototype.close.call(this.#server);
    if (this.#fresh.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, graceMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#settle = done;
    });
    this.#settle = undefined;
  }

  #started(socket: Socket): void {
    if (!this.#fresh.delete(socket)) return;
    if (this.#fresh.size === 0) this.#settle?.();
  }
}
