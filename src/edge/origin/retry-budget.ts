/**
 * The retry budget of each customer in one edge process (after Finagle's RetryBudget and
 * Linkerd's): over a sliding window of RETRY_WINDOW_MS, retries may be at most
 * `minRetries` plus `percent` % of the customer's origin requests (first attempts). A retry
 * doubles the load of a request; when an origin fails because it is overloaded, retrying
 * everything would double its load just then. The small floor lets a quiet site still fail
 * over its first requests (10 % of 3 requests is no retry at all); `percent` 0 turns
 * retries off, floor included.
 */

export const RETRY_WINDOW_MS = 10_000;
const BUCKETS = 10;
const BUCKET_MS = RETRY_WINDOW_MS / BUCKETS;

interface Window {
  /** Start (bucket number: ms / BUCKET_MS) of the newest bucket. */
  head: number;
  requests: Float64Array;
  retries: Float64Array;
}

export class RetryBudgets {
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** A first attempt went to one of the customer's origins. */
  requested(customerId: string): void {
    const w = this.#window(customerId);
    w.requests[w.head % BUCKETS]! += 1;
  }

  /** Takes one retry from the budget if it allows one. */
  tryRetry(customerId: string, percent: number, minRetries: number): boolean {
    if (percent <= 0) return false;
    const w = this.#window(customerId);
    const requests = sum(w.requests);
    const retries = sum(w.retries);
    if (retries + 1 > minRetries + (requests * percent) / 100) return false;
    w.retries[w.head % BUCKETS]! += 1;
    return true;
  }

  /** A deleted customer. */
  forget(customerId: string): void {
    this.#windows.delete(customerId);
  }

  #window(customerId: string): Window {
    const bucket = Math.floor(this.#now() / BUCKET_MS);
    let w = this.#windows.get(customerId);
    if (w === undefined) {
      w = { head: bucket, requests: new Float64Array(BUCKETS), retries: new Float64Array(BUCKETS) };
      this.#windows.set(customerId, w);
      return w;
    }
    // Buckets that slid out of the window since the last call start again from zero.
    for (let b = w.head + 1; b <= bucket && b <= w.head + BUCKETS; b += 1) {
      w.requests[b % BUCKETS] = 0;
      w.retries[b % BUCKETS] = 0;
    }
    if (bucket > w.head) w.head = bucket;
    return w;
  }
}

function sum(a: Float64Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s;
}
