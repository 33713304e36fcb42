/**
 * What an origin fetch needs of the edge (fetch.flight.ts, origin.request.ts): the store,
 * the origin pools, targets and selector, the clock, metrics and log, the purge judge and the fill
 * locks. The request pipeline's context (transaction.ts) is this plus what only the steps
 * use, so a flight never depends on the pipeline that starts it.
 */
import type { Clock } from '../../core/clock.port';
import type { Logger } from '../../obs/logger.factory';
import type { CacheStore, ObjectMeta } from '../cache/cache-store.port';
import type { EdgeMetrics } from '../edge.metrics';
import type { OriginPools } from '../origin/origin-pools';
import type { OriginSelector } from '../origin/origin-selector';
import type { OriginTargets } from '../origin/origin-target';
import type { ShieldRoute } from '../shield/shield-route';
import type { FillLocks } from './fill-locks';

export type { Synthetic } from './fill-locks';

export interface FlightContext {
  store: CacheStore;
  pools: OriginPools;
  targets: OriginTargets;
  /** Which origin each request goes to: health, the customer's slots and retry budget (origin-selector.ts). */
  origins: OriginSelector;
  clock: Clock;
  metrics: EdgeMetrics;
  logger: Logger;
  maxObjectBytes: number;
  /** Bans and soft purges lookups must honour (absent: a store without the purge engine). */
  purges?: PurgeJudge;
  /** The same across the processes of this edge (a cluster): one origin fetch per key per machine. */
  fills: FillLocks;
  /** CDN_EDGE_CDN_ID: this CDN's name in CDN-Loop. */
  cdnId: string;
  /** The origin shields a fill goes to before the origin (edge/shield); absent on a shield, or with CDN_EDGE_SHIELDS=off. */
  shields?: ShieldRoute | undefined;
}

/** What lookups ask of the purge engine (edge/purge/purge.engine.ts). */
export interface PurgeJudge {
  /** 'hard': never serve; 'soft': stale, revalidate before reuse; undefined: not purged. */
  judge(customerId: string, meta: ObjectMeta): 'hard' | 'soft' | undefined;
  /** Removes a hard-banned object found by a lookup (memory now, index and file in the background). */
  discard(customerId: string, meta: ObjectMeta): void;
}
