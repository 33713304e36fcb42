/**
 * The origin health collector: reads the fleet's origin-health stream (each edge process's
 * origin transitions), stores each transition once in origin_event (replicas racing, and a
 * restart reading from the oldest kept, insert nothing twice: unique edge, customer, origin,
 * time), and hands every transition it read to `onEvents` — this replica's
 * `originHealthChanged` subscribers. Every replica reads every transition, so a subscriber
 * hears it whichever replica it is connected to; after a restart the transitions the fleet
 * still keeps are heard again (they are real transitions, and the newest wins).
 *
 * Retention: events older than ORIGIN_EVENT_RETENTION_DAYS are deleted in batches, at start
 * and every hour, by every replica (deleting the same rows twice is harmless), as the audit
 * log's are.
 */
import type { EdgeFleet, OriginHealthEvent } from '../../core/fleet.port';
import type { Logger } from '../../obs/logger.factory';
import type { Database } from '../db/database';
import { deleteOriginEventsBefore, insertOriginEvents } from '../db/origin-event.store';
import { EDGE_ID_MAX_CHARS } from '../db/purge.store';
import { FleetStreamCollector } from './fleet-stream.collector';

export const ORIGIN_EVENT_RETENTION_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;
const SWEEP_BATCH = 1000;
/** customer ids and origin names: `[a-z0-9][a-z0-9-]*`, at most 63 characters. */
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface OriginHealthCollectorOptions {
  db: Database;
  fleet: EdgeFleet;
  logger: Logger;
  /** Every well-formed transition read, stored now or before. */
  onEvents(events: OriginHealthEvent[]): void;
  blockMs?: number;
  retryMs?: number;
  now?: () => number;
}

export class OriginHealthCollector {
  readonly #o: OriginHealthCollectorOptions;
  readonly #log: Logger;
  readonly #stream: FleetStreamCollector<OriginHealthEvent>;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  constructor(options: OriginHealthCollectorOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#log = options.logger.child({ component: 'origin-health' });
    this.#stream = new FleetStreamCollector({
      what: 'origin health',
      read: async (cursor, o) => {
        const { cursor: next, events } = await options.fleet.readOriginHealth(cursor, o);
        return { cursor: next, entries: events };
      },
      persist: (batch) => this.#persist(batch),
      logger: this.#log,
      blockMs: options.blockMs ?? 1000,
      retryMs: options.retryMs ?? 1000,
    });
  }

  start(): void {
    this.#stream.start();
    void this.sweep();
    this.#timer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#stream.stop();
    await this.#sweeping;
  }

  /** Deletes the events past the retention, a batch at a time. One sweep at a time; never rejects. */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#sweepAll().finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  async #sweepAll(): Promise<void> {
    const cutoff = new Date(this.#now() - ORIGIN_EVENT_RETENTION_DAYS * DAY_MS);
    try {
      let total = 0;
      for (;;) {
        const deleted = await this.#o.db.transaction((m) => deleteOriginEventsBefore(m, cutoff, SWEEP_BATCH));
        total += deleted;
        if (deleted < SWEEP_BATCH) break;
      }
      if (total > 0) this.#log.info({ deleted: total, before: cutoff.toISOString() }, 'expired origin events deleted');
    } catch (err) {
      this.#log.error({ err }, 'origin event retention sweep failed; retrying at the next interval');
    }
  }

  async #persist(batch: OriginHealthEvent[]): Promise<void> {
    const events = batch.filter((e) => {
      const ok = e.edgeId.length <= EDGE_ID_MAX_CHARS && NAME.test(e.customerId) && NAME.test(e.origin) && !Number.isNaN(Date.parse(e.at));
      if (!ok) this.#log.warn({ event: e }, 'ignoring a malformed origin health event');
      return ok;
    });
    const stored = await this.#o.db.transaction((m) => insertOriginEvents(m, events));
    for (const e of stored) this.#log.info({ edgeId: e.edgeId, customerId: e.customerId, origin: e.origin, reason: e.reason, at: e.at }, e.state === 'down' ? 'origin down on an edge' : 'origin up on an edge');
    if (events.length > 0) this.#o.onEvents(events);
  }
}
