/**
 * Rules of the change chain that both bus implementations enforce the same way.
 */
import type { Change, Snapshot } from '../core/bus.events';

/** Default batch size of `read` when the caller names no count. */
export const READ_COUNT_DEFAULT = 500;

/**
 * How many of `entries` (the stored changes right after `afterSeq`, ascending) form an
 * unbroken chain from `afterSeq`. 0 means the link right after `afterSeq` is missing: a
 * gap. A break further on only shortens the answer; the next read reports the gap there.
 */
export function linkedLength(afterSeq: number, entries: readonly { seq: number; prevSeq: number }[]): number {
  let prev = afterSeq;
  let n = 0;
  for (const entry of entries) {
    if (entry.prevSeq !== prev) break;
    prev = entry.seq;
    n += 1;
  }
  return n;
}

/**
 * A relay bug caught here instead of becoming a broken chain in every edge: seqs must
 * be positive, ascending and linked, and the snapshot must reflect the last change.
 */
export function checkPublishBatch(changes: readonly Change[], snapshot: Snapshot): void {
  const bad = (why: string): never => {
    throw new RangeError(`cannot publish: ${why}`);
  };
  if (!Number.isSafeInteger(snapshot.seq) || snapshot.seq < 0) bad(`snapshot seq ${snapshot.seq} is not a whole number >= 0`);
  changes.forEach((c, i) => {
    if (!Number.isSafeInteger(c.seq) || c.seq < 1) bad(`change seq ${c.seq} is not a whole number >= 1`);
    if (!Number.isSafeInteger(c.prevSeq) || c.prevSeq < 0 || c.prevSeq >= c.seq) {
      bad(`change ${c.seq} has prevSeq ${c.prevSeq}; it must be below its seq`);
    }
    const before = changes[i - 1];
    if (before !== undefined && c.prevSeq !== before.seq) {
      bad(`change ${c.seq} links to ${c.prevSeq} but follows ${before.seq} in the batch`);
    }
  });
  const last = changes[changes.length - 1];
  if (last !== undefined && snapshot.seq < last.seq) {
    bad(`snapshot seq ${snapshot.seq} is older than the last change ${last.seq}`);
  }
}
