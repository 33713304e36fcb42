/**
 * Per-customer cap on concurrent origin requests in one edge process, with a bounded FIFO
 * queue. Every origin pool holds at most 64 connections (origin-pools.ts), but customers
 * may share an origin host, and one customer's flood of misses to a slow origin would
 * otherwise take every connection a pool has: below that cap (CDN_EDGE_ORIGIN_CUSTOMER_CONNECTIONS,
 * or the customer's `maxConnections`), a customer's extra requests wait their turn here, in
 * arrival order, for at most the queue timeout; then they are refused (503 with Retry-After).
 *
 * A slot is held from before the request is sent until its response body is read or dropped:
 * that is how long the connection is busy. Requests whose body streams from the client take
 * none (origin.request.ts): they have the origin's upload pool, capped on its own, and slow
 * uploads must never take the slots that misses need. The queue is also bounded in length
 * (QUEUE_MAX_PER_CUSTOMER): beyond it a request is refused at once rather than held in memory.
 */

/** Requests of one customer that may wait at once in one process; more are refused at once. */
export const QUEUE_MAX_PER_CUSTOMER = 4096;

export interface SlotGrant {
  /** Gives the slot back (to the next waiter, if any); a second call does nothing. */
  release(): void;
  /** Milliseconds spent in the queue (0: a slot was free). */
  waitedMs: number;
}

/** `timeout`: waited the whole queue timeout; `full`: the queue was full; `aborted`: the request left. */
export type SlotRefusal = 'timeout' | 'full' | 'aborted';

interface Waiter {
  resolve(grant: SlotGrant | SlotRefusal): void;
  since: number;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal;
  onAbort: () => void;
}

interface CustomerQueue {
  inUse: number;
  limit: number;
  waiting: Waiter[];
}

export class CustomerSlots {
  readonly #customers = new Map<string, CustomerQueue>();

  /** A slot for one origin request of `customerId`, waiting up to `timeoutMs` when `limit` are in use. */
  acquire(customerId: string, limit: number, timeoutMs: number, signal: AbortSignal): SlotGrant | Promise<SlotGrant | SlotRefusal> | SlotRefusal {
    if (signal.aborted) return 'aborted';
    let queue = this.#customers.get(customerId);
    if (queue === undefined) {
      queue = { inUse: 0, limit, waiting: [] };
      this.#customers.set(customerId, queue);
    }
    queue.limit = limit;
    if (queue.inUse < limit && queue.waiting.length === 0) {
      queue.inUse += 1;
      return this.#grant(customerId, queue, 0);
    }
    if (timeoutMs <= 0) return 'timeout';
    if (queue.waiting.length >= QUEUE_MAX_PER_CUSTOMER) return 'full';
    const q = queue;
    return new Promise<SlotGrant | SlotRefusal>((resolve) => {
      const waiter: Waiter = {
        resolve,
        since: performance.now(),
        timer: undefined,
        signal,
        onAbort: () => this.#leave(customerId, q, waiter, 'aborted'),
      };
      waiter.timer = setTimeout(() => this.#leave(customerId, q, waiter, 'timeout'), timeoutMs);
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      q.waiting.push(waiter);
    });
  }

  /** Requests of `customerId` holding a slot, and waiting for one (tests, reports). */
  usage(customerId: string): { inUse: number; waiting: number } {
    const queue = this.#customers.get(customerId);
    return { inUse: queue?.inUse ?? 0, waiting: queue?.waiting.length ?? 0 };
  }

  #grant(customerId: string, queue: CustomerQueue, waitedMs: number): SlotGrant {
    let released = false;
    return {
      waitedMs,
      release: () => {
        if (released) return;
        released = true;
        this.#release(customerId, queue);
      },
    };
  }

  #release(customerId: string, queue: CustomerQueue): void {
    queue.inUse -= 1;
    // The limit may have been lowered meanwhile (a customer update): hand over only below it.
    while (queue.inUse < queue.limit && queue.waiting.length > 0) {
      const next = queue.waiting.shift()!;
      this.#settle(next);
      queue.inUse += 1;
      next.resolve(this.#grant(customerId, queue, performance.now() - next.since));
    }
    if (queue.inUse === 0 && queue.waiting.length === 0 && this.#customers.get(customerId) === queue) this.#customers.delete(customerId);
  }

  #leave(customerId: string, queue: CustomerQueue, waiter: Waiter, why: SlotRefusal): void {
    const i = queue.waiting.indexOf(waiter);
    if (i < 0) return;
    queue.waiting.splice(i, 1);
    this.#settle(waiter);
    waiter.resolve(why);
    if (queue.inUse === 0 && queue.waiting.length === 0 && this.#customers.get(customerId) === queue) this.#customers.delete(customerId);
  }

  #settle(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    waiter.signal.removeEventListener('abort', waiter.onAbort);
  }
}
