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
import type { WebhookEventInput } from '../domain/webhook.types';
import type { WebhookOutbox } from './webhook.service';

/**
 * The `origin.down` / `origin.up` webhook event of one transition on one edge process: each
 * edge process has its own breakers, so a receiver hears each process's view (edgeId says
 * which). The dedup key is the transition's own identity (edge, customer, origin, time).
 */
export function originWebhookEvent(e: OriginHealthEvent): WebhookEventInput {
  return {
    type: e.state === 'down' ? 'origin.down' : 'origin.up',
    customerId: e.customerId,
    dedupKey: `origin.${e.state}:${e.customerId}:${e.origin}:${e.edgeId}:${e.at}`,
    occurredAt: new Date(e.at),
    data: { origin: e.origin, edgeId: e.edgeId, reason: e.reason, at: e.at },
  };
}

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
  /** Where `origin.down` / `origin.up` go: stored with the transitions this replica stores first, in one transaction. */
  events?: WebhookOutbox;
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
    const outbox = this.#o.events;
    const stored = await this.#o.db.transaction(async (m) => {
      const inserted = await insertOriginEvents(m, events);
      // Only what this transaction inserted: a transition another replica (or an earlier read) stored has its event already.
      if (outbox !== undefined && inserted.length > 0) await outbox.emitIn(m, inserted.map(originWebhookEvent));
      return inserted;
    });
    if (outbox !== undefined && stored.length > 0) outbox.committed();
    for (const e of stored) this.#log.info({ edgeId: e.edgeId, customerId: e.customerId, origin: e.origin, reason: e.reason, at: e.at }, e.state === 'down' ? 'origin down on an edge' : 'origin up on an edge');
    if (events.length > 0) this.#o.onEvents(events);
  }
}
