/** A purge's state (its record plus its progress across the fleet, services/purge-tracker.service.ts) → the GraphQL Purge. */
import type { PurgeEdgeProgress } from '../services/purge-progress';
import type { PurgeState } from '../services/purge-tracker.service';
import type { Customer } from './customer.type';
import { Purge, PurgeEdge, PurgeKind } from './purge.type';

export function toGraphqlPurgeEdge(edge: PurgeEdgeProgress): PurgeEdge {
  return Object.assign(new PurgeEdge(), {
    edgeId: edge.edgeId,
    live: edge.live,
    appliedAt: edge.appliedAt,
    objectsRemoved: edge.objectsRemoved,
  });
}

export function toGraphqlPurge(state: PurgeState, customer: Customer): Purge {
  const p = new Purge();
  p.id = state.purge.id;
  p.customer = customer;
  p.kind = PurgeKind[state.purge.kind];
  p.value = state.purge.value;
  p.soft = state.purge.soft;
  p.seq = state.purge.seq;
  p.requestedAt = state.purge.requestedAt;
  p.edgesTotal = state.progress.edgesTotal;
  p.edgesApplied = state.progress.edgesApplied;
  p.completedAt = state.completedAt;
  p.edges = state.progress.edges.map(toGraphqlPurgeEdge);
  return p;
}
