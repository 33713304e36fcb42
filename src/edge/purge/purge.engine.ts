/**
 * The edge's purge engine: applies purges in O(1) whatever the number of cached objects
 * (docs/EDGE.md, "Purges on the edge"), answers lookups' "is this object banned?",
 * and runs the lurker that cleans up afterwards.
 *
 * - URL: the key and its Vary variants are removed (hard) or marked soft-purged, in the
 *   same index write transaction that records the purge; this process forgets them from
 *   its memory tier. The record stays as a tombstone (below).
 * - PREFIX / TAG / ALL: a ban is recorded in the index and held in this process's table;
 *   nothing is read or removed at apply. Lookups judge each object they find
 *   (judge()); the lurker removes the covered objects later and retires the ban.
 * - Every put is admitted by the index inside its write transaction only if no purge
 *   recorded at or after its fetch began covers it, so a fetch in flight during a purge
 *   never stores its answer afterwards, whichever process of the edge fetched it.
 * - Times are this edge's clock when it first recorded the purge (not the api's): a
 *   process applying a purge another process of the edge recorded uses that record.
 *
 * Workers of one edge (node:cluster) each follow the bus and apply every purge: the index
 * write is idempotent by purge id (one record, one ban time), each process holds the ban
 * for its own lookups and cleans its own memory tier; the disk lurker runs in one process
 * at a time (a lease in the index).
 */
import type { Clock } from '../../core/clock.port';
import type { PurgeRequest } from '../../core/purge.types';
import type { Logger } from '../../obs/logger.factory';
import type { ObjectMeta } from '../cache/cache-store.port';
import type { PurgeApplied, PurgeApplier } from '../customer-feed.port';
import { covers, fetchedAtOf, isSoftMarked, purgeTarget, sweepDecision, type Verdict } from './ban.rules';
import { BanTable } from './ban.table';
import { purgeTargetOf, type PurgeTarget } from './purge-index.port';
import { PurgeLurker, removeFiles, type LurkerSettings } from './purge.lurker';
import type { BanRecord, PurgeEntry, UrlSweep } from './purge.records';

export interface PurgeEngineOptions extends Partial<LurkerSettings> {
  clock: Clock;
  logger: Logger;
  /** A URL's query as the customer's delivery rules put it in the key, so URL purges are keyed as lookups are. */
  queryOf(customerId: string, path: string, query: string): string;
}

/** Purges recorded per index write transaction by applyMany (a bus read brings at most 500). */
export const APPLY_BATCH = 500;

export const PURGE_DEFAULTS: Readonly<LurkerSettings> = Object.freeze({
  /** Index entries per lurker write transaction. */
  batchSize: 256,
  /** How often a process with bans checks for lurker work and retirements. */
  pollMs: 1000,
  /** A retired ban is still checked this long, then forgotten after a memory sweep. */
  forgetGraceMs: 30_000,
  /** Retired purges are kept (admission checks, idempotency) this long. */
  tombstoneMs: 24 * 3600_000,
  enabled: true,
});

export interface PurgeBacklog {
  /** Bans recorded on this edge and not yet retired by the lurker. */
  bans: number;
  /** Bans this process still checks on lookups (retired ones until their grace ends). */
  held: number;
  /** Objects stored for the customers with active bans (an upper bound of what is left to scan). */
  objects: number;
}

export interface PurgeStats {
  /** Purges this process applied (repeats included). */
  applied: number;
  /** Duration of the last apply, ms (applyMany: of its last batch, one write transaction). */
  lastApplyMs: number;
  /** Index entries read by this process's lurker passes. */
  scanned: number;
  /** Objects this process's lurker removed or marked. */
  lurked: number;
}

export class PurgeEngine implements PurgeApplier {
  readonly #target: PurgeTarget;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #queryOf: (customerId: string, path: string, query: string) => string;
  readonly #table = new BanTable();
  readonly #lurker: PurgeLurker;
  /** customerId -> time of the latest purge this process applied for it (any kind). */
  readonly #latest = new Map<string, number>();
  readonly #background = new Set<Promise<unknown>>();
  readonly #discarding = new Set<string>();
  #chain: Promise<unknown> = Promise.resolve();
  #applied = 0;
  #lastApplyMs = 0;

