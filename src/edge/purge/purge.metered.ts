/**
 * The purge engine as the bus feed sees it, timed: how long one bus read's purges take to
 * apply (cdn_edge_purge_apply_seconds) and, per purge newly in effect on this edge, how long
 * after its request at the api (cdn_edge_purge_lag_seconds). A purge this edge had already
 * applied (a repeat after a gap or a restart, or recorded by another worker of the edge)
 * adds no lag: it took effect earlier.
 */
import type { PurgeApplied, PurgeApplier } from '../customer-feed.port';

export interface PurgeTimings {
  /** Seconds one applyMany (or apply) took. */
  applied(seconds: number): void;
  /** Seconds from the api's requestedAt to the edge's appliedAt. */
  lag(seconds: number): void;
}

export function meteredPurgeApplier(engine: PurgeApplier, timings: PurgeTimings): PurgeApplier {
  const observe = (items: ReadonlyArray<{ purge: { requestedAt: string } }>, applied: readonly PurgeApplied[], started: number): void => {
    timings.applied((performance.now() - started) / 1000);
    applied.forEach((a, i) => {
      if (a.duplicate) return;
      const requestedAt = Date.parse(items[i]?.purge.requestedAt ?? '');
      if (Number.isFinite(requestedAt)) timings.lag(Math.max(0, a.appliedAt - requestedAt) / 1000);
    });
  };
  return {
    restore: () => engine.restore(),
    durable: () => engine.durable(),
    purgeAllAfterGap: (customerIds, seq) => engine.purgeAllAfterGap(customerIds, seq),
    apply: async (purge, seq) => {
      const started = performance.now();
      const applied = await engine.apply(purge, seq);
      observe([{ purge }], [applied], started);
      return applied;
    },
    applyMany: async (items) => {
      const started = performance.now();
      const applied = await engine.applyMany(items);
      // One PurgeApplied per item, in seq order: the same order as items when they come sorted (as from the bus).
      const bySeq = [...items].sort((x, y) => x.seq - y.seq);
      observe(bySeq, applied, started);
      return applied;
    },
  };
}
