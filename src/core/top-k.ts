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
 * The minimum is found through count buckets (the stream-summary structure): a map from count to
 * the keys with that count, and the smallest count tracked; it is looked for again only when its
 * bucket empties (a scan of the distinct counts, at most `capacity`).
 */

export interface TopEntry {
  key: string;
  /** An upper bound of the key's true count. */
  count: number;
  /** How much of `count` may be inherited from evicted keys: count - error is a lower bound. */
  error: number;
}

export class SpaceSaving {
  readonly capacity: number;
  readonly #entries = new Map<string, TopEntry>();
  /** count → the keys with exactly that count. */
  readonly #byCount = new Map<number, Set<string>>();
  #min = 0;
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
    return this.#entries.size;
  }

  /** Counts `n` occurrences of `key`. */
  offer(key: string, n = 1): void {
    if (n <= 0) return;
    this.#total += n;
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      this.#move(entry, entry.count + n);
      return;
    }
    if (this.#entries.size < this.capacity) {
      const fresh = { key, count: 0, error: 0 };
      this.#entries.set(key, fresh);
      this.#move(fresh, n, true);
      return;
    }
    // Full: the new key takes the place of one with the smallest count, inheriting it as its error.
    const victims = this.#byCount.get(this.#min)!;
    const victimKey = victims.values().next().value as string;
    const victim = this.#entries.get(victimKey)!;
    this.#entries.delete(victimKey);
    victims.delete(victimKey);
    if (victims.size === 0) this.#byCount.delete(victim.count);
    const taken = { key, count: victim.count, error: victim.count };
    this.#entries.set(key, taken);
    this.#place(taken, victim.count + n);
  }

  /** The `n` keys with the highest counts, highest first (ties by key). */
  top(n = this.capacity): TopEntry[] {
    return [...this.#entries.values()]
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, n)
      .map((e) => ({ ...e }));
  }

  /** Clears every count (the next interval starts empty). */
  clear(): void {
    this.#entries.clear();
    this.#byCount.clear();
    this.#min = 0;
    this.#total = 0;
  }

  #move(entry: TopEntry, count: number, fresh = false): void {
    if (!fresh) {
      const bucket = this.#byCount.get(entry.count)!;
      bucket.delete(entry.key);
      if (bucket.size === 0) this.#byCount.delete(entry.count);
    }
    this.#place(entry, count);
  }

  #place(entry: TopEntry, count: number): void {
    entry.count = count;
    let bucket = this.#byCount.get(count);
    if (bucket === undefined) this.#byCount.set(count, (bucket = new Set()));
    bucket.add(entry.key);
    // The smallest count: a new key may be below it; a key leaving the smallest bucket may raise it.
    if (this.#entries.size === 1 || count < this.#min) this.#min = count;
    else if (!this.#byCount.has(this.#min)) this.#min = Math.min(...this.#byCount.keys());
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
