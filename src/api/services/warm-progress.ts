/**
 * Where a warm stands across the fleet, computed from its stored edge rows and the edge
 * processes live right now. The rules, in one place:
 *
 * - The edges of a warm are its rows: one per edge (machine, CDN_EDGE_ID) live when it was
 *   requested (or the one named), plus any other edge that reported on it (one that started
 *   in between and still read the warm from the bus).
 * - An edge is DONE once it reported every URL fetched. It is INCOMPLETE, for good, when
 *   it reported stopping (a shutdown), when the process that was warming is no longer live
 *   or is live under a new start time (it restarted: a warm is not resumed), when it has no
 *   live process at all before its first report, or when all its live processes went past the
 *   warm's seq without any report for `startGraceMs` after the request (they reloaded the
 *   configuration or restarted in between, and never saw the event). Otherwise it is PENDING
 *   (no report yet) or WARMING.
 * - A warm is complete when every one of its edges is DONE or INCOMPLETE.
 * - When the live processes cannot be read (fleet channel down), rows show what they stored
 *   and nothing pending or warming is judged: never claim an end without knowing who is live.
 */
import type { EdgeStatus } from '../../core/fleet.port';
import { machineOf } from '../../core/warm.types';
import type { WarmEdgeRecord } from '../domain/warm.types';

export type WarmEdgeState = 'PENDING' | 'WARMING' | 'DONE' | 'INCOMPLETE';

export interface WarmEdgeProgress {
  /** The machine: CDN_EDGE_ID. */
  edgeId: string;
  /** Whether some process of the edge has a current heartbeat. */
  live: boolean;
  state: WarmEdgeState;
  /** URLs fetched with an answer below 400, as last reported. */
  done: number;
  /** URLs with a 4xx or 5xx answer, or none. */
  failed: number;
  /** The edge's time of its last report kept; null before any. */
  reportedAt: Date | null;
  /** Why an edge is INCOMPLETE; null otherwise. */
  reason: string | null;
}

export interface WarmProgress {
  /** Ordered by edge id. */
  edges: WarmEdgeProgress[];
  edgesTotal: number;
  edgesDone: number;
  complete: boolean;
}

export const WARM_START_GRACE_MS_DEFAULT = 10_000;

export interface WarmProgressInput {
  seq: number;
  requestedAt: Date;
  rows: readonly WarmEdgeRecord[];
  /** Null: the live processes are unknown. */
  live: readonly EdgeStatus[] | null;
  now: Date;
  startGraceMs: number;
}

export function warmProgress(input: WarmProgressInput): WarmProgress {
  const edges = input.rows
    .map((row) => edgeProgress(row, input))
    .sort((a, b) => (a.edgeId < b.edgeId ? -1 : a.edgeId > b.edgeId ? 1 : 0));
  return {
    edges,
    edgesTotal: edges.length,
    edgesDone: edges.filter((e) => e.state === 'DONE').length,
    complete: edges.every((e) => e.state === 'DONE' || e.state === 'INCOMPLETE'),
  };
}

function edgeProgress(row: WarmEdgeRecord, input: WarmProgressInput): WarmEdgeProgress {
  const processes = input.live === null ? [] : input.live.filter((p) => machineOf(p.edgeId) === row.edgeId);
  const base = { edgeId: row.edgeId, live: processes.length > 0, done: row.done, failed: row.failed, reportedAt: row.reportedAt };
  const incomplete = (reason: string): WarmEdgeProgress => ({ ...base, state: 'INCOMPLETE', reason });
  const as = (state: WarmEdgeState): WarmEdgeProgress => ({ ...base, state, reason: null });
  switch (row.state) {
    case 'done':
      return as('DONE');
    case 'stopped':
      return incomplete('the edge stopped before it had fetched every URL (what it fetched stays cached)');
    case 'warming': {
      if (input.live === null) return as('WARMING');
      const warmer = processes.find((p) => p.edgeId === row.process);
      if (warmer !== undefined && sameInstant(warmer.startedAt, row.processStartedAt)) return as('WARMING');
      return incomplete(`the edge process warming it (${row.process}) ${warmer === undefined ? 'is no longer live' : 'restarted'} before it had fetched every URL; a warm is not resumed (what it fetched stays cached)`);
    }
    case 'pending': {
      if (input.live === null) return as('PENDING');
      if (processes.length === 0) return incomplete('the edge is not live: it never reported on this warm');
      const passed = processes.every((p) => p.appliedSeq >= input.seq);
      if (passed && input.now.getTime() - input.requestedAt.getTime() >= input.startGraceMs) {
        return incomplete('the edge went past this warm without taking it up (it restarted or reloaded its configuration in between)');
      }
      return as('PENDING');
    }
  }
}

function sameInstant(iso: string, at: Date | null): boolean {
  return at !== null && Date.parse(iso) === at.getTime();
}
