/**
 * The outbox relay: publishes committed change_log rows to the bus, in seq order, with a
 * snapshot of every customer. Any number of api replicas run one; a transaction-scoped
 * advisory lock lets one pass run at a time across all of them, and the bus ignores seqs
 * it already holds, so a race can never publish a change twice. Runs after every commit
 * (kick) and every second, which also catches up rows committed by an api that crashed
 * before publishing.
 *
 * A pass keeps no state between passes: it starts from the seq the bus holds. So when
 * PostgreSQL restarts or fails over mid-pass, the pass fails (its transaction, and the
 * lock with it, is gone), the next pass after the database is back resumes at the bus's
 * seq, and a publish from the failed pass that still lands is skipped by the bus for the
 * seqs it already holds. Nothing here needs a database session of its own (only
 * transaction-scoped locks, no LISTEN), so it runs unchanged through a pooler in
 * transaction mode (docs/OPERATIONS.md, "PostgreSQL high availability").
 */
import type { Change, Snapshot } from '../../core/bus.events';
import type { ChangeBus } from '../../core/bus.port';
import type { Logger } from '../../obs/logger.factory';
import { maxChangeSeq, readChangesAfter, tryRelayLock } from '../db/change-log.writer';
import { readCustomerConfigs } from '../db/customer.store';
import type { Database, Tx } from '../db/database';
import { latestPurgeSeqs } from '../db/purge.store';
const BATCH = 1000;
const INTERVAL_MS = 1000;

export interface ChangeRelayOptions {
  db: Database;
  bus: ChangeBus;
  logger: Logger;
  /** Called after each pass that held the lock with the bus's seq (for the metric). */
  onPublished?: (seq: number) => void;
  /** Called after each pass with the committed seqs not yet on the bus (for the metric). */
  onLag?: (seqs: number) => void;
  intervalMs?: number;
}

export class ChangeRelay {
  readonly #db: Database;
  readonly #bus: ChangeBus;
  readonly #log: Logger;
  readonly #onPublished: (seq: number) => void;
  readonly #onLag: (seqs: number) => void;
  /** The bus's seq as last seen, for the lag while the bus cannot be read. */
  #lastPublished: number | null = null;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = true;
  #failing = false;

  constructor(options: ChangeRelayOptions) {
    this.#db = options.db;
    this.#bus = options.bus;
    this.#log = options.logger.child({ component: 'change-relay' });
    this.#onPublished = options.onPublished ?? (() => {});
    this.#onLag = options.onLag ?? (() => {});
    this.#intervalMs = options.intervalMs ?? INTERVAL_MS;
  }

  start(): void {
    this.#stopped = false;
    this.#timer = setInterval(() => this.kick(), this.#intervalMs);
    this.#timer.unref();
    this.kick();
  }

  /** Asks for a pass soon. Never overlaps passes: a kick during a pass queues one more. */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = null;
    });
  }

  /** Stops the timer and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      try {
        await this.#pass();
        if (this.#failing) this.#log.info('relay publishing again');
        this.#failing = false;
      } catch (err) {
        // Redis or PostgreSQL down must not take the api down: the rows wait in change_log for the next pass.
        if (!this.#failing) this.#log.error({ err }, 'relay pass failed; will retry every second');
        else this.#log.debug({ err }, 'relay pass failed again');
        this.#failing = true;
        await this.#sampleLag();
        return;
      }
      await this.#sampleLag();
    } while (this.#again && !this.#stopped);
  }

  /** Committed seqs not yet on the bus; while the bus is unreachable, measured from the last seq seen on it. */
  async #sampleLag(): Promise<void> {
    try {
      const committed = await this.#db.read((m) => maxChangeSeq(m));
      try {
        this.#lastPublished = (await this.#bus.publishedSeq()) ?? this.#lastPublished;
      } catch {
        // Bus down: keep the last seq seen, so the lag grows with every commit.
      }
      if (this.#lastPublished !== null) this.#onLag(Math.max(0, committed - this.#lastPublished));
    } catch {
      // The database is down too: nothing to measure against; the pass already logged.
    }
  }

  async #pass(): Promise<void> {
    // REPEATABLE READ: the rows and the snapshot come from one consistent view.
    const published = await this.#db.transaction(async (m) => {
      if (!(await tryRelayLock(m))) return null;
      const busSeq = await this.#bus.publishedSeq();
      if (busSeq === null) {
        // A new or flushed bus: the snapshot alone brings it up to date; the rows before it are history.
        const seq = await maxChangeSeq(m);
        await this.#bus.publish([], await readSnapshot(m, seq));
        return seq;
      }
      let after = busSeq;
      let state: Pick<Snapshot, 'customers' | 'purgeSeqs'> | null = null;
      for (;;) {
        const rows = await readChangesAfter(m, after, BATCH);
        if (rows.length === 0) break;
        state ??= await readSnapshot(m, 0);
        const changes = toChanges(rows, after);
        after = changes[changes.length - 1]!.seq;
        // Only the last batch's snapshot matches its seq exactly. Earlier batches (a backlog
        // over BATCH rows) carry the newer state; consumers still converge, since every event
        // is a whole customer or a delete and replaying older ones ends in the same state (and a
        // purge seq above what an edge applied makes it purge more, never less).
        await this.#bus.publish(changes, { v: 1, seq: after, takenAt: new Date().toISOString(), customers: state.customers, purgeSeqs: state.purgeSeqs });
        if (rows.length < BATCH) break;
      }
      if (after !== busSeq) this.#log.debug({ from: busSeq, to: after }, 'relayed changes');
      return after;
    }, 'REPEATABLE READ');
    // The gauge tracks the bus, whichever replica published: every replica reports the same value.
    if (published !== null) this.#onPublished(published);
  }
}

/** Links the rows into the chain: each change names the seq published just before it. */
function toChanges(rows: ReadonlyArray<Omit<Change, 'prevSeq'>>, publishedSeq: number): Change[] {
  let prevSeq = publishedSeq;
  return rows.map((row) => {
    const change: Change = { seq: row.seq, prevSeq, at: row.at, event: row.event };
    prevSeq = row.seq;
    return change;
  });
}

/**
 * Every customer with its domains, as the bus carries them (password as ciphertext), and
 * per customer the seq of its latest purge (what an edge back from a gap compares with).
 */
export async function readSnapshot(m: Tx, seq: number): Promise<Snapshot> {
  const customers = await readCustomerConfigs(m);
  const purgeSeqs = await latestPurgeSeqs(m);
  return { v: 1, seq, takenAt: new Date().toISOString(), customers, purgeSeqs };
}
