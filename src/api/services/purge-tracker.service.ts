/**
 * Follows purges across the fleet (fleet-request.tracker.ts, with the rules of
 * purge-progress.ts): their progress from stored acks and live edges, the once-only
 * completion stamp, the `purgeStatus` updates (an edge told once, when it has applied the
 * purge), and waiting for a purge to complete for `purgeCache(waitForEdges: true)`.
 *
 * Besides the ack collector's signals, a waiter rechecks every `recheckMs`: edges can apply
 * a purge without an ack reaching us yet (their heartbeat's appliedSeq), and a silent edge
 * stops counting once its heartbeat expires.
 */
import type { EdgeFleet } from '../../core/fleet.port';
import type { Logger } from '../../obs/logger.factory';
import type { Database, Tx } from '../db/database';
import { findPurge, markPurgeCompleted, readOpenPurges, readPurgeAcks, recentOpenPurgeIds } from '../db/purge.store';
import type { PurgeAckRecord, PurgeRecord } from '../domain/purge.types';
import { FleetRequestTracker, type FleetRequestKind, type FleetRequestUpdate } from './fleet-request.tracker';
import { purgeProgress, type PurgeEdgeProgress, type PurgeProgress } from './purge-progress';
import type { PurgeSignals } from './purge-signals';
import type { WebhookEventInput } from '../domain/webhook.types';
import type { WebhookOutbox } from './webhook.service';

export const PURGE_RECHECK_MS_DEFAULT = 1000;

export interface PurgeState {
  purge: PurgeRecord;
  progress: PurgeProgress;
  /** Null until every live edge has applied it; then set once and kept. */
  completedAt: Date | null;
}

/** `edge`: the edge that has just applied the purge. */
export type PurgeUpdate = FleetRequestUpdate<PurgeState, PurgeEdgeProgress>;

export interface PurgeTrackerOptions {
  db: Database;
  fleet: EdgeFleet;
  signals: PurgeSignals;
  logger: Logger;
  recheckMs?: number;
  /** Called once per purge, by the replica whose stamp completed it (for the completion-time metric). */
  onCompleted?: (purge: PurgeRecord, completedAt: Date) => void;
  /** Where `purge.completed` goes: stored in the transaction of the completion stamp, once per purge. */
  events?: WebhookOutbox;
}

const PURGES: FleetRequestKind<PurgeRecord, PurgeAckRecord, PurgeProgress, PurgeEdgeProgress, PurgeState> = {
  noun: 'purge',
  rowsNoun: 'acks',
  find: findPurge,
  readOpen: readOpenPurges,
  readRows: readPurgeAcks,
  requestIdOf: (ack) => ack.purgeId,
  markCompleted: markPurgeCompleted,
  progress: (purge, acks, live) => purgeProgress(purge.seq, acks, live),
  state: (purge, progress, completedAt) => ({ purge, progress, completedAt }),
  completedFields: (_purge, progress) => ({ edges: progress.edgesApplied }),
  news: (edge) => (edge.appliedAt === null ? null : 'applied'),
  newsOrder: (a, b) => a.appliedAt!.getTime() - b.appliedAt!.getTime(),
};

/** The `purge.completed` webhook event: one per purge (its id is the dedup key). */
export function purgeCompletedEvent(purge: PurgeRecord, completedAt: Date, progress: PurgeProgress): WebhookEventInput {
  return {
    type: 'purge.completed',
    customerId: purge.customerId,
    dedupKey: `purge.completed:${purge.id}`,
    occurredAt: completedAt,
    data: {
      purgeId: purge.id,
      kind: purge.kind,
      value: purge.value,
      soft: purge.soft,
      requestedAt: purge.requestedAt.toISOString(),
      completedAt: completedAt.toISOString(),
      edges: progress.edgesApplied,
    },
  };
}

/** The sweep looks this far back for purges not complete yet (older ones are stamped when read), at most this many per sweep. */
const OPEN_PURGE_SWEEP_WINDOW_MS = 3_600_000;
const OPEN_PURGE_SWEEP_MAX = 500;

export class PurgeTracker extends FleetRequestTracker<PurgeRecord, PurgeAckRecord, PurgeProgress, PurgeEdgeProgress, PurgeState> {
  readonly #db: PurgeTrackerOptions['db'];
  readonly #log: PurgeTrackerOptions['logger'];
  #sweeper: NodeJS.Timeout | undefined;

  constructor(options: PurgeTrackerOptions) {
    const events = options.events;
    super(PURGES, {
      ...options,
      recheckMs: options.recheckMs ?? PURGE_RECHECK_MS_DEFAULT,
      ...(events === undefined
        ? {}
        : {
            onCompletedIn: (m: Tx, purge: PurgeRecord, completedAt: Date, progress: PurgeProgress) => events.emitIn(m, [purgeCompletedEvent(purge, completedAt, progress)]),
            afterCompleted: () => events.committed(),
          }),
    });
    this.#db = options.db;
    this.#log = options.logger.child({ component: 'purge-sweep' });
  }

  /**
   * Looks at the purges of the last hour that are not complete yet every `intervalMs`, and
   * stamps those that are now (whose last edge applied it by heartbeat, or went away without
   * an ack): without it such a purge would be stamped, and its `purge.completed` event sent,
   * only when someone next reads it. Never rejects; stopped by close().
   */
  startSweeping(intervalMs: number): void {
    const sweep = async (): Promise<void> => {
      try {
        const ids = await this.#db.read((m) => recentOpenPurgeIds(m, new Date(Date.now() - OPEN_PURGE_SWEEP_WINDOW_MS), OPEN_PURGE_SWEEP_MAX));
        await this.refresh(ids);
      } catch (err) {
        this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'cannot look at the purges not complete yet: next sweep');
      }
    };
    this.#sweeper = setInterval(() => void sweep(), intervalMs);
    this.#sweeper.unref();
  }

  override close(): void {
    clearInterval(this.#sweeper);
    super.close();
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
    return last?.completedAt ? last : this.state((await this.reload(purge.id)) ?? purge);
  }
}
