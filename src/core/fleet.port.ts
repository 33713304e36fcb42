/**
 * The fleet channel: what edges tell the api, the other way from the change bus.
 *
 * - Heartbeats: each edge process (each worker, under node:cluster) reports itself every
 *   few seconds with a time to live; an edge whose heartbeat expired is no longer live.
 * - Purge acks: each edge process reports every purge it applied (after it took effect
 *   there), with how many objects it removed so far.
 * - Warm reports: the edge warming a warm (core/warm.types.ts) reports how far it got, about
 *   once a second while it works and once when it ends. Reports are cumulative, so a reader
 *   keeps the furthest one and a repeated or reordered report changes nothing.
 *
 * - Origin health: each edge process reports every transition of one of its origin breakers
 *   (edge/origin/origin-health.ts) as it happens, and lists the origins it holds down in each
 *   heartbeat (`originsDown`), so an api that starts late, or after the stream was trimmed,
 *   still knows the current state.
 * - Quotas reached: each heartbeat lists the customers whose disk quota this process is
 *   evicting for now (`quotasReached`, edge/cache/quota-spells.ts); the api turns each spell into
 *   one `quota.reached` webhook event.
 *
 * One contract, two implementations (Redis, and in-process for `cdn start` without
 * REDIS_URL); one contract suite runs against both (test/integration/fleet.contract.test.ts,
 * and for warm reports test/integration/fleet-warm.contract.test.ts).
 */
import type { WarmReportState } from './warm.types';

/** One edge process as it last reported itself. */
export interface EdgeStatus {
  /** Stable per edge process: `CDN_EDGE_ID` (default: host name + port), `#<n>` per cluster worker. */
  edgeId: string;
  host: string;
  pid: number;
  version: string;
  /** The last change seq this edge applied (every purge at or below it is in effect there). */
  appliedSeq: number;
  /** Whether the edge reports ready (/readyz). */
  ready: boolean;
  startedAt: string;
  /** ISO time of this heartbeat (set by the edge). */
  heartbeatAt: string;
  cacheObjects: number;
  cacheBytes: number;
  /**
   * The origins this process holds down now (at most ORIGINS_DOWN_MAX; absent from edges
   * older than issue 15). Every origin of a customer not listed is up there.
   */
  originsDown?: OriginDown[];
  /**
   * The customers whose disk quota this process is evicting for now, one spell each (at most
   * QUOTAS_REACHED_MAX; absent from edges older than quota.reached). A customer not listed is
   * under its quota here, or has no quota.
   */
  quotasReached?: QuotaReached[];
  /** `shield`: an origin shield (CDN_EDGE_ROLE), which other edges send their misses to; absent (edges older than the shield): `edge`. */
  role?: EdgeRole;
  /** Where other edges reach a shield's public port (CDN_EDGE_SHIELD_URL); only on a shield. */
  shieldUrl?: string;
}

export type EdgeRole = 'edge' | 'shield';
export const EDGE_ROLES: readonly EdgeRole[] = ['edge', 'shield'];

/** At most this many down origins ride on one heartbeat, so a heartbeat stays small. */
export const ORIGINS_DOWN_MAX = 1000;

/** At most this many quota spells ride on one heartbeat. */
export const QUOTAS_REACHED_MAX = 1000;

/**
 * One spell of quota evictions of one customer on one edge process: it began (`since`) at the
 * first quota eviction after none for an hour (or since the process started), and is listed
 * while quota evictions keep happening (the last one within ten minutes).
 */
export interface QuotaReached {
  customerId: string;
  /** ISO time of the spell's first quota eviction (the edge's clock); the same on every heartbeat of the spell. */
  since: string;
  /** The customer's quota (cacheQuotaBytes) at the last eviction. */
  quotaBytes: number;
  /** Bytes evicted for the quota since `since`. */
  evictedBytes: number;
}

export type OriginHealthState = 'up' | 'down';
export const ORIGIN_HEALTH_STATES: readonly OriginHealthState[] = ['up', 'down'];

/** One origin one edge process holds down. */
export interface OriginDown {
  customerId: string;
  /** The origin's name within its customer. */
  origin: string;
  /** ISO time it went down there. */
  since: string;
  reason: string;
}

/** One origin going down or coming back on one edge process. */
export interface OriginHealthEvent {
  /** The fleet id of the process (as its heartbeat's edgeId): each process has its own breakers. */
  edgeId: string;
  customerId: string;
  origin: string;
  state: OriginHealthState;
  reason: string;
  /** ISO time of the transition (the edge's clock). */
  at: string;
}

export interface PurgeAck {
  purgeId: string;
  /** The seq of the purge's change. */
  seq: number;
  edgeId: string;
  /** ISO time the purge took effect on that edge. */
  appliedAt: string;
  /** Objects removed or marked stale at once (a ban's lurker may remove more later). */
  objectsRemoved: number;
}

/** How far one edge got with one warm (cumulative counts). */
export interface WarmReport {
  warmId: string;
  /** The machine: CDN_EDGE_ID (one cluster worker warms for every worker of its edge). */
  edgeId: string;
  /** The fleet id of the process doing it (`<CDN_EDGE_ID>#<n>` in a cluster): the api sees it restart or go. */
  process: string;
  /** ISO start time of that process, as its heartbeat says (a restarted process under the same id differs). */
  processStartedAt: string;
  state: WarmReportState;
  /** URLs in the warm. */
  total: number;
  /** URLs fetched with an answer below 400. */
  done: number;
  /** URLs that got a 4xx or 5xx answer, or none. */
  failed: number;
  /** ISO time of this report (the edge's clock). */
  at: string;
}

export interface AckReadOptions {
  blockMs: number;
  count?: number;
}

export interface EdgeFleet {
  /** Records the edge as live for `ttlMs` from now (replacing its previous status). */
  heartbeat(status: EdgeStatus, ttlMs: number): Promise<void>;
  /** Removes the edge at once (graceful shutdown). */
  leave(edgeId: string): Promise<void>;
  /** Edges whose heartbeat has not expired, ordered by edgeId. */
  liveEdges(): Promise<EdgeStatus[]>;
  /** Appends acks; never loses one that resolved. */
  ack(acks: PurgeAck[]): Promise<void>;
  /**
   * Acks appended after `cursor` (an opaque string; '0' for the oldest kept, '$' for only new
   * ones), waiting up to blockMs for the first. Returns the cursor to pass next.
   */
  readAcks(cursor: string, options: AckReadOptions): Promise<{ cursor: string; acks: PurgeAck[] }>;
  /** Appends warm reports; never loses one that resolved. */
  reportWarms(reports: WarmReport[]): Promise<void>;
  /** Warm reports appended after `cursor`, as readAcks reads acks (its own cursor: never mix the two). */
  readWarmReports(cursor: string, options: AckReadOptions): Promise<{ cursor: string; reports: WarmReport[] }>;
  /** Appends origin health transitions; never loses one that resolved. */
  reportOriginHealth(events: OriginHealthEvent[]): Promise<void>;
  /** Origin health transitions appended after `cursor`, as readAcks reads acks (a cursor of its own). */
  readOriginHealth(cursor: string, options: AckReadOptions): Promise<{ cursor: string; events: OriginHealthEvent[] }>;
  /** Stops pending reads (they answer with no acks) and releases connections. */
  close(): Promise<void>;
}
