/**
 * Follows warms across the fleet (fleet-request.tracker.ts, with the rules of
 * warm-progress.ts): their progress from stored edge rows and live edge processes, the
 * once-only completion stamp, and the `warmStatus` updates (an edge told again whenever its
 * state or counts change).
 *
 * Besides the report collector's signals, a watch rechecks every `recheckMs`: an edge that
 * goes away or restarts mid-warm sends nothing, and only the live edges say so.
 */
import type { EdgeFleet } from '../../core/fleet.port';
import type { Logger } from '../../obs/logger.factory';
import type { Database } from '../db/database';
import { findWarm, markWarmCompleted, readOpenWarms, readWarmEdges } from '../db/warm.store';
import type { WarmEdgeRecord, WarmRecord } from '../domain/warm.types';
import { FleetRequestTracker, type FleetRequestKind, type FleetRequestUpdate } from './fleet-request.tracker';
import type { PurgeSignals } from './purge-signals';
import { warmProgress, WARM_START_GRACE_MS_DEFAULT, type WarmEdgeProgress, type WarmProgress } from './warm-progress';

export const WARM_RECHECK_MS_DEFAULT = 1000;

export interface WarmState {
  warm: WarmRecord;
  progress: WarmProgress;
  /** Null until no edge is pending or warming; then set once and kept. */
  completedAt: Date | null;
}

/** `edge`: the edge whose progress has just changed. */
export type WarmUpdate = FleetRequestUpdate<WarmState, WarmEdgeProgress>;

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

function warms(startGraceMs: number): FleetRequestKind<WarmRecord, WarmEdgeRecord, WarmProgress, WarmEdgeProgress, WarmState> {
  return {
    noun: 'warm',
    rowsNoun: 'stored reports',
    find: findWarm,
    readOpen: readOpenWarms,
    readRows: readWarmEdges,
    requestIdOf: (row) => row.warmId,
    markCompleted: markWarmCompleted,
    progress: (warm, rows, live, now) => warmProgress({ seq: warm.seq, requestedAt: warm.requestedAt, rows, live, now, startGraceMs }),
    state: (warm, progress, completedAt) => ({ warm, progress, completedAt }),
    completedFields: (_warm, progress) => ({ edges: progress.edgesTotal, edgesDone: progress.edgesDone }),
    news: (edge) => `${edge.state} ${edge.done} ${edge.failed}`,
  };
}

export class WarmTracker extends FleetRequestTracker<WarmRecord, WarmEdgeRecord, WarmProgress, WarmEdgeProgress, WarmState> {
  constructor(options: WarmTrackerOptions) {
    super(warms(options.startGraceMs ?? WARM_START_GRACE_MS_DEFAULT), { ...options, recheckMs: options.recheckMs ?? WARM_RECHECK_MS_DEFAULT });
  }
}
