/**
 * The live tail of a customer's access log (the `accessLog` subscription; docs/API.md
 * "Access logs"), over the access log channel (core/access-log.port.ts).
 *
 * While this replica has at least one tail of a customer, it marks that customer tailed on the
 * channel every `renewMs` for `ttlMs` (so edges publish its records; an api that dies stops
 * renewing and the edges stop within `ttlMs`). One read loop per replica, running only while
 * some tail is open, reads every edge's batches from '$' (a tail is live: it starts now) and
 * hands each tail the records of its customer that match its filter, plus a `SKIPPED` entry
 * whenever an edge sampled (it sent at most CDN_EDGE_LOG_TAIL_PER_SECOND records of that
 * second) or this replica could not deliver fast enough (a tail's queue holds at most
 * `queueMax` entries; beyond, records are counted and told as skipped). Sampling is said,
 * never silent: the counts are those of the customer's requests, before this tail's filter.
 */
import { matchesAccessLogFilter, type AccessLogChannel, type AccessLogFilter, type AccessLogRecord } from '../../core/access-log.port';
import { cdnError, invalidInput, type FieldProblem } from '../../core/errors';
import type { Logger } from '../../obs/logger.factory';

export type AccessLogEntry =
  | { kind: 'RECORD'; record: AccessLogRecord; edgeId: string; at: string; skipped: 0 }
  | { kind: 'SKIPPED'; record: null; edgeId: string; at: string; skipped: number };

export interface AccessLogTailOptions {
  /** Absent: this api has no access log channel, and tails are refused. */
  channel: AccessLogChannel | undefined;
  logger: Logger;
  ttlMs?: number;
  renewMs?: number;
  blockMs?: number;
  retryMs?: number;
  queueMax?: number;
}

const CACHE_RESULTS = new Set(['HIT', 'MISS', 'STALE', 'REVALIDATED', 'BYPASS', 'ERROR', 'NONE']);
export const PATH_PREFIX_MAX = 1024;

interface Tail {
  customerId: string;
  filter: AccessLogFilter;
  queue: AccessLogEntry[];
  /** Entries not queued because the queue was full, told as one SKIPPED entry once there is room. */
  overflow: number;
  wake: (() => void) | undefined;
  ended: boolean;
}

export class AccessLogTailService {
  readonly #channel: AccessLogChannel | undefined;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly #renewMs: number;
  readonly #blockMs: number;
  readonly #retryMs: number;
  readonly #queueMax: number;
  readonly #tails = new Set<Tail>();
  #renewer: NodeJS.Timeout | undefined;
  #loop: Promise<void> | undefined;
  #stopped = false;
  #failing = false;

  constructor(options: AccessLogTailOptions) {
    this.#channel = options.channel;
    this.#log = options.logger.child({ component: 'access-log' });
    this.#ttlMs = options.ttlMs ?? 5000;
    this.#renewMs = options.renewMs ?? 1000;
    this.#blockMs = options.blockMs ?? 1000;
    this.#retryMs = options.retryMs ?? 1000;
    this.#queueMax = options.queueMax ?? 1000;
  }

  /** Open tails (tests, metrics). */
  get open(): number {
    return this.#tails.size;
  }

  /** Refuses a filter that can match nothing sensible (every problem at once). */
  static check(filter: AccessLogFilter): void {
    const problems: FieldProblem[] = [];
    for (const c of filter.statusClasses ?? []) if (!Number.isInteger(c) || c < 1 || c > 5) problems.push({ field: 'filter.statusClasses', message: `must be 1 to 5 (4 for 4xx), got ${c}` });
    for (const s of filter.statuses ?? []) if (!Number.isInteger(s) || s < 100 || s > 599) problems.push({ field: 'filter.statuses', message: `must be HTTP status codes, 100 to 599, got ${s}` });
    if ((filter.pathPrefix ?? '').length > PATH_PREFIX_MAX) problems.push({ field: 'filter.pathPrefix', message: `must be at most ${PATH_PREFIX_MAX} characters` });
    else if (filter.pathPrefix !== undefined && filter.pathPrefix !== '' && !filter.pathPrefix.startsWith('/')) problems.push({ field: 'filter.pathPrefix', message: 'must start with "/" (a path, without host or query)' });
    for (const r of filter.cacheResults ?? []) if (!CACHE_RESULTS.has(r)) problems.push({ field: 'filter.cacheResults', message: `unknown cache result "${r}"` });
    if (problems.length > 0) throw invalidInput(problems);
  }

