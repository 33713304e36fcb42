/**
 * The rules of purges on the edge (docs/EDGE.md, "Purges on the edge"; after
 * Varnish's bans): what a purge covers, and the per-customer structure every lookup
 * checks. Pure: no I/O, no clock.
 *
 * A ban covers a stored object when the object's fetch began at or before the ban's time
 * (`fetchedAt <= at`) and its key or tags match. Fetch start, not arrival: a fetch that
 * began before the purge and completed after it must not survive it.
 */
import { applyQueryPolicy } from '../../core/delivery-rules.apply';
import type { PurgeKind, PurgeRequest } from '../../core/purge.types';
import { splitTarget } from '../cache/cache-key';
import type { ObjectMeta } from '../cache/cache-store.port';

/** A purge as the rules see it (BanRecord in the index carries more). */
export interface Ban {
  purgeId: string;
  customerId: string;
  kind: PurgeKind;
  /** URL: normalised `path?query`; PREFIX: the prefix; TAG: the tag; ALL: null. */
  value: string | null;
  soft: boolean;
  /** Edge clock, ms. */
  at: number;
}

/** What a ban does to a stored object: nothing, make it stale (revalidate), or make it a miss. */
export type Verdict = 'hard' | 'soft' | undefined;

/** match() results: HARD, NONE, or else the time of the newest soft ban covering the object. */
export const HARD = Number.POSITIVE_INFINITY;
export const NONE = Number.NEGATIVE_INFINITY;

/** When the object's fetch began (objects stored before fetchedAt existed: when stored). */
export function fetchedAtOf(meta: Pick<ObjectMeta, 'fetchedAt' | 'storedAt'>): number {
  return meta.fetchedAt ?? meta.storedAt;
}

/** A soft purge marked this object stale and no revalidation has happened since. */
export function isSoftMarked(meta: Pick<ObjectMeta, 'fetchedAt' | 'storedAt' | 'softPurgedAt'>): boolean {
  return meta.softPurgedAt !== undefined && fetchedAtOf(meta) <= meta.softPurgedAt;
}

/**
 * What a purge request covers, normalised the way lookups key objects: a URL's query by
 * the customer's query-string policy (cache-key.ts), exactly as resolveStep does. An
 * absolute URL is reduced to its path and query. Input that would cover nothing by
 * mistake (an empty prefix, tag or URL) becomes ALL: when in doubt, purge more.
 */
/**
 * How a URL's query enters its key: the customer's delivery rules for that path
 * (edge/pipeline/customer-rules.ts urlQueryOf); absent, every parameter, sorted.
 */
export type QueryOf = (path: string, query: string) => string;

const ALL_PARAMETERS: QueryOf = (_path, query) => applyQueryPolicy(query, { mode: 'all' });

export function purgeTarget(purge: Pick<PurgeRequest, 'kind' | 'value'>, queryOf: QueryOf = ALL_PARAMETERS): { kind: PurgeKind; value: string | null } {
  const value = purge.value ?? '';
  switch (purge.kind) {
    case 'URL': {
      const rest = urlRest(value, queryOf);
      return rest === undefined ? { kind: 'ALL', value: null } : { kind: 'URL', value: rest };
    }
    case 'PREFIX': {
      const prefix = pathOf(value);
      return prefix === undefined ? { kind: 'ALL', value: null } : { kind: 'PREFIX', value: prefix };
    }
    case 'TAG':
      return value.trim() === '' ? { kind: 'ALL', value: null } : { kind: 'TAG', value: value.trim() };
    default:
      return { kind: 'ALL', value: null };
  }
}

/** `path?query` (the cache key after the customer id) of a URL purge's value. */
export function urlRest(value: string, queryOf: QueryOf = ALL_PARAMETERS): string | undefined {
  const target = pathOf(value);
  if (target === undefined) return undefined;
  const { path, query } = splitTarget(target);
  return `${path}?${queryOf(path, query)}`;
}

/** A path (with its query, if any) as sent in a request target: absolute URLs reduced, fragments dropped; undefined when not a path. */
function pathOf(value: string): string | undefined {
  let target = value.trim();
  const hash = target.indexOf('#');
  if (hash >= 0) target = target.slice(0, hash);
  if (/^https?:\/\//i.test(target)) {
    try {
      const url = new URL(target);
      target = url.pathname + url.search;
    } catch {
      return undefined;
    }
  }
  return target.startsWith('/') ? target : undefined;
}

/** Whether a ban's key or tag rule matches (time aside). `rest` is `path?query[\nvariant]`. */
export function covers(ban: Pick<Ban, 'kind' | 'value'>, rest: string, tags: readonly string[] | undefined): boolean {
  switch (ban.kind) {
    case 'ALL':
      return true;
    case 'PREFIX':
      return rest.startsWith(ban.value!);
    case 'TAG':
      return tags !== undefined && tags.includes(ban.value!);
    case 'URL':
      return rest === ban.value || rest.startsWith(`${ban.value}\n`);
  }
}

/** The newest hard and soft ban times of one rule (NONE when there is none). */
interface Slot {
  hard: number;
  soft: number;
}

