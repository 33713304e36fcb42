/**
 * The lurker (after Varnish's ban lurker): in the background, removes from the index and
 * the disk the objects active bans cover (or marks them soft-purged), then retires the
 * bans; and lets each process forget bans once its own memory tier is clean of them.
 *
 * Each round:
 * 1. Disk: the process holding the `purge-lurker` lease in the index (`claim()`, renewed
 *    while it works; a dead holder's lease is taken over at once) walks every active ban
 *    in the index, customer by customer: one pass over the key range of each outermost
 *    PREFIX, or over the whole customer when it has TAG or ALL bans, `batchSize` entries
 *    per read and one write transaction per batch (each entry judged again inside it),
 *    yielding to the event loop between batches so hits are not delayed. Then it retires
 *    the bans of the pass. A pass is idempotent: a holder that dies mid-way is replaced by
 *    one that starts the pass again.
 * 2. Tombstones older than `tombstoneMs` are trimmed (any process, once a minute).
 * 3. Memory (every process, for itself): a ban the index says is retired, for longer than
 *    `forgetGraceMs` (so a disk read that began before the retirement has finished), is
 *    dropped after one sweep of this process's memory tier for the objects it covers.
 */
import { unlink } from 'node:fs/promises';
import type { Clock } from '../../core/clock.port';
import type { Logger } from '../../obs/logger.factory';
import { CustomerBans, fetchedAtOf, outermostPrefixes, sweepDecision, type Ban } from './ban.rules';
import type { BanTable } from './ban.table';
import type { PurgeTarget } from './purge-index.port';
import { banKey, type BanRecord, type PurgeEntry, type SweptEntry } from './purge.records';

export const LURKER_JOB = 'purge-lurker';
const LEASE_MS = 30_000;
const TRIM_EVERY_MS = 60_000;

export interface LurkerSettings {
  batchSize: number;
  pollMs: number;
  forgetGraceMs: number;
  tombstoneMs: number;
  /** false: no round unless asked for (lurk(); tests of bans alone, benchmarks). */
  enabled: boolean;
}

export class PurgeLurker {
  /** Index entries read by this process's passes (a measure of work, never of apply). */
  scanned = 0;
  /** Objects this process's passes removed or marked. */
  dealt = 0;
  readonly #target: PurgeTarget;
  readonly #table: BanTable;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #settings: LurkerSettings;
  readonly #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #leaseAt = 0;
  #trimmedAt = 0;