  /** A live tail of `customerId`'s requests on every edge, filtered; ends on return() or stop(). */
  tail(customerId: string, filter: AccessLogFilter): AsyncIterableIterator<AccessLogEntry> {
    if (this.#channel === undefined) throw cdnError('CDN_ERR_ACCESS_LOG_UNAVAILABLE');
    AccessLogTailService.check(filter);
    const tail: Tail = { customerId, filter, queue: [], overflow: 0, wake: undefined, ended: false };
    this.#tails.add(tail);
    this.#begin(customerId);
    const end = (): void => {
      tail.ended = true;
      this.#tails.delete(tail);
      tail.wake?.();
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next: async (): Promise<IteratorResult<AccessLogEntry>> => {
        for (;;) {
          const entry = tail.queue.shift();
          if (entry !== undefined) {
            if (tail.overflow > 0 && tail.queue.length < this.#queueMax) {
              tail.queue.push({ kind: 'SKIPPED', record: null, edgeId: '', at: new Date().toISOString(), skipped: tail.overflow });
              tail.overflow = 0;
            }
            return { done: false, value: entry };
          }
          if (tail.ended) return { done: true, value: undefined };
          await new Promise<void>((resolve) => (tail.wake = resolve));
          tail.wake = undefined;
        }
      },
      return: async (): Promise<IteratorResult<AccessLogEntry>> => {
        end();
        return { done: true, value: undefined };
      },
    };
  }

  /** Ends every tail; the loop stops after its current read. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#renewer);
    this.#renewer = undefined;
    for (const tail of [...this.#tails]) {
      tail.ended = true;
      tail.wake?.();
    }
    this.#tails.clear();
    await this.#loop;
  }

  #begin(customerId: string): void {
    if (this.#stopped) return;
    // At once for this customer (edges read the set within a second), then every renewMs for all.
    void this.#mark([customerId]);
    this.#renewer ??= setInterval(() => {
      if (this.#tails.size === 0) {
        clearInterval(this.#renewer);
        this.#renewer = undefined;
        return;
      }
      void this.#mark([...new Set([...this.#tails].map((t) => t.customerId))]);
    }, this.#renewMs);
    this.#renewer.unref();
    this.#startReading();
  }

  /** One read loop while tails are open; a tail opened while the loop was ending starts it again. */
  #startReading(): void {
    this.#loop ??= this.#read().finally(() => {
      this.#loop = undefined;
      if (!this.#stopped && this.#tails.size > 0) this.#startReading();
    });
  }

  async #mark(customerIds: string[]): Promise<void> {
    try {
      await this.#channel!.markTailed(customerIds, this.#ttlMs);
      this.#recovered();
    } catch (err) {
      this.#failed(err);
    }
  }

  async #read(): Promise<void> {
    const channel = this.#channel!;
    let cursor = '$';
    while (!this.#stopped && this.#tails.size > 0) {
      try {
        const read = await channel.read(cursor, { blockMs: this.#blockMs });
        cursor = read.cursor;
        this.#recovered();
        for (const batch of read.batches) {
          for (const slice of batch.customers) {
            for (const tail of this.#tails) {
              if (tail.customerId !== slice.customerId) continue;
              for (const record of slice.records) {
                if (matchesAccessLogFilter(record, tail.filter)) this.#push(tail, { kind: 'RECORD', record, edgeId: batch.edgeId, at: record.time, skipped: 0 });
              }
              if (slice.skipped > 0) this.#push(tail, { kind: 'SKIPPED', record: null, edgeId: batch.edgeId, at: batch.at, skipped: slice.skipped });
            }
          }
        }
      } catch (err) {
        if (this.#stopped) return;
        this.#failed(err);
        await new Promise((resolve) => setTimeout(resolve, this.#retryMs).unref());
      }
    }
  }

  #push(tail: Tail, entry: AccessLogEntry): void {
    if (tail.queue.length >= this.#queueMax) {
      tail.overflow += entry.kind === 'RECORD' ? 1 : entry.skipped;
      return;
    }
    tail.queue.push(entry);
    tail.wake?.();
  }

  #failed(err: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'access log tail: cannot reach the access log channel; tails get nothing meanwhile');
  }

  #recovered(): void {
    if (!this.#failing) return;
    this.#failing = false;
    this.#log.info('access log tail: the access log channel answers again');
  }
}
