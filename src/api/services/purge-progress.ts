/**
 * Where a purge stands across the fleet, computed from its stored acks and the edges
 * live right now. The rules, in one place:
 *
 * - The edges of a purge are those that acknowledged it (live or not) and those live now.
 * - An edge has applied it when it acknowledged it, or when its heartbeat reports an
 *   applied change seq at or above the purge's seq (the ack may still be on its way).
 * - It is complete when every live edge has applied it. With no live edge at all there is
 *   nothing left to wait for, so that counts as complete too; an edge that starts later
 *   loads a snapshot taken after the purge.
 * - When the live edges cannot be read (fleet channel down), the acks alone are shown and
 *   the purge is not complete: never claim completion without knowing who is live.
 */
import type { EdgeStatus } from '../../core/fleet.port';

export interface PurgeEdgeProgress {
  edgeId: string;
  /** Whether the edge's heartbeat is current. */
  live: boolean;
  /**
   * When it took effect there: the ack's time, or (applied per heartbeat, no ack yet)
   * the time of that heartbeat, an upper bound. Null: a live edge that has not applied it.
   */
  appliedAt: Date | null;
  /** From the ack; null without one. */
  objectsRemoved: number | null;
}

export interface PurgeProgress {
  /** Ordered by edge id. */
  edges: PurgeEdgeProgress[];
  edgesTotal: number;
  edgesApplied: number;
  complete: boolean;
}

export interface StoredAck {
  edgeId: string;
  appliedAt: Date;
  objectsRemoved: number;
}

/** `live` null: the live edges are unknown. */
export function purgeProgress(seq: number, acks: readonly StoredAck[], live: readonly EdgeStatus[] | null): PurgeProgress {
  const byEdge = new Map<string, PurgeEdgeProgress>();
  for (const ack of acks) {
    byEdge.set(ack.edgeId, { edgeId: ack.edgeId, live: false, appliedAt: ack.appliedAt, objectsRemoved: ack.objectsRemoved });
  }
  for (const edge of live ?? []) {
    const known = byEdge.get(edge.edgeId);
    if (known) {
      known.live = true;
    } else {
      const applied = edge.appliedSeq >= seq;
      byEdge.set(edge.edgeId, { edgeId: edge.edgeId, live: true, appliedAt: applied ? new Date(edge.heartbeatAt) : null, objectsRemoved: null });
    }
  }
  const edges = [...byEdge.values()].sort((a, b) => (a.edgeId < b.edgeId ? -1 : a.edgeId > b.edgeId ? 1 : 0));
  const edgesApplied = edges.filter((e) => e.appliedAt !== null).length;
  return {
    edges,
    edgesTotal: edges.length,
    edgesApplied,
    complete: live !== null && edges.every((e) => !e.live || e.appliedAt !== null),
  };
}