/**
 * One customer's bans, indexed so that judging an object costs: nothing when its fetch
 * began after the newest ban; else one look at the ALL generation, one Map lookup per tag
 * of the object, and one per distinct prefix length not longer than its key. URL purges
 * are not held here (their keys are deleted at once).
 */
export class CustomerBans {
  readonly #bans = new Map<string, Ban>();
  #all: Slot = { hard: NONE, soft: NONE };
  readonly #prefixes = new Map<string, Slot>();
  /** Distinct prefix lengths, ascending. */
  #lengths: number[] = [];
  readonly #tags = new Map<string, Slot>();
  #newest = NONE;

  get size(): number {
    return this.#bans.size;
  }

  /** The newest ban time (NONE when empty). */
  get newest(): number {
    return this.#newest;
  }

  has(purgeId: string): boolean {
    return this.#bans.has(purgeId);
  }

  bans(): IterableIterator<Ban> {
    return this.#bans.values();
  }

  /** Adds a PREFIX, TAG or ALL ban; false when already held (or a URL purge). */
  add(ban: Ban): boolean {
    if (ban.kind === 'URL' || this.#bans.has(ban.purgeId)) return false;
    this.#bans.set(ban.purgeId, ban);
    this.#index(ban);
    return true;
  }

  /** Forgets bans by purge id (the structure is rebuilt from those left). */
  delete(purgeIds: Iterable<string>): void {
    let changed = false;
    for (const id of purgeIds) changed = this.#bans.delete(id) || changed;
    if (!changed) return;
    this.#all = { hard: NONE, soft: NONE };
    this.#prefixes.clear();
    this.#tags.clear();
    this.#lengths = [];
    this.#newest = NONE;
    for (const ban of this.#bans.values()) this.#index(ban);
  }

  /**
   * The verdict for an object of this customer: `key` holds `path?query[\nvariant]` from
   * `offset` (a whole cache key with offset = customer id length + 1, or a bare `rest`).
   */
  judge(key: string, offset: number, tags: readonly string[] | undefined, fetchedAt: number): Verdict {
    if (fetchedAt > this.#newest) return undefined;
    const m = this.match(key, offset, tags, fetchedAt);
    return m === HARD ? 'hard' : m === NONE ? undefined : 'soft';
  }

  /** HARD, NONE, or the newest soft ban time covering the object. */
  match(key: string, offset: number, tags: readonly string[] | undefined, fetchedAt: number): number {
    if (fetchedAt > this.#newest) return NONE;
    let soft = NONE;
    const all = this.#all;
    if (fetchedAt <= all.hard) return HARD;
    if (fetchedAt <= all.soft) soft = all.soft;
    if (tags !== undefined && this.#tags.size > 0) {
      for (const tag of tags) {
        const slot = this.#tags.get(tag);
        if (slot === undefined) continue;
        if (fetchedAt <= slot.hard) return HARD;
        if (fetchedAt <= slot.soft && slot.soft > soft) soft = slot.soft;
      }
    }
    if (this.#prefixes.size > 0) {
      const available = key.length - offset;
      for (const length of this.#lengths) {
        if (length > available) break;
        const slot = this.#prefixes.get(key.slice(offset, offset + length));
        if (slot === undefined) continue;
        if (fetchedAt <= slot.hard) return HARD;
        if (fetchedAt <= slot.soft && slot.soft > soft) soft = slot.soft;
      }
    }
    return soft;
  }

  #index(ban: Ban): void {
    let slot: Slot;
    if (ban.kind === 'ALL') {
      slot = this.#all;
    } else if (ban.kind === 'TAG') {
      slot = this.#tags.get(ban.value!) ?? { hard: NONE, soft: NONE };
      this.#tags.set(ban.value!, slot);
    } else {
      const prefix = ban.value!;
      slot = this.#prefixes.get(prefix) ?? { hard: NONE, soft: NONE };
      if (!this.#prefixes.has(prefix)) {
        this.#prefixes.set(prefix, slot);
        if (!this.#lengths.includes(prefix.length)) this.#lengths = [...this.#lengths, prefix.length].sort((a, b) => a - b);
      }
    }
    if (ban.soft) slot.soft = Math.max(slot.soft, ban.at);
    else slot.hard = Math.max(slot.hard, ban.at);
    this.#newest = Math.max(this.#newest, ban.at);
  }
}

/**
 * The key ranges a lurker pass over these prefixes must read: each prefix once, none
 * inside another (`/a/` covers `/a/b/`).
 */
export function outermostPrefixes(prefixes: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of [...new Set(prefixes)].sort()) {
    if (!out.some((o) => p.startsWith(o))) out.push(p);
  }
  return out;
}

/** What a lurker (or a lookup's clean-up) does with a stored entry under these bans. */
export function sweepDecision(
  bans: CustomerBans,
  rest: string,
  entry: Pick<ObjectMeta, 'fetchedAt' | 'storedAt' | 'softPurgedAt' | 'tags'>,
): 'remove' | { softPurgedAt: number } | undefined {
  const m = bans.match(rest, 0, entry.tags, fetchedAtOf(entry));
  if (m === HARD) return 'remove';
  if (m === NONE || (entry.softPurgedAt !== undefined && entry.softPurgedAt >= m)) return undefined;
  return { softPurgedAt: m };
}
