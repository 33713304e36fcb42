/**
 * The read loop of a collector of one of the fleet's report streams (purge acks, warm
 * reports): reads from the oldest entry the fleet keeps ('0') at every start, so what edges
 * sent while no api ran is stored too, and hands each batch to the kind's `persist`. What a
 * batch means, and how storing it stays idempotent across replicas, is the kind's
 * (purge-ack.collector.ts, warm-report.collector.ts).
 *
 * A batch is retried (same cursor) until `persist` succeeds: an entry is never skipped
 * because PostgreSQL was briefly away.
 */
import type { Logger } from '../../obs/logger.factory';

const BATCH = 500;

export interface FleetStreamCollectorOptions<T> {
  /** `purge acks`, `warm reports`: the words of its log lines. */
  what: string;
  /** Entries after `cursor` (EdgeFleet.readAcks, readWarmReports), and the cursor after them. */
  read(cursor: string, options: { blockMs: number; count: number }): Promise<{ cursor: string; entries: T[] }>;
  /** Stores one batch; throwing retries it. */
  persist(batch: T[]): Promise<void>;
  logger: Logger;
  blockMs: number;
  retryMs: number;
}

export class FleetStreamCollector<T> {
  readonly #o: FleetStreamCollectorOptions<T>;
  #stopped = true;
  /** The batch being written, which stop() waits for (a blocked read it does not). */
  #writing: Promise<void> | null = null;

  constructor(options: FleetStreamCollectorOptions<T>) {
    this.#o = options;
  }

  start(): void {
    this.#stopped = false;
    void this.#run();
  }

  /**
   * Stops reading and waits for a batch being written. Does not wait for a blocked read:
   * the caller owns the fleet, and whatever a read returns after this is dropped (and
   * read again by the next start, from '0').
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#writing;
  }

  async #run(): Promise<void> {
    const { what, logger } = this.#o;
    let cursor = '0';
    let failing = false;
    while (!this.#stopped) {
      try {
        const { cursor: next, entries } = await this.#o.read(cursor, { blockMs: this.#o.blockMs, count: BATCH });
        if (this.#stopped) return;
        if (entries.length > 0) {
          this.#writing = this.#o.persist(entries);
          try {
            await this.#writing;
          } finally {
            this.#writing = null;
          }
        }
        cursor = next;
        if (failing) logger.info(`storing ${what} again`);
        failing = false;
      } catch (err) {
        if (this.#stopped) return;
        if (!failing) logger.error({ err }, `cannot read or store ${what}; retrying`);
        failing = true;
        await new Promise((resolve) => setTimeout(resolve, this.#o.retryMs).unref());
      }
    }
  }
}
