/**
 * Follows purges across the fleet: their progress (stored acks + live edges, rules in
 * purge-progress.ts), the completion stamp (persisted once, by whichever api replica
 * sees it first), and waiting for a purge to complete, for the `purgeStatus`
 * subscription and `purgeCache(waitForEdges: true)`.
 *
 * A waiter wakes on a signal from the ack collector (acks of its purge were stored) and
 * also every `recheckMs`: edges can apply a purge without an ack reaching us yet (their
 * heartbeat's appliedSeq), and a silent edge stops counting once its heartbeat expires.
 */
import type { EdgeFleet, EdgeStatus } from '../../core/fleet.port';
import type { Logger } from '../../obs/logger.factory';
import type { Database } from '../db/database';
import { findPurge, markPurgeCompleted, readOpenPurges, readPurgeAcks } from '../db/purge.store';
import type { PurgeRecord } from '../domain/purge.types';
import { purgeProgress, type PurgeEdgeProgress, type PurgeProgress } from './purge-progress';
import type { PurgeSignals } from './purge-signals';
import { abortableIterator } from './abortable.iterator';

export const PURGE_RECHECK_MS_DEFAULT = 1000;

export interface PurgeState {
  purge: PurgeRecord;
  progress: PurgeProgress;
  /** Null until every live edge has applied it; then set once and kept. */
  completedAt: Date | null;
}

export interface PurgeUpdate {
  state: PurgeState;
  /** The edge that has just applied the purge; null for the first update and for one that only reports completion. */
  edge: PurgeEdgeProgress | null;
}

export interface PurgeTrackerOptions {
  db: Database;
  fleet: EdgeFleet;
  signals: PurgeSignals;
  logger: Logger;
  recheckMs?: number;
  /** Called once per purge, by the replica whose stamp completed it (for the completion-time metric). */
  onCompleted?: (purge: PurgeRecord, completedAt: Date) => void;
}

export class PurgeTracker {
  readonly #db: Database;
  readonly #fleet: EdgeFleet;
  readonly #signals: PurgeSignals;
  readonly #log: Logger;
  readonly #recheckMs: number;
  readonly #onCompleted: (purge: PurgeRecord, completedAt: Date) => void;
  /** Every pending wait, woken at once by close(). */
  readonly #waits = new Set<() => void>();
  #closed = false;
  #fleetFailing = false;

  constructor(options: PurgeTrackerOptions) {
    this.#db = options.db;
    this.#fleet = options.fleet;
    this.#signals = options.signals;
    this.#log = options.logger.child({ component: 'purge-tracker' });
    this.#recheckMs = options.recheckMs ?? PURGE_RECHECK_MS_DEFAULT;
    this.#onCompleted = options.onCompleted ?? (() => {});
  }

  /** The state of each purge, in the order given (one read of the fleet, one query). */
  async states(purges: readonly PurgeRecord[]): Promise<PurgeState[]> {
    if (purges.length === 0) return [];
    const [live, acks] = await Promise.all([this.#liveEdges(), this.#db.read((m) => readPurgeAcks(m, purges.map((p) => p.id)))]);
    const acksOf = new Map<string, typeof acks>();
    for (const ack of acks) acksOf.set(ack.purgeId, [...(acksOf.get(ack.purgeId) ?? []), ack]);
    const now = new Date();
    return Promise.all(
      purges.map(async (purge) => {
        const stored = (acksOf.get(purge.id) ?? []).map((a) => ({ edgeId: a.edgeId, appliedAt: a.appliedAt, objectsRemoved: a.objectsRemoved }));
        const progress = purgeProgress(purge.seq, stored, live);
        let completedAt = purge.completedAt;
        if (completedAt === null && progress.complete) {
          completedAt = await this.#db.read((m) => markPurgeCompleted(m, purge.id, now));
          if (completedAt !== null) this.#log.info({ purgeId: purge.id, edges: progress.edgesApplied }, 'purge complete');
          // The same Date back means this replica's stamp won: report it here only.
          if (completedAt === now) this.#onCompleted(purge, now);
        }
        return { purge, progress, completedAt };
      }),
    );
  }

  async state(purge: PurgeRecord): Promise<PurgeState> {
    return (await this.states([purge]))[0]!;
  }

  /** Re-reads the given purges and stamps those now complete (after acks were stored). */
  async refresh(purgeIds: readonly string[]): Promise<void> {
    if (purgeIds.length === 0) return;
    const rows = await this.#db.read((m) => readOpenPurges(m, purgeIds));
    await this.states(rows);
  }

  /**
   * Updates of one purge: its current state first, then one update per edge that applies
   * it, ending after the update in which it is complete (or when the purge is deleted with
   * its customer, or the tracker closes). Calling `return()` ends it at once.
   */
  watch(purge: PurgeRecord): AsyncIterableIterator<PurgeUpdate> {
    return abortableIterator((signal) => this.#updates(purge, signal));
  }

  /** Waits until the purge is complete or `timeoutMs` passed, and returns its state then. */
  async waitUntilComplete(purge: PurgeRecord, timeoutMs: number): Promise<PurgeState> {
    const updates = this.watch(purge);
    const timer = setTimeout(() => void updates.return?.(undefined), timeoutMs);
    let last: PurgeState | undefined;
    try {
      for await (const update of updates) last = update.state;
    } finally {
      clearTimeout(timer);
    }
    // Ended by the timeout (or by close): report where it stands now.
    return last?.completedAt ? last : this.state((await this.#reload(purge.id)) ?? purge);
  }

  /** Wakes every waiter: subscriptions end, waiting mutations answer with the current state. */
  close(): void {
    this.#closed = true;
    for (const wake of [...this.#waits]) wake();
  }

  async *#updates(purge: PurgeRecord, stop: AbortSignal): AsyncGenerator<PurgeUpdate, undefined> {
    let signalled = false;
    let wake: (() => void) | null = null;
    const off = this.#signals.on(purge.id, () => {
      signalled = true;
      wake?.();
    });
    const onAbort = (): void => wake?.();
    stop.addEventListener('abort', onAbort);
    try {
      // Listening before the first read: an ack stored in between is not missed.
      let state = await this.state(purge);
      const reported = new Set(state.progress.edges.filter((e) => e.appliedAt !== null).map((e) => e.edgeId));
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
        const row = await this.#reload(purge.id);
        if (!row) return undefined;
        state = await this.state(row);
        const fresh = state.progress.edges
          .filter((e) => e.appliedAt !== null && !reported.has(e.edgeId))
          .sort((a, b) => a.appliedAt!.getTime() - b.appliedAt!.getTime());
        for (const edge of fresh) {
          reported.add(edge.edgeId);
          yield { state, edge };
        }
        if (fresh.length === 0 && state.completedAt !== null) yield { state, edge: null };
      }
      return undefined;
    } finally {
      off();
      stop.removeEventListener('abort', onAbort);
    }
  }

  #reload(id: string): Promise<PurgeRecord | null> {
    return this.#db.read((m) => findPurge(m, id));
  }

  /** Null when the fleet channel cannot be read: progress then shows the acks alone. */
  async #liveEdges(): Promise<EdgeStatus[] | null> {
    try {
      const live = await this.#fleet.liveEdges();
      if (this.#fleetFailing) this.#log.info('fleet channel readable again');
      this.#fleetFailing = false;
      return live;
    } catch (err) {
      if (!this.#fleetFailing) this.#log.error({ err }, 'cannot read the live edges; purge progress shows acks only');
      this.#fleetFailing = true;
      return null;
    }
  }
}
