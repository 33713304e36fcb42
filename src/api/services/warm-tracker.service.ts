/**
 * Follows warms across the fleet, as PurgeTracker follows purges: their progress (stored edge
 * rows + live edge processes, rules in warm-progress.ts), the completion stamp (persisted
 * once, by whichever api replica sees it first), and the `warmStatus` subscription's updates.
 *
 * A watch wakes on a signal from the report collector (reports of its warm were stored) and
 * also every `recheckMs`: an edge that goes away or restarts mid-warm sends nothing, and only
 * the live edges say so.
 */
import type { EdgeFleet, EdgeStatus } from '../../core/fleet.port';
import type { Logger } from '../../obs/logger.factory';
import type { Database } from '../db/database';
import { findWarm, markWarmCompleted, readOpenWarms, readWarmEdges } from '../db/warm.store';
import type { WarmEdgeRecord, WarmRecord } from '../domain/warm.types';
import { abortableIterator } from './abortable.iterator';
import type { PurgeSignals } from './purge-signals';
import { warmProgress, WARM_START_GRACE_MS_DEFAULT, type WarmEdgeProgress, type WarmProgress } from './warm-progress';

export const WARM_RECHECK_MS_DEFAULT = 1000;

export interface WarmState {
  warm: WarmRecord;
  progress: WarmProgress;
  /** Null until no edge is pending or warming; then set once and kept. */
  completedAt: Date | null;
}

export interface WarmUpdate {
  state: WarmState;
  /** The edge whose progress has just changed; null for the first update and for one that only reports completion. */
  edge: WarmEdgeProgress | null;
}

export interface WarmTrackerOptions {
  db: Database;
  fleet: EdgeFleet;
  /** Wake-ups from the report collector, by warm id (the purges' mechanism, an instance of its own). */
  signals: PurgeSignals;
  logger: Logger;
  recheckMs?: number;
  /** How long after its request a live edge may go past a warm's seq without reporting before it counts as having missed it. */
  startGraceMs?: number;
  /** Called once per warm, by the replica whose stamp completed it. */
  onCompleted?: (warm: WarmRecord, completedAt: Date) => void;
}

export class WarmTracker {
  readonly #db: Database;
  readonly #fleet: EdgeFleet;
  readonly #signals: PurgeSignals;
  readonly #log: Logger;
  readonly #recheckMs: number;
  readonly #startGraceMs: number;
  readonly #onCompleted: (warm: WarmRecord, completedAt: Date) => void;
  readonly #waits = new Set<() => void>();
  #closed = false;
  #fleetFailing = false;

  constructor(options: WarmTrackerOptions) {
    this.#db = options.db;
    this.#fleet = options.fleet;
    this.#signals = options.signals;
    this.#log = options.logger.child({ component: 'warm-tracker' });
    this.#recheckMs = options.recheckMs ?? WARM_RECHECK_MS_DEFAULT;
    this.#startGraceMs = options.startGraceMs ?? WARM_START_GRACE_MS_DEFAULT;
    this.#onCompleted = options.onCompleted ?? (() => {});
  }

  /** The state of each warm, in the order given (one read of the fleet, one query). */
  async states(warms: readonly WarmRecord[]): Promise<WarmState[]> {
    if (warms.length === 0) return [];
    const [live, rows] = await Promise.all([this.#liveEdges(), this.#db.read((m) => readWarmEdges(m, warms.map((w) => w.id)))]);
    const rowsOf = new Map<string, WarmEdgeRecord[]>();
    for (const row of rows) rowsOf.set(row.warmId, [...(rowsOf.get(row.warmId) ?? []), row]);
    const now = new Date();
    return Promise.all(
      warms.map(async (warm) => {
        const progress = warmProgress({ seq: warm.seq, requestedAt: warm.requestedAt, rows: rowsOf.get(warm.id) ?? [], live, now, startGraceMs: this.#startGraceMs });
        let completedAt = warm.completedAt;
        if (completedAt === null && progress.complete) {
          completedAt = await this.#db.read((m) => markWarmCompleted(m, warm.id, now));
          if (completedAt !== null) this.#log.info({ warmId: warm.id, edges: progress.edgesTotal, edgesDone: progress.edgesDone }, 'warm complete');
          if (completedAt === now) this.#onCompleted(warm, now);
        }
        return { warm, progress, completedAt };
      }),
    );
  }

  async state(warm: WarmRecord): Promise<WarmState> {
    return (await this.states([warm]))[0]!;
  }

  /** Re-reads the given warms and stamps those now complete (after reports were stored). */
  async refresh(warmIds: readonly string[]): Promise<void> {
    if (warmIds.length === 0) return;
    await this.states(await this.#db.read((m) => readOpenWarms(m, warmIds)));
  }

  /**
   * Updates of one warm: its current state first, then one update per edge whose state or
   * counts changed, ending after the update in which it is complete (or when the warm is
   * deleted with its customer, or the tracker closes). Calling `return()` ends it at once.
   */
  watch(warm: WarmRecord): AsyncIterableIterator<WarmUpdate> {
    return abortableIterator((signal) => this.#updates(warm, signal));
  }

  /** Wakes every watch: subscriptions end. */
  close(): void {
    this.#closed = true;
    for (const wake of [...this.#waits]) wake();
  }

  async *#updates(warm: WarmRecord, stop: AbortSignal): AsyncGenerator<WarmUpdate, undefined> {
    let signalled = false;
    let wake: (() => void) | null = null;
    const off = this.#signals.on(warm.id, () => {
      signalled = true;
      wake?.();
    });
    const onAbort = (): void => wake?.();
    stop.addEventListener('abort', onAbort);
    try {
      // Listening before the first read: a report stored in between is not missed.
      let state = await this.state(warm);
      const seen = new Map(state.progress.edges.map((e) => [e.edgeId, fingerprint(e)]));
      yield { state, edge: null };
      while (state.completedAt === null) {
        if (!signalled && !stop.aborted && !this.#closed) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(timer);
              this.#waits.delete(done);
              wake = null;
              resolve();
            };
            const timer = setTimeout(done, this.#recheckMs);
            wake = done;
            this.#waits.add(done);
          });
        }
        if (stop.aborted || this.#closed) return undefined;
        signalled = false;
        const row = await this.#db.read((m) => findWarm(m, warm.id));
        if (!row) return undefined;
        state = await this.state(row);
        const changed = state.progress.edges.filter((e) => seen.get(e.edgeId) !== fingerprint(e));
        for (const edge of changed) {
          seen.set(edge.edgeId, fingerprint(edge));
          yield { state, edge };
        }
        if (changed.length === 0 && state.completedAt !== null) yield { state, edge: null };
      }
      return undefined;
    } finally {
      off();
      stop.removeEventListener('abort', onAbort);
    }
  }

  /** Null when the fleet channel cannot be read: progress then shows the stored rows alone. */
  async #liveEdges(): Promise<EdgeStatus[] | null> {
    try {
      const live = await this.#fleet.liveEdges();
      if (this.#fleetFailing) this.#log.info('fleet channel readable again');
      this.#fleetFailing = false;
      return live;
    } catch (err) {
      if (!this.#fleetFailing) this.#log.error({ err }, 'cannot read the live edges; warm progress shows stored reports only');
      this.#fleetFailing = true;
      return null;
    }
  }
}

/** What a subscriber is told about again when it changes. */
function fingerprint(edge: WarmEdgeProgress): string {
  return `${edge.state} ${edge.done} ${edge.failed}`;
}
