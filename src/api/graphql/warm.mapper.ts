/** A warm's state (its record plus its progress across the fleet, services/warm-tracker.service.ts) → the GraphQL Warm. */
import type { WarmTarget } from '../../core/warm.types';
import type { WarmEdgeProgress } from '../services/warm-progress';
import type { WarmState } from '../services/warm-tracker.service';
import type { Customer } from './customer.type';
import { Warm, WarmEdge, WarmEdgeState } from './warm.type';

export function toGraphqlWarmEdge(edge: WarmEdgeProgress, urlsTotal: number): WarmEdge {
  return Object.assign(new WarmEdge(), {
    edgeId: edge.edgeId,
    live: edge.live,
    state: WarmEdgeState[edge.state],
    urlsDone: edge.done,
    urlsFailed: edge.failed,
    urlsTotal,
    reportedAt: edge.reportedAt,
    reason: edge.reason,
  });
}

/** How a target is shown: the URL a client would have asked for over plain HTTP. */
export function warmUrl(target: WarmTarget): string {
  return `http://${target.host}${target.path}`;
}

export function toGraphqlWarm(state: WarmState, customer: Customer): Warm {
  const w = new Warm();
  w.id = state.warm.id;
  w.customer = customer;
  w.urls = state.warm.urls.map(warmUrl);
  w.edgeId = state.warm.edgeId;
  w.seq = state.warm.seq;
  w.requestedAt = state.warm.requestedAt;
  w.edgesTotal = state.progress.edgesTotal;
  w.edgesDone = state.progress.edgesDone;
  w.completedAt = state.completedAt;
  w.edges = state.progress.edges.map((e) => toGraphqlWarmEdge(e, state.warm.urls.length));
  return w;
}
