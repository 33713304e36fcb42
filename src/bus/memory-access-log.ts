/**
 * The in-process access log channel (core/access-log.port.ts), for `cdn start` without
 * REDIS_URL (one instance shared by its api and its edge) and for tests. Same contract as the
 * Redis one: tail interests that expire by this channel's clock, and a bounded list of batches
 * read in order with a cursor. Batches are copied in and out through JSON, as through Redis.
 */
import { accessLogBatchProblem, type AccessLogBatch, type AccessLogChannel, type AccessLogReadOptions } from '../core/access-log.port';
import { Signal, wokenOrTimeout } from './signal';

/** Batches kept (a reader further behind skips to the oldest kept: a tail is live, not a history). */
export const ACCESS_LOG_MAX_BATCHES_DEFAULT = 10_000;
export const ACCESS_LOG_READ_COUNT_DEFAULT = 500;
/** Most customers one markTailed names, and most tailed at once: a bound on what edges read each second. */
export const ACCESS_LOG_TAILED_MAX = 10_000;

export interface MemoryAccessLogOptions {
  maxBatches?: number;
  /** Milliseconds since the epoch; interests expire by this clock. */
  now?: () => number;
}

export class MemoryAccessLogChannel implements AccessLogChannel {
  readonly #maxBatches: number;
  readonly #now: () => number;
  readonly #interest = new Map<string, number>();
  /** Ascending by n, without holes, so a cursor maps to an index by subtraction. */
  #entries: { n: number; json: string }[] = [];
  #lastN = 0;
  #wake = new Signal();
  #closed = false;

  constructor(options: MemoryAccessLogOptions = {}) {
    this.#maxBatches = checkCount('maxBatches', options.maxBatches ?? ACCESS_LOG_MAX_BATCHES_DEFAULT);
    this.#now = options.now ?? Date.now;
  }

  async markTailed(customerIds: readonly string[], ttlMs: number): Promise<void> {
    this.#assertOpen();
    checkTailed(customerIds, ttlMs);
    const until = this.#now() + ttlMs;
    for (const id of customerIds) this.#interest.set(id, Math.max(this.#interest.get(id) ?? 0, until));
  }

  async tailed(): Promise<string[]> {
    this.#assertOpen();
    const now = this.#now();
    const ids: string[] = [];
    for (const [id, until] of this.#interest) {
      if (until > now) ids.push(id);
      else this.#interest.delete(id);
    }
    return ids.slice(0, ACCESS_LOG_TAILED_MAX);
  }

  async publish(batch: AccessLogBatch): Promise<void> {
    this.#assertOpen();
    const json = checkedBatchJson(batch);
    this.#lastN += 1;
    this.#entries.push({ n: this.#lastN, json });
    if (this.#entries.length > this.#maxBatches) this.#entries.splice(0, this.#entries.length - this.#maxBatches);
    this.#wake.fire();
    this.#wake = new Signal();
  }

  async read(cursor: string, options: AccessLogReadOptions): Promise<{ cursor: string; batches: AccessLogBatch[] }> {
    this.#assertOpen();
    const count = checkCount('count', options.count ?? ACCESS_LOG_READ_COUNT_DEFAULT);
    let after: number;
    if (cursor === '$') after = this.#lastN;
    else if (/^(0|[1-9][0-9]{0,15})$/.test(cursor)) after = Number(cursor);
    else throw new RangeError(`cursor must be '0', '$' or a cursor read returned, got "${cursor}"`);
    const first = this.#peek(after, count);
    if (first.batches.length > 0 || options.blockMs <= 0) return first;
    await wokenOrTimeout(this.#wake.fired, options.blockMs);
    if (this.#closed) return { cursor: String(after), batches: [] };
    return this.#peek(after, count);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wake.fire();
  }

  #peek(after: number, count: number): { cursor: string; batches: AccessLogBatch[] } {
    const oldest = this.#entries[0];
    const start = oldest === undefined || after < oldest.n ? 0 : after - oldest.n + 1;
    const run = this.#entries.slice(start, start + count);
    if (run.length === 0) return { cursor: String(after), batches: [] };
    return { cursor: String(run[run.length - 1]!.n), batches: run.map((e) => JSON.parse(e.json) as AccessLogBatch) };
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('the access log channel is closed');
  }
}

// ---- Checks shared with redis-access-log.ts ----

export function checkedBatchJson(batch: AccessLogBatch): string {
  const problem = accessLogBatchProblem(batch);
  if (problem !== null) throw new TypeError(`invalid access log batch: ${problem}`);
  return JSON.stringify(batch);
}

export function checkTailed(customerIds: readonly string[], ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 1) throw new RangeError(`ttlMs must be a whole number of at least 1, got ${ttlMs}`);
  if (customerIds.length > ACCESS_LOG_TAILED_MAX) throw new RangeError(`at most ${ACCESS_LOG_TAILED_MAX} customers at once, got ${customerIds.length}`);
  for (const id of customerIds) {
    if (typeof id !== 'string' || id === '') throw new TypeError('customer ids must be non-empty strings');
  }
}

export function checkCount(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a whole number of at least 1, got ${value}`);
  return value;
}
