/**
 * Request collapsing across the processes of one edge machine. Within a process, waiters
 * of one key share one Flight (fetch.flight.ts); a cluster edge runs one process per core
 * over one shared disk cache, so before a Flight asks the origin it asks the machine's fill
 * locks whether another process already does. The leader fetches and stores; followers
 * wait for its outcome and then read the stored object (they do not stream from another
 * process: the disk cache is how processes share bodies).
 *
 * A single process needs no coordination: LOCAL_FILLS always grants the lead at once.
 * The cluster implementation is edge/cluster/cluster-fill-locks.ts (the primary keeps the
 * table, see fill-coordinator.ts).
 */

/** An answer the edge makes up (an error, as JSON), also as it travels between processes. */
export interface Synthetic {
  status: number;
  body: Record<string, unknown>;
  /** Fields it carries besides its own (Retry-After of a 503). */
  headers?: Record<string, string>;
}

/** How a leader's fetch ended, as its followers need to know it. */
export type FillOutcome =
  /** The object is in the shared store now (stored, or refreshed by a 304): look it up. */
  | { kind: 'stored' }
  /** An answer for the leader's client alone (private, uncacheable, 5xx): each follower asks the origin itself. */
  | { kind: 'unshared' }
  /** The origin failed (unreachable, timeout): followers answer the same, or stale-if-error (`allDown`: or within the all-down window). */
  | { kind: 'failed'; synthetic: Synthetic; allDown?: true }
  /** The leader gave up without an answer to share (its clients left, it died, nothing could be stored): try again. */
  | { kind: 'retry' };

export type FillGrant =
  | { lead: true; release(outcome: FillOutcome): void }
  | { lead: false; done: Promise<FillOutcome> };

export interface FillLocks {
  /** Leads the fill of `key` on this machine, or follows the process that does. */
  acquire(key: string): FillGrant | Promise<FillGrant>;
}

const LEAD: FillGrant = Object.freeze({ lead: true as const, release: () => {} });

/** One process: it is always the leader of its own fills. */
export const LOCAL_FILLS: FillLocks = Object.freeze({ acquire: () => LEAD });

export const FILL_STORED: FillOutcome = Object.freeze({ kind: 'stored' });
export const FILL_UNSHARED: FillOutcome = Object.freeze({ kind: 'unshared' });
export const FILL_RETRY: FillOutcome = Object.freeze({ kind: 'retry' });
