/**
 * What the edge keeps of each purge it applied, and what a sweep does to stored entries:
 * the records the purge engine and the lurker read and write through the purge index
 * (purge-index.port.ts). Types only, besides banKey: the store that keeps them
 * (`../cache/purge.index.ts`) imports them from here, so purge owns its records and the
 * cache owns none of purge's rules.
 */
import type { ObjectMeta } from '../cache/cache-store.port';

/** One purge as this edge recorded it. The rules that read it are in ban.rules.ts. */
export interface BanRecord {
  purgeId: string;
  customerId: string;
  kind: 'URL' | 'PREFIX' | 'TAG' | 'ALL';
  /** URL: the normalised `path?query`; PREFIX: the prefix; TAG: the tag; ALL: null. */
  value: string | null;
  soft: boolean;
  /** Edge clock (ms) when the edge first applied it: objects fetched at or before it are covered. */
  at: number;
  /** The change seq it came with (for a purge the edge made up after a gap: the snapshot's). */
  seq: number;
  /** Objects removed or marked stale when it was applied (URL purges). */
  objectsRemoved: number;
  /** Objects the lurker removed or marked. */
  lurked?: number;
  /** When no stored object it covers remains (URL purges: at once); absent while active. */
  retiredAt?: number;
}

/** Where a record is kept: a customer's records are one range, oldest first. */
export type BanKey = [customerId: string, at: number, purgeId: string];

export function banKey(record: Pick<BanRecord, 'customerId' | 'at' | 'purgeId'>): BanKey {
  return [record.customerId, record.at, record.purgeId];
}

/** What purge reads of a stored entry (the index keeps more: body, file, access time). */
export type PurgeEntry = Pick<ObjectMeta, 'storedAt' | 'fetchedAt' | 'softPurgedAt' | 'tags' | 'vary'>;

/** What a sweep does with one entry: remove it, mark it soft-purged, or leave it. */
export type SweepDecision = 'remove' | { softPurgedAt: number } | undefined;

/** A URL purge's sweep: `decide` is applied to the entry stored under `rest` and to its Vary variants. */
export interface UrlSweep {
  rest: string;
  decide: (rest: string, entry: PurgeEntry) => SweepDecision;
}

/** An entry a sweep removed. */
export interface SweptEntry {
  rest: string;
  entry: PurgeEntry;
  /** The body's file, for the caller to unlink once the removal is committed; absent when the body was empty or inline. */
  bodyFile?: string;
}

export interface SweepResult {
  removed: SweptEntry[];
  /** Index keys (`rest`) marked soft-purged. */
  marked: string[];
}

/** What recording one purge did. */
export interface RecordedPurge {
  /** The record as stored (when the purge id was already recorded: that earlier record). */
  record: BanRecord;
  /** false when the purge id was already recorded: nothing changed. */
  created: boolean;
  /** What the URL purge's sweep removed or marked (empty for bans and repeats). */
  swept: SweepResult;
}