  constructor(target: PurgeTarget, options: PurgeEngineOptions) {
    this.#target = target;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#queryOf = options.queryOf;
    const settings: LurkerSettings = {
      batchSize: options.batchSize ?? PURGE_DEFAULTS.batchSize,
      pollMs: options.pollMs ?? PURGE_DEFAULTS.pollMs,
      forgetGraceMs: options.forgetGraceMs ?? PURGE_DEFAULTS.forgetGraceMs,
      tombstoneMs: options.tombstoneMs ?? PURGE_DEFAULTS.tombstoneMs,
      enabled: options.enabled ?? PURGE_DEFAULTS.enabled,
    };
    this.#lurker = new PurgeLurker(target, this.#table, { clock: this.#clock, logger: this.#log }, settings);
    target.index.setAdmission((customerId, rest, entry) => this.#admits(customerId, rest, entry));
  }

  async restore(): Promise<void> {
    for (const record of this.#target.index.activeBans()) this.#table.hold(record);
    this.#lurker.kick();
  }

  apply(purge: PurgeRequest, seq: number): Promise<PurgeApplied> {
    return this.applyMany([{ purge, seq }]).then((applied) => applied[0]!);
  }

  /**
   * Applies purges in seq order, each exactly as apply would (idempotent by id, repeats
   * inside the list included), recording up to APPLY_BATCH of them per index write
   * transaction. Resolves with one PurgeApplied per item, in seq order.
   */
  applyMany(items: ReadonlyArray<{ purge: PurgeRequest; seq: number }>): Promise<PurgeApplied[]> {
    const run = this.#chain.then(() => this.#applyMany(items));
    this.#chain = run.catch(() => {});
    return run;
  }

  /** One write transaction for every customer (a first boot may name thousands). */
  purgeAllAfterGap(customerIds: readonly string[], seq: number): Promise<void> {
    const run = this.#chain.then(async () => {
      const at = this.#clock.now();
      const drafts: BanRecord[] = customerIds.map((customerId) => ({ purgeId: `gap:${seq}:${customerId}`, customerId, kind: 'ALL', value: null, soft: false, at, seq, objectsRemoved: 0 }));
      for (const { record } of await this.#target.index.recordPurgeMany(drafts.map((record) => ({ record })))) {
        this.#table.hold(record);
        this.#latest.set(record.customerId, Math.max(this.#latest.get(record.customerId) ?? record.at, record.at));
      }
      this.#lurker.kick();
    });
    this.#chain = run.catch(() => {});
    return run;
  }

  async durable(): Promise<void> {
    await this.#chain;
    await this.#target.index.flushed();
  }

  /**
   * The hit path's question for a stored object of `customerId`: 'hard' (never serve it),
   * 'soft' (stale: revalidate before reuse) or undefined. A customer without bans costs
   * one Map miss.
   */
  judge(customerId: string, meta: ObjectMeta): Verdict {
    const bans = this.#table.of(customerId);
    const verdict = bans === undefined ? undefined : bans.judge(meta.key, customerId.length + 1, meta.tags, fetchedAtOf(meta));
    if (verdict !== undefined) return verdict;
    return meta.softPurgedAt !== undefined && isSoftMarked(meta) ? 'soft' : undefined;
  }