  constructor(target: PurgeTarget, table: BanTable, deps: { clock: Clock; logger: Logger }, settings: LurkerSettings) {
    this.#target = target;
    this.#table = table;
    this.#clock = deps.clock;
    this.#log = deps.logger;
    this.#settings = settings;
    // Not at once: nothing to trim at start, and no write transaction while the edge starts.
    this.#trimmedAt = this.#clock.now();
    if (settings.enabled) {
      this.#timer = setInterval(() => {
        if (this.#table.size > 0 || this.#target.index.activeBanCount() > 0) this.kick();
      }, settings.pollMs);
      this.#timer.unref();
    }
  }

  /** Runs a round soon (another one after the current, if running); `force` even when not enabled. */
  kick(force = false): void {
    if (this.#closed || (!this.#settings.enabled && !force)) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => (this.#running = undefined));
  }

  /** Resolves when no round runs (tests). */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.idle();
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      await yieldToLoop();
      try {
        await this.#lurkDisk();
        await this.#trim();
        this.#forgetRetired();
      } catch (err) {
        if (!this.#closed) this.#log.warn({ err: errorMessage(err) }, 'purge lurker round failed; retrying on the next');
      }
    } while (this.#again && !this.#closed);
  }

  async #lurkDisk(): Promise<void> {
    const active = this.#target.index.activeBans();
    if (active.length === 0 || !(await this.#lease())) return;
    const byCustomer = new Map<string, BanRecord[]>();
    for (const ban of active) {
      if (ban.kind === 'URL') continue; // born retired; never active
      const list = byCustomer.get(ban.customerId) ?? [];
      list.push(ban);
      byCustomer.set(ban.customerId, list);
    }
    for (const [customerId, bans] of byCustomer) {
      const dealt = await this.#pass(customerId, bans);
      if (dealt === undefined) return;
      await this.#target.index.retireBans(
        bans.map((b) => ({ key: banKey(b), lurked: dealt })),
        this.#clock.now(),
      );
      this.#log.debug({ customer: customerId, bans: bans.length, objects: dealt }, 'purge lurker retired bans');
    }
  }

  /** One pass over what these bans may cover; undefined when stopped (closed, lease lost). */
  async #pass(customerId: string, records: readonly BanRecord[]): Promise<number | undefined> {
    const index = this.#target.index;
    // Nothing stored (a customer this edge never cached, or just dropped): nothing to read.
    if (index.objects(customerId) === 0) return 0;
    const bans = new CustomerBans();
    for (const r of records) bans.add(r);
    const whole = records.some((r) => r.kind === 'TAG' || r.kind === 'ALL');
    const ranges = whole ? [''] : outermostPrefixes(records.map((r) => r.value!));
    const decide = (rest: string, entry: PurgeEntry) => sweepDecision(bans, rest, entry);
    let dealt = 0;
    for (const prefix of ranges) {
      let after: string | undefined;
      do {
        const page = index.page(customerId, prefix, after, this.#settings.batchSize);
        this.scanned += page.items.length;
        const candidates = page.items.filter(({ rest, entry }) => decide(rest, entry) !== undefined).map((i) => i.rest);
        if (candidates.length > 0) {
          const swept = await index.sweep(customerId, candidates, decide);
          await removeFiles(customerId, swept.removed, this.#log);
          dealt += swept.removed.length + swept.marked.length;
          this.dealt += swept.removed.length + swept.marked.length;
        }
        after = page.next;
        await yieldToLoop();
        if (this.#closed || !(await this.#lease())) return undefined;
      } while (after !== undefined);
    }
    return dealt;
  }

  /** Holds (or renews) the lease that makes this process the edge's disk lurker. */
  async #lease(): Promise<boolean> {
    const now = Date.now();
    if (this.#leaseAt !== 0 && now - this.#leaseAt < LEASE_MS / 3) return true;
    const held = await this.#target.index.lease(LURKER_JOB, LEASE_MS);
    this.#leaseAt = held ? now : 0;
    return held;
  }

  async #trim(): Promise<void> {
    const now = this.#clock.now();
    if (now - this.#trimmedAt < TRIM_EVERY_MS) return;
    this.#trimmedAt = now;
    const trimmed = await this.#target.index.trimBans(now - this.#settings.tombstoneMs);
    if (trimmed > 0) this.#log.debug({ trimmed }, 'purge tombstones trimmed');
  }

  /** Forgets retired bans (after the grace) once this process's memory holds nothing they cover. */
  #forgetRetired(): void {
    if (this.#table.size === 0) return;
    const now = this.#clock.now();
    const due: Ban[] = [];
    for (const ban of this.#table.held()) {
      let retiredAt = this.#table.retiredAt(ban.purgeId);
      if (retiredAt === undefined) {
        const record = this.#target.index.banRecord(banKey(ban));
        // Gone from the index (tombstone trimmed): long retired.
        retiredAt = record === undefined ? now : record.retiredAt;
        if (retiredAt === undefined) continue;
        this.#table.noteRetired(ban.purgeId, retiredAt);
      }
      if (now - retiredAt >= this.#settings.forgetGraceMs) due.push(ban);
    }
    if (due.length === 0) return;
    const byCustomer = new Map<string, CustomerBans>();
    for (const ban of due) {
      let bans = byCustomer.get(ban.customerId);
      if (bans === undefined) byCustomer.set(ban.customerId, (bans = new CustomerBans()));
      bans.add(ban);
    }
    const dropped = this.#target.memory.forgetWhere((key, meta) => {
      const nl = key.indexOf('\n');
      const bans = byCustomer.get(key.slice(0, nl));
      return bans !== undefined && bans.judge(key, nl + 1, meta.tags, fetchedAtOf(meta)) !== undefined;
    });
    this.#table.release(due);
    this.#log.debug({ bans: due.length, memoryObjects: dropped }, 'purge bans forgotten by this process');
  }
}

/** Removes the body files of removed index entries (an empty or inline body has none). */
export async function removeFiles(customerId: string, removed: readonly SweptEntry[], log: Logger): Promise<void> {
  await Promise.all(
    removed
      .flatMap((r) => (r.bodyFile === undefined ? [] : [r.bodyFile]))
      .map((file) =>
        unlink(file).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') log.warn({ customer: customerId, err: err.message }, 'purge: cannot remove a cached file');
        }),
      ),
  );
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
