/**
 * The ack collector: reads the fleet's purge acks and stores them as `purge_edge` rows,
 * stamps the purges they complete, and signals this process's waiters (purgeStatus
 * subscribers, `waitForEdges`). Every api replica runs one and reads every ack: inserts
 * are idempotent, so replicas racing store each ack once, and each replica wakes its own
 * subscribers. The reading — from the oldest ack the fleet keeps at every start, a batch
 * retried until the database takes it — is fleet-stream.collector.ts.
 */
import type { EdgeFleet, PurgeAck } from '../../core/fleet.port';
import type { Logger } from '../../obs/logger.factory';
import type { Database } from '../db/database';
import { EDGE_ID_MAX_CHARS, existingPurgeIds, insertPurgeAcks } from '../db/purge.store';
import { FleetStreamCollector } from './fleet-stream.collector';
import type { PurgeSignals } from './purge-signals';
import type { PurgeTracker } from './purge-tracker.service';
import { isUuid } from './purge.service';

export interface PurgeAckCollectorOptions {
  db: Database;
  fleet: EdgeFleet;
  tracker: PurgeTracker;
  signals: PurgeSignals;
  logger: Logger;
  blockMs?: number;
  retryMs?: number;
}

export class PurgeAckCollector {
  readonly #db: Database;
  readonly #tracker: PurgeTracker;
  readonly #signals: PurgeSignals;
  readonly #log: Logger;
  readonly #stream: FleetStreamCollector<PurgeAck>;
  #stored = 0;

  constructor(options: PurgeAckCollectorOptions) {
    this.#db = options.db;
    this.#tracker = options.tracker;
    this.#signals = options.signals;
    this.#log = options.logger.child({ component: 'purge-acks' });
    this.#stream = new FleetStreamCollector({
      what: 'purge acks',
      read: async (cursor, o) => {
        const { cursor: next, acks } = await options.fleet.readAcks(cursor, o);
        return { cursor: next, entries: acks };
      },
      persist: (batch) => this.#persist(batch),
      logger: this.#log,
      blockMs: options.blockMs ?? 1000,
      retryMs: options.retryMs ?? 1000,
    });
  }

  /** Acks this collector inserted (not counting those another replica stored first). */
  get stored(): number {
    return this.#stored;
  }

  start(): void {
    this.#stream.start();
  }

  /** Stops reading and waits for a batch being written (FleetStreamCollector.stop). */
  stop(): Promise<void> {
    return this.#stream.stop();
  }

  async #persist(batch: PurgeAck[]): Promise<void> {
    const acks = batch.filter((a) => {
      const ok = isUuid(a.purgeId) && typeof a.edgeId === 'string' && a.edgeId.length > 0 && a.edgeId.length <= EDGE_ID_MAX_CHARS && !Number.isNaN(Date.parse(a.appliedAt));
      if (!ok) this.#log.warn({ ack: a }, 'ignoring a malformed purge ack');
      return ok;
    });
    const ids = [...new Set(acks.map((a) => a.purgeId))];
    const { inserted, known } = await this.#db.transaction(async (m) => ({
      inserted: await insertPurgeAcks(m, dedupe(acks)),
      known: await existingPurgeIds(m, ids),
    }));
    this.#stored += inserted;
    if (inserted > 0) this.#log.debug({ inserted, read: batch.length }, 'stored purge acks');
    await this.#tracker.refresh(known);
    this.#signals.emit(known);
  }
}

/** One ack per (purge, edge), the first one read: an edge acks a purge once, but a retry may repeat it. */
function dedupe(acks: PurgeAck[]): PurgeAck[] {
  const seen = new Set<string>();
  return acks.filter((a) => {
    const key = `${a.purgeId}\u0000${a.edgeId}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
