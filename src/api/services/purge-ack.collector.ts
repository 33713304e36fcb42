/**
 * The ack collector: reads the fleet's purge acks and stores them as `purge_edge` rows,
 * stamps the purges they complete, and signals this process's waiters (purgeStatus
 * subscribers, `waitForEdges`). Every api replica runs one and reads every ack: inserts
 * are idempotent, so replicas racing store each ack once, and each replica wakes its own
 * subscribers. Reads from the oldest ack the fleet keeps ('0') at every start, so acks
 * sent while no api ran are stored too.
 *
 * A batch is retried (same cursor) until the database takes it: an ack is never skipped
 * because PostgreSQL was briefly away.
 */
import type { EdgeFleet, PurgeAck } from '../../core/fleet.port';
import type { Logger } from '../../obs/logger.factory';
import type { Database } from '../db/database';
import { EDGE_ID_MAX_CHARS, existingPurgeIds, insertPurgeAcks } from '../db/purge.store';
import type { PurgeSignals } from './purge-signals';
import type { PurgeTracker } from './purge-tracker.service';
import { isUuid } from './purge.service';

const BATCH = 500;

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
  readonly #fleet: EdgeFleet;
  readonly #tracker: PurgeTracker;
  readonly #signals: PurgeSignals;
  readonly #log: Logger;
  readonly #blockMs: number;
  readonly #retryMs: number;
  #stopped = true;
  #loop: Promise<void> | null = null;
  /** The batch being written, which stop() waits for (a blocked read it does not). */
  #writing: Promise<void> | null = null;
  #stored = 0;

  constructor(options: PurgeAckCollectorOptions) {
    this.#db = options.db;
    this.#fleet = options.fleet;
    this.#tracker = options.tracker;
    this.#signals = options.signals;
    this.#log = options.logger.child({ component: 'purge-acks' });
    this.#blockMs = options.blockMs ?? 1000;
    this.#retryMs = options.retryMs ?? 1000;
  }

  /** Acks this collector inserted (not counting those another replica stored first). */
  get stored(): number {
    return this.#stored;
  }

  start(): void {
    this.#stopped = false;
    this.#loop = this.#run();
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
    let cursor = '0';
    let failing = false;
    while (!this.#stopped) {
      try {
        const { cursor: next, acks } = await this.#fleet.readAcks(cursor, { blockMs: this.#blockMs, count: BATCH });
        if (this.#stopped) return;
        if (acks.length > 0) {
          this.#writing = this.#persist(acks);
          try {
            await this.#writing;
          } finally {
            this.#writing = null;
          }
        }
        cursor = next;
        if (failing) this.#log.info('storing purge acks again');
        failing = false;
      } catch (err) {
        if (this.#stopped) return;
        if (!failing) this.#log.error({ err }, 'cannot read or store purge acks; retrying');
        failing = true;
        await sleep(this.#retryMs);
      }
    }
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
