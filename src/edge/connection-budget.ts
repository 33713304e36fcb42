/**
 * CDN_EDGE_MAX_CONNECTIONS: open client connections of this process, plain and TLS ports
 * together (each costs a descriptor and its buffers alike). Counted where connections arrive
 * from every accept handle (the servers' 'connection' event): Node's server.maxConnections
 * would count only the server's own handle's. A connection beyond the cap is closed at once.
 */
import type { Socket } from 'node:net';
import type { Logger } from '../obs/logger.factory';

export class ConnectionBudget {
  readonly #max: number;
  readonly #logger: Logger;
  #open = 0;
  #refused = 0;
  #refusedLoggedAt = -Infinity;

  constructor(maxConnections: number, logger: Logger) {
    this.#max = maxConnections;
    this.#logger = logger;
  }

  /** Counts `socket` until it closes; false (and the socket destroyed) when the cap is reached. */
  admit(socket: Socket): boolean {
    if (this.#open >= this.#max) {
      socket.destroy();
      this.#refused += 1;
      if (performance.now() - this.#refusedLoggedAt >= 10_000) {
        this.#refusedLoggedAt = performance.now();
        this.#logger.warn({ maxConnections: this.#max, refused: this.#refused }, 'new client connections closed at once: CDN_EDGE_MAX_CONNECTIONS connections are open');
        this.#refused = 0;
      }
      return false;
    }
    this.#open += 1;
    socket.once('close', () => {
      this.#open -= 1;
    });
    return true;
  }
}
