/**
 * At most `ratePerSecond` warm requests started per second per origin: each origin has the
 * time of its next free slot, one interval after the last one handed out. Slots never pile
 * up while an origin is idle (a slot is never earlier than now), so a warm that waited for a
 * connection does not burst afterwards.
 */
export class OriginPacer {
  readonly #intervalMs: number;
  readonly #now: () => number;
  /** origin -> ms of its next free slot. */
  readonly #next = new Map<string, number>();

  constructor(ratePerSecond: number, now: () => number = Date.now) {
    if (!(ratePerSecond > 0)) throw new RangeError(`ratePerSecond must be above 0, got ${ratePerSecond}`);
    this.#intervalMs = 1000 / ratePerSecond;
    this.#now = now;
  }

  /** Resolves at the origin's next slot (true), or at once when `signal` aborts (false). */
  async take(origin: string, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    const now = this.#now();
    const slot = Math.max(now, this.#next.get(origin) ?? now);
    this.#next.set(origin, slot + this.#intervalMs);
    this.#prune(now);
    return slot <= now ? true : sleep(slot - now, signal);
  }

  /** Origins whose next slot has passed need no entry: bounded by the origins warmed lately. */
  #prune(now: number): void {
    if (this.#next.size < 64) return;
    for (const [origin, next] of this.#next) if (next < now) this.#next.delete(origin);
  }
}

/** Waits `ms`: true, or false as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