  /**
   * A lookup found a hard-banned object: this process forgets it from memory now, and the
   * index entry (if still the banned one) and its file go in the background.
   */
  discard(customerId: string, meta: ObjectMeta): void {
    const key = meta.key;
    this.#target.memory.forget(key);
    if (this.#discarding.has(key)) return;
    this.#discarding.add(key);
    const rest = key.slice(customerId.length + 1);
    const bans = this.#table.of(customerId);
    if (bans === undefined) return void this.#discarding.delete(key);
    const work = this.#target.index
      .sweep(customerId, [rest], (r, entry) => (sweepDecision(bans, r, entry) === 'remove' ? 'remove' : undefined))
      .then((swept) => removeFiles(customerId, swept.removed, this.#log))
      .catch((err: unknown) => this.#log.warn({ customer: customerId, err: errorMessage(err) }, 'purge: cannot remove a banned object'))
      .finally(() => this.#discarding.delete(key));
    this.#track(work);
  }

  /**
   * May a request join an origin fetch of this customer that began at `startedAt`? Not
   * when a purge was applied since (its answer may be what the purge removed).
   */
  joinable(customerId: string, startedAt: number): boolean {
    const latest = this.#latest.get(customerId);
    return latest === undefined || startedAt > latest;
  }

  backlog(): PurgeBacklog {
    const active = this.#target.index.activeBans();
    let objects = 0;
    for (const customerId of new Set(active.map((b) => b.customerId))) objects += this.#target.index.objects(customerId);
    return { bans: active.length, held: this.#table.size, objects };
  }

  stats(): PurgeStats {
    return { applied: this.#applied, lastApplyMs: this.#lastApplyMs, scanned: this.#lurker.scanned, lurked: this.#lurker.dealt };
  }

  /** Objects stored for a customer on this edge (the index's totals). */
  objects(customerId: string): number {
    return this.#target.index.objects(customerId);
  }

  /** Runs a lurker round now and waits for it (tests, benchmarks). */
  async lurk(): Promise<void> {
    await this.#lurker.idle();
    this.#lurker.kick(true);
    await this.#lurker.idle();
  }

  async close(): Promise<void> {
    await this.#chain;
    await this.#lurker.close();
    while (this.#background.size > 0) await Promise.all([...this.#background]);
  }

  async #applyMany(items: ReadonlyArray<{ purge: PurgeRequest; seq: number }>): Promise<PurgeApplied[]> {
    const ordered = [...items].sort((x, y) => x.seq - y.seq);
    const out: PurgeApplied[] = [];
    for (let i = 0; i < ordered.length; i += APPLY_BATCH) out.push(...(await this.#applyBatch(ordered.slice(i, i + APPLY_BATCH))));
    return out;
  }

  /** One index write transaction for the batch; then files, memory tier and bans, in seq order. */
  async #applyBatch(batch: ReadonlyArray<{ purge: PurgeRequest; seq: number }>): Promise<PurgeApplied[]> {
    const started = performance.now();
    const index = this.#target.index;
    const drafts = batch.map(({ purge, seq }) => {
      const { customerId } = purge;
      const target = purgeTarget(purge, (path, query) => this.#queryOf(customerId, path, query));
      const at = this.#clock.now();
      const record: BanRecord = { purgeId: purge.id, customerId, kind: target.kind, value: target.value, soft: purge.soft, at, seq, objectsRemoved: 0 };
      if (target.kind === 'URL') record.retiredAt = at;
      const url: UrlSweep | undefined = target.kind === 'URL' ? { rest: target.value!, decide: (_rest, entry) => urlDecision(entry, purge.soft, at) } : undefined;
      return { record, url };
    });
    // A purge already recorded (by this process, another one of the edge, or earlier in this batch) changes nothing.
    const results = await index.recordPurgeMany(drafts);
    const files: Array<Promise<void>> = [];
    let bans = false;
    const done = batch.map(({ purge, seq }, i) => {
      const { record, created, swept } = results[i]!;
      if (created) {
        files.push(removeFiles(record.customerId, swept.removed, this.#log));
        this.#forgetUrl(record, [...swept.removed.map((r) => r.rest), ...swept.marked]);
      } else {
        this.#forgetUrl(record, undefined);
      }
      if (record.kind !== 'URL') {
        this.#table.hold(record);
        bans = true;
      }
      this.#latest.set(record.customerId, Math.max(this.#latest.get(record.customerId) ?? record.at, record.at));
      return { purge, seq, record, objectsRemoved: created ? record.objectsRemoved : 0, duplicate: !created };
    });
    await Promise.all(files);
    if (bans) this.#lurker.kick();
    const durationMs = performance.now() - started;
    this.#applied += batch.length;
    this.#lastApplyMs = durationMs;
    return done.map(({ purge, seq, record, objectsRemoved, duplicate }) => {
      this.#log.debug({ customer: record.customerId, purge: purge.id, kind: record.kind, soft: record.soft, seq, objectsRemoved, duplicate, batch: batch.length, ms: durationMs }, 'purge applied');
      return { purgeId: purge.id, seq, appliedAt: record.at, objectsRemoved, duplicate, durationMs };
    });
  }

  /**
   * A URL purge in this process's memory tier: the URL's key (an object or a Vary
   * marker: without it, variants held in memory are retired by their epoch) and the
   * variants known from the index.
   */
  #forgetUrl(record: BanRecord, rests: string[] | undefined): void {
    if (record.kind !== 'URL' || record.value === null) return;
    const prefix = `${record.customerId}\n`;
    this.#target.memory.forget(prefix + record.value);
    const known = rests ?? [...this.#target.index.scanPrefix(record.customerId, `${record.value}\n`)].map((e) => e.rest);
    for (const rest of known) this.#target.memory.forget(prefix + rest);
  }

  /** The put admission (inside the index's write transaction). */
  #admits(customerId: string, rest: string, entry: PurgeEntry): boolean {
    for (const ban of this.#target.index.bansSince(customerId, fetchedAtOf(entry))) {
      if (covers(ban, rest, entry.tags)) return false;
    }
    return true;
  }

  #track(p: Promise<unknown>): void {
    this.#background.add(p);
    void p.finally(() => this.#background.delete(p));
  }
}

/** What a URL purge does to the URL's entry or one of its variants. */
function urlDecision(entry: PurgeEntry, soft: boolean, at: number): 'remove' | { softPurgedAt: number } | undefined {
  if (!soft) return 'remove';
  // A Vary marker has nothing to revalidate; its variants are marked one by one.
  if (entry.vary !== undefined || fetchedAtOf(entry) > at) return undefined;
  return (entry.softPurgedAt ?? Number.NEGATIVE_INFINITY) >= at ? undefined : { softPurgedAt: at };
}

/**
 * The engine over a store that can carry purges (purgeTargetOf: the tiered store the edge
 * runs); undefined for any other store (the edge then runs without purges).
 */
export function createPurgeEngine(store: object, options: PurgeEngineOptions): PurgeEngine | undefined {
  const target = purgeTargetOf(store);
  return target === undefined ? undefined : new PurgeEngine(target, options);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
