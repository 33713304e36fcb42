/**
 * Purges as they travel from the api to the edges (the `purge.requested` bus event) and
 * as edges report them back (acks over the fleet channel, core/fleet.port.ts).
 *
 * - URL: one cache key, every Vary variant of it (`value` = path with its query, as a
 *   client would request it, e.g. `/img/logo.png?v=2`; normalised by the edge per the
 *   customer's query-string option).
 * - PREFIX: every key whose `path?query` starts with `value` (`/img/`); never empty.
 * - TAG: every object whose `Surrogate-Key` / `Cache-Tag` names `value`.
 * - ALL: every object of the customer (`value` is null).
 * `soft`: mark stale (the next request revalidates with the origin) instead of removing.
 */
export type PurgeKind = 'URL' | 'PREFIX' | 'TAG' | 'ALL';

export const PURGE_KINDS: readonly PurgeKind[] = ['URL', 'PREFIX', 'TAG', 'ALL'];

/** Longest purge value accepted (a path or a tag), in characters. */
export const PURGE_VALUE_MAX_CHARS = 2048;

export interface PurgeRequest {
  /** UUID assigned by the api. */
  id: string;
  customerId: string;
  kind: PurgeKind;
  /** Path, prefix or tag; null for ALL. */
  value: string | null;
  soft: boolean;
  /** ISO time the api accepted the purge. */
  requestedAt: string;
}
