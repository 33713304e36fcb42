/**
 * The warm requests one edge has in flight, all warms together: at most `size` at once
 * (CDN_EDGE_WARM_CONCURRENCY). Waiters are served in order; an aborted wait leaves the queue.
 */
export class WarmSlots {
  readonly #size: number;
  #used = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be a whole number of at least 1, got ${size}`);
    this.#size = size;
  }

  /** Resolves true holding a slot (give it back with release()), or false once `signal` aborts. */
  acquire(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    if (this.#used < this.#size) {
      this.#used += 1;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.#used += 1;
        resolve(true);
      };
      const onAbort = (): void => {
        const at = this.#waiting.indexOf(grant);
        if (at >= 0) this.#waiting.splice(at, 1);
        resolve(false);
      };
      this.#waiting.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    this.#used -= 1;
    this.#waiting.shift()?.();
  }
}
