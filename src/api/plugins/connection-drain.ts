/**
 * Stopping the api's HTTP server without dropping a request a balancer has already sent.
 *
 * Node's server.close() stops accepting and, in the same call, destroys every connection with
 * no request in progress — including one accepted an instant earlier whose first request is
 * still on its way or unread in the socket. The balancer that opened that connection has sent
 * its request and sees a reset; it rightly never passes a POST on to another replica (the
 * mutation may have run), so its client gets 502.
 *
 * stopAccepting() closes the listening socket only: a new connection is refused, which a
 * balancer retries on another replica, POST included, since nothing reached this one. Then it
 * waits, at most `graceMs`, until every connection accepted before has begun a request (or an
 * upgrade) or gone. The server's own close() afterwards (Fastify's, through Apollo's drain)
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

  /** Connections accepted and still waiting for their first request (tests and logs). */
  get fresh(): number {
    return this.#fresh.size;
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
