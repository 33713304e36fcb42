/**
 * The purge row plus its fleet progress → the GraphQL Purge. The progress is computed by
 * services/purge-progress.ts; its shape is restated here so db/ needs nothing from services/.
 */
import { Purge, PurgeEdge, PurgeKind } from '../graphql/purge.type';
import type { Customer } from '../graphql/customer.type';
import type { PurgeEntity } from './purge.entity';

export interface PurgeEdgeState {
  edgeId: string;
  live: boolean;
  appliedAt: Date | null;
  objectsRemoved: number | null;
}

export interface PurgeStateView {
  purge: PurgeEntity;
  progress: { edges: PurgeEdgeState[]; edgesTotal: number; edgesApplied: number };
  completedAt: Date | null;
}

export function toGraphqlPurgeEdge(edge: PurgeEdgeState): PurgeEdge {
  return Object.assign(new PurgeEdge(), {
    edgeId: edge.edgeId,
    live: edge.live,
    appliedAt: edge.appliedAt,
    objectsRemoved: edge.objectsRemoved,
  });
}

export function toGraphqlPurge(state: PurgeStateView, customer: Customer): Purge {
  const p = new Purge();
  p.id = state.purge.id;
  p.customer = customer;
  p.kind = PurgeKind[state.purge.kind];
  p.value = state.purge.value;
  p.soft = state.purge.soft;
  p.seq = Number(state.purge.seq);
  p.requestedAt = state.purge.requestedAt;
  p.edgesTotal = state.progress.edgesTotal;
  p.edgesApplied = state.progress.edgesApplied;
  p.completedAt = state.completedAt;
  p.edges = state.progress.edges.map(toGraphqlPurgeEdge);
  return p;
}
