/**
 * Heavy hitters in bounded memory: the Space-Saving algorithm (Metwally, Agrawal, El Abbadi,
 * "Efficient Computation of Frequent and Top-k Elements in Data Streams", ICDT 2005), for the
 * top URLs of a customer (issue 16). At most `capacity` keys are counted; a new key when the
 * table is full takes the place of the key with the smallest count and inherits that count as
 * its possible overestimate (`error`). So for every key kept, `count - error <= true count <=
 * count`, and every key whose true count exceeds N / capacity (N: everything offered) is kept.
 *
 * Why our own: the sketches on npm are count-min sketches without the key list, or unkept; this
 * is sixty lines, and the bounds above are what the top-URL queries promise (docs/API.md).
 *
 * The minimum is found through the stream-summary structure of the paper: buckets of keys with
 * equal counts, in a list ordered by count, so the smallest count is the list's head and an
 * increment moves a key to the next bucket (or a new one after it): O(1) per offer of one.
 */

export interface TopEntry {
  key: string;
  /** An upper bound of the key's true count. */
  count: number;
  /** How much of `count` may be inherited from evicted keys: count - error is a lower bound. */
  error: number;
}

interface Bucket {
  count: number;
  entries: Set<Slot>;
  prev: Bucket | undefined;
  next: Bucket | undefined;
}

interface Slot {
  key: string;
  error: number;
  bucket: Bucket;
}

export class SpaceSaving {
  readonly capacity: number;
  readonly #slots = new Map<string, Slot>();
  /** The bucket of the smallest count (the list runs up from here). */
  #head: Bucket | undefined;
  #total = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  /** Everything offered (the stream's length, N). */
  get total(): number {
    return this.#total;
  }

  get size(): number {
    return this.#slots.size;
  }

  /** Counts `n` occurrences of `key`. */
  offer(key: string, n = 1): void {
    if (n <= 0) return;
    this.#total += n;
    const slot = this.#slots.get(key);
    if (slot !== undefined) {
      this.#raise(slot, slot.bucket.count + n);
      return;
    }
    if (this.#slots.size < this.capacity) {
      this.#insert(key, n);
      return;
    }
    // Full: the new key takes the place of one with the smallest count, inheriting it as its error.
    const head = this.#head!;
    const victim = head.entries.values().next().value as Slot;
    this.#slots.delete(victim.key);
    victim.key = key;
    victim.error = head.count;
    this.#slots.set(key, victim);
    this.#raise(victim, head.count + n);
  }

  /** The `n` keys with the highest counts, highest first (ties by key). */
  top(n = this.capacity): TopEntry[] {
    return [...this.#slots.values()]
      .map((s) => ({ key: s.key, count: s.bucket.count, error: s.error }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, n);
  }

  /** Clears every count (the next interval starts empty). */
  clear(): void {
    this.#slots.clear();
    this.#head = undefined;
    this.#total = 0;
  }

  /** A new key with count n: into the bucket of n, found from the head (n is small: usually 1). */
  #insert(key: string, n: number): void {
    let before: Bucket | undefined;
    let b = this.#head;
    while (b !== undefined && b.count < n) {
      before = b;
      b = b.next;
    }
    const bucket = b !== undefined && b.count === n ? b : this.#link(n, before, b);
    const slot: Slot = { key, error: 0, bucket };
    bucket.entries.add(slot);
    this.#slots.set(key, slot);
  }

  /** Moves a slot up to `count`: the next bucket when it has that count, else a new one after the last below it. */
  #raise(slot: Slot, count: number): void {
    const from = slot.bucket;
    let before = from;
    let b = from.next;
    while (b !== undefined && b.count < count) {
      before = b;
      b = b.next;
    }
    const to = b !== undefined && b.count === count ? b : this.#link(count, before, b);
    from.entries.delete(slot);
    to.entries.add(slot);
    slot.bucket = to;
    if (from.entries.size === 0) this.#unlink(from);
  }

  #link(count: number, prev: Bucket | undefined, next: Bucket | undefined): Bucket {
    const bucket: Bucket = { count, entries: new Set(), prev, next };
    if (prev === undefined) this.#head = bucket;
    else prev.next = bucket;
    if (next !== undefined) next.prev = bucket;
    return bucket;
  }

  #unlink(bucket: Bucket): void {
    if (bucket.prev === undefined) this.#head = bucket.next;
    else bucket.prev.next = bucket.next;
    if (bucket.next !== undefined) bucket.next.prev = bucket.prev;
  }
}

/** A key of merged summaries: `count - error <= true count <= count + missing`. */
export interface MergedTopEntry extends TopEntry {
  /** What the key may have had in summaries that did not keep it (their smallest kept count each). */
  missing: number;
}

/**
 * Merges summaries of several streams (edges, minutes) into one ranking: counts and errors add
 * up per key, and the ranking is by that sum. A key missing from a full summary may still have
 * occurred there up to that summary's smallest kept count (`floor`): that goes to `missing`, so
 * `count - error <= true <= count + missing` is a stated bound (mergeable summaries, Agarwal et
 * al. 2012, in their simplest form), without letting a key that was hot in one stream only
 * outrank keys seen everywhere on guesses.
 */
export function mergeTop(summaries: ReadonlyArray<{ entries: readonly TopEntry[]; floor: number }>, n: number): MergedTopEntry[] {
  const merged = new Map<string, MergedTopEntry>();
  for (const { entries } of summaries) {
    for (const e of entries) {
      const m = merged.get(e.key);
      if (m === undefined) merged.set(e.key, { key: e.key, count: e.count, error: e.error, missing: 0 });
      else {
        m.count += e.count;
        m.error += e.error;
      }
    }
  }
  for (const { entries, floor } of summaries) {
    if (floor <= 0) continue;
    const present = new Set(entries.map((e) => e.key));
    for (const m of merged.values()) if (!present.has(m.key)) m.missing += floor;
  }
  return [...merged.values()].sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1)).slice(0, n);
}
