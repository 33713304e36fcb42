/**
 * What a draining public port does with the connections that have not sent a request yet (or
 * are still in their TLS handshake). One accepted an instant before the drain may have a
 * request on its way — a browser's, a load balancer's — and closing it at once resets that
 * request. So they get a short grace (the client timeout, at most DRAIN_GRACE_MS_MAX): a request
 * that arrives is answered, with `Connection: close`; whatever is still silent when the grace
 * ends is closed. The bound matters: once its server closes, Node no longer times out a silent
 * connection, which would otherwise hold the drain for ever.
 */

/** The longest a draining port waits for the first request of a connection it accepted. */
export const DRAIN_GRACE_MS_MAX = 2000;

/** The grace of a port whose clients must send a request head within `clientTimeoutMs`. */
export function drainGraceMs(clientTimeoutMs: number): number {
  return Math.min(clientTimeoutMs, DRAIN_GRACE_MS_MAX);
}

export class DrainGrace {
  #timer: NodeJS.Timeout | undefined;
  #over = false;

  /** Starts the grace; `expire` closes what is still silent when it ends. */
  start(graceMs: number, expire: () => void): void {
    this.#timer = setTimeout(() => {
      this.#over = true;
      expire();
    }, graceMs);
  }

  /** The grace has ended: a connection that is silent now is closed at once. */
  get over(): boolean {
    return this.#over;
  }

  /** Every connection closed before the grace ended. */
  stop(): void {
    clearTimeout(this.#timer);
  }
}
