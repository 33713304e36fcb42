/**
 * Keeps the edge's customers current from the change bus (docs/ARCHITECTURE.md, "The change bus"):
 * boot from the bus snapshot (or, when the bus is unreachable, from the last-known-good
 * copy on disk), then follow the chain of changes with blocking reads. A `gap` (trimmed
 * history, restarted Redis) reloads the snapshot. Bus errors are retried with backoff
 * while the edge keeps serving what it knows. The bus belongs to the caller.
 *
 * Warms (`warm.requested`) are handed to `onWarmRequested` listeners in their place (edge/warm
 * runs them in the background); they are not in the snapshot, so a reload skips those before it.
 *
 * Purges (`purge.requested`) go to the attached PurgeApplier in seq order, each run of
 * consecutive purges of one read together (applyMany: few index write transactions);
 * the applied seq moves past a purge only once it is in effect on this edge, and is saved
 * in the last-known-good file (and the purge acknowledged to `onPurgeApplied` listeners)
 * only once the purge is flushed to disk, so the saved seq never runs ahead of the purges
 * applied. After a gap
 * (and at boot), every customer whose latest purge (`Snapshot.purgeSeqs`) is above the
 * seq this edge had applied is purged whole: it may have missed that purge, and when in
 * doubt the edge purges more, never less.
 */
import type { Change, Snapshot } from '../../core/bus.events';
import { isKnownEvent } from '../../core/bus.events';
import type { ChangeBus } from '../../core/bus.port';
import type { PurgeRequest } from '../../core/purge.types';
import type { WarmRequest } from '../../core/warm.types';
import type { Logger } from '../../obs/logger.factory';
import type { EdgeCustomerFeed, PurgeApplier, PurgeAppliedAck, PurgeAppliedListener, CustomerFeedListener } from '../customer-feed.port';
import { SnapshotFile } from './snapshot-file';
import { CustomerIndex } from './customer-index';

export interface BusCustomerFeedOptions {
  /** Where the last-known-good snapshot lives (`<dataDir>/edge-snapshot.json`). */
  dataDir: string;
  logger: Logger;
  /** How long one read waits for changes (default 5 s, or less: see maxDetachedSeconds). */
  blockMs?: number;
  /**
   * CDN_EDGE_MAX_DETACHED_SECONDS. An idle edge learns it is current only when a read
   * returns, so a read waits at most half of this: a longer wait would fail /readyz of an
   * edge that is connected and merely has nothing to read.
   */
  maxDetachedSeconds?: number;
  /** Backoff after a bus error: doubles from min to max. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

type Stop = { stopped: true };

export function createBusCustomerFeed(bus: ChangeBus, options: BusCustomerFeedOptions): BusCustomerFeed {
  return new BusCustomerFeed(bus, options);
}

export class BusCustomerFeed implements EdgeCustomerFeed {
  readonly #bus: ChangeBus;
  readonly #log: Logger;
  readonly #index = new CustomerIndex();
  readonly #file: SnapshotFile;
  readonly #blockMs: number;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  #seq = 0;
  /** The newest seq this feed knows the bus holds (bus lag = this minus the applied seq). */
  #busSeq = 0;
  /** The seq saved on disk when this feed started: purges up to it were durable before. */
  #bootSeq = 0;
  #purges: PurgeApplier | undefined;
  readonly #purgeListeners = new Set<PurgeAppliedListener>();
  readonly #warmListeners = new Set<(warm: WarmRequest) => void>();
  /** Acks of purges applied but not yet known flushed; told once they are. */
  #pendingAcks: PurgeAppliedAck[] = [];
  #unflushed = false;
  #ready = false;
  #markReady!: () => void;
  readonly ready = new Promise<void>((resolve) => (this.#markReady = resolve));
  #loop: Promise<void> | undefined;
  #stopped = false;
  /** When the bus was last read to its end (or the feed started). */
  #contactAt = Date.now();
  #stalled = false;
  #stallTimer: NodeJS.Timeout | undefined;
  #wakeStop!: (s: Stop) => void;
  readonly #stopSignal = new Promise<Stop>((resolve) => (this.#wakeStop = resolve));

  constructor(bus: ChangeBus, options: BusCustomerFeedOptions) {
    this.#bus = bus;
    this.#log = options.logger;
    this.#file = new SnapshotFile(options.dataDir);
    this.#blockMs = options.blockMs ?? Math.min(BLOCK_MS_DEFAULT, Math.floor(((options.maxDetachedSeconds ?? Infinity) * 1000) / 2));
    this.#retryMinMs = options.retryMinMs ?? 200;
    this.#retryMaxMs = options.retryMaxMs ?? 5000;
  }

  byHost = (host: string) => this.#index.byHost(host);
  byId = (id: string) => this.#index.byId(id);
  all = () => this.#index.all();
  count = () => this.#index.count();
  subscribe = (listener: CustomerFeedListener) => this.#index.subscribe(listener);
  isReady = () => this.#ready;
  /**
   * The seq applied here, as others may rely on it: while acks of applied purges wait for
   * durability, the seq just below the first of them, so a heartbeat never reports a purge
   * applied before its ack is on its way.
   */
  appliedSeq = (): number => {
    const first = this.#pendingAcks[0];
    return first === undefined ? this.#seq : Math.min(this.#seq, first.seq - 1);
  };

  /**
   * How many seqs the bus held beyond the applied one, as of the last read: a short read
   * means nothing more was waiting; after a full one the bus is asked for its end.
   */
  busLag = (): number => Math.max(0, this.#busSeq - this.appliedSeq());

  /**
   * How current this edge is known to be: ms since it last read the bus to its end (since
   * the feed started, when never), and whether the process stalled (SIGSTOP, a frozen VM)
   * since then — a stalled edge cannot know what it missed until it reads again.
   */
  busContact(): { detachedMs: number; stalled: boolean } {
    return { detachedMs: Date.now() - this.#contactAt, stalled: this.#stalled };
  }

  attachPurges(applier: PurgeApplier): void {
    this.#purges = applier;
  }

  onPurgeApplied(listener: PurgeAppliedListener): () => void {
    this.#purgeListeners.add(listener);
    return () => this.#purgeListeners.delete(listener);
  }

  onWarmRequested(listener: (warm: WarmRequest) => void): () => void {
    this.#warmListeners.add(listener);
    return () => this.#warmListeners.delete(listener);
  }

  async start(): Promise<void> {
    this.#contactAt = Date.now();
    this.#watchForStalls();
    this.#loop ??= this.#run().catch((err: unknown) => this.#log.error({ err }, 'bus sync stopped on an unexpected error'));
  }

  async stop(): Promise<void> {
    clearInterval(this.#stallTimer);
    this.#stopped = true;
    this.#wakeStop({ stopped: true });
    await this.#loop;
    await this.#file.flush();
  }

  async #run(): Promise<void> {
    let failures = 0;
    let needSnapshot = true;
    let triedDisk = false;
    // Read before the bans are (re)loaded: a seq on disk was saved only after its purges were durable.
    this.#bootSeq = (await this.#file.read().catch(() => undefined))?.seq ?? 0;
    while (!this.#stopped && this.#purges !== undefined) {
      try {
        await this.#purges.restore();
        break;
      } catch (err) {
        this.#log.error({ err: errorMessage(err) }, 'cannot load the persisted purges; retrying');
        if (await this.#sleep(this.#retryMaxMs)) return;
      }
    }
    while (!this.#stopped) {
      try {
        if (needSnapshot) {
          const snapshot = await this.#orStop(this.#bus.readSnapshot());
          if (snapshot === STOPPED) return;
          if (snapshot === null && !this.#ready && !triedDisk) {
            // A bus restarted empty should not make a rebooting edge forget every customer.
            triedDisk = true;
            await this.#bootFromDisk();
          }
          needSnapshot = !(await this.#applyBusSnapshot(snapshot));
          if (needSnapshot) {
            // The bus holds no snapshot yet (new, or restarted empty): wait for the relay to publish one.
            if (await this.#sleep(this.#retryMaxMs)) return;
            continue;
          }
        }
        const result = await this.#orStop(this.#bus.read(this.#seq, { blockMs: this.#blockMs, count: READ_COUNT }));
        if (result === STOPPED) return;
        failures = 0;
        if (result.kind === 'gap') {
          this.#busSeq = result.publishedSeq;
          this.#log.info({ appliedSeq: this.#seq, publishedSeq: result.publishedSeq }, 'change bus gap: reloading the snapshot');
          needSnapshot = true;
        } else {
          if (result.changes.length > 0) {
            this.#heardOf(result.changes.at(-1)!.seq);
            if (result.changes.length >= READ_COUNT) await this.#askBusEnd();
            needSnapshot = !(await this.#applyChanges(result.changes));
            await this.#purgesDurable();
            this.#persist();
          }
          // A short answer means nothing more was waiting: this edge is current as of now.
          if (!needSnapshot && result.changes.length < READ_COUNT) this.#caughtUp();
        }
      } catch (err) {
        failures += 1;
        if (!this.#ready && !triedDisk) {
          triedDisk = true;
          await this.#bootFromDisk();
        }
        const delay = Math.min(this.#retryMaxMs, this.#retryMinMs * 2 ** Math.min(failures - 1, 16));
        if (failures === 1 || failures % 10 === 0) {
          this.#log.warn({ err: errorMessage(err), failures, retryInMs: delay }, 'change bus unreachable: serving the customers already known');
        }
        if (await this.#sleep(delay)) return;
      }
    }
  }

  /** Returns false when the bus has no snapshot to give. */
  async #applyBusSnapshot(snapshot: Snapshot | null): Promise<boolean> {
    if (snapshot === null) {
      if (!this.#ready) {
        // An empty bus with nothing known: an empty configuration is the truth.
        this.#seq = 0;
        this.#setReady();
        return true;
      }
      return false;
    }
    // The bus's own word on its end (a restored database may have moved it back).
    this.#busSeq = snapshot.seq;
    await this.#purgeMissed(snapshot);
    await this.#purgesDurable();
    this.#index.replaceAll(snapshot.customers);
    this.#seq = snapshot.seq;
    this.#log.info({ seq: snapshot.seq, customers: snapshot.customers.length }, 'applied the change bus snapshot');
    this.#setReady();
    this.#persist();
    return true;
  }

  /**
   * Purges ALL of every customer whose latest purge is above the seq applied before this
   * snapshot (at boot: the seq saved on disk). A snapshot behind that seq (a restored
   * database reuses seqs) proves nothing: every purged customer is purged.
   */
  async #purgeMissed(snapshot: Snapshot): Promise<void> {
    if (this.#purges === undefined || snapshot.purgeSeqs === undefined) return;
    const before = this.#ready ? this.#seq : this.#bootSeq;
    const above = snapshot.seq < before ? 0 : before;
    const missed = Object.entries(snapshot.purgeSeqs)
      .filter(([, seq]) => seq > above)
      .map(([customerId]) => customerId);
    if (missed.length === 0) return;
    this.#log.warn({ customers: missed, appliedSeq: before, snapshotSeq: snapshot.seq }, 'purges may have been missed: purging these customers whole');
    this.#unflushed = true;
    await this.#purges.purgeAllAfterGap(missed, snapshot.seq);
  }

  /**
   * Waits until the purges applied so far are on disk (so the seq saved next never runs
   * ahead of them, even across a power loss), then tells the listeners.
   */
  async #purgesDurable(): Promise<void> {
    if (!this.#unflushed || this.#purges === undefined) return;
    await this.#purges.durable();
    this.#unflushed = false;
    const acks = this.#pendingAcks;
    this.#pendingAcks = [];
    for (const ack of acks) {
      for (const listener of this.#purgeListeners) {
        try {
          listener(ack);
        } catch (err) {
          this.#log.warn({ err: errorMessage(err) }, 'a purge listener failed');
        }
      }
    }
  }

  /**
   * Returns false when an event could not be understood and the snapshot must be reloaded.
   * Consecutive purges are applied together (one applyMany), each other change in its place
   * between them; the seq moves past a run of purges once all of them are in effect.
   */
  async #applyChanges(changes: Change[]): Promise<boolean> {
    let run: Array<{ purge: PurgeRequest; seq: number }> = [];
    const applyRun = async (): Promise<void> => {
      if (run.length === 0) return;
      const purges = run;
      run = [];
      await this.#applyPurges(purges);
      this.#seq = purges.at(-1)!.seq;
    };
    for (const change of changes) {
      const event = change.event;
      if (isKnownEvent(event) && event.kind === 'purge.requested') {
        run.push({ purge: event.purge, seq: change.seq });
        continue;
      }
      await applyRun();
      if (!isKnownEvent(event)) {
        this.#log.warn({ seq: change.seq, kind: (event as { kind?: unknown }).kind }, 'unknown change event: reloading the snapshot');
        return false;
      }
      if (event.kind === 'customer.upserted') {
        if (!this.#index.upsert(event.customer)) {
          this.#log.debug({ customer: event.customer.id, version: event.customer.version }, 'ignored an older customer version');
        }
      } else if (event.kind === 'customer.deleted') {
        this.#index.delete(event.customerId);
      } else if (event.kind === 'warm.requested') {
        // After the customer changes before it, so a warm finds its customer as the api saw it.
        for (const listener of this.#warmListeners) {
          try {
            listener(event.warm);
          } catch (err) {
            this.#log.warn({ err: errorMessage(err), warm: event.warm.id }, 'a warm listener failed');
          }
        }
      }
      this.#seq = change.seq;
    }
    await applyRun();
    return true;
  }

  /**
   * Applies consecutive purges in seq order (their acks are told once they are flushed);
   * throws, leaving the seq behind them, when it cannot.
   */
  async #applyPurges(items: Array<{ purge: PurgeRequest; seq: number }>): Promise<void> {
    if (this.#purges === undefined) {
      for (const { purge } of items) this.#log.debug({ customer: purge.customerId, purge: purge.id }, 'purge ignored: this edge has no purgeable cache');
      return;
    }
    let applied;
    try {
      this.#unflushed = true;
      applied = await this.#purges.applyMany(items);
    } catch (err) {
      const first = items[0]!;
      this.#log.error({ customer: first.purge.customerId, purge: first.purge.id, seq: first.seq, purges: items.length, err: errorMessage(err) }, 'cannot apply purges; retrying');
      throw err;
    }
    for (const a of applied) {
      this.#pendingAcks.push({ purgeId: a.purgeId, seq: a.seq, appliedAt: new Date(a.appliedAt).toISOString(), objectsRemoved: a.objectsRemoved });
    }
  }

  async #bootFromDisk(): Promise<void> {
    try {
      const snapshot = await this.#file.read();
      if (snapshot === undefined) return;
      this.#index.replaceAll(snapshot.customers);
      this.#seq = snapshot.seq;
      this.#log.warn({ seq: snapshot.seq, customers: snapshot.customers.length, file: this.#file.path }, 'booted from the last-known-good snapshot on disk');
      this.#setReady();
    } catch (err) {
      this.#log.error({ err: errorMessage(err), file: this.#file.path }, 'cannot read the last-known-good snapshot');
    }
  }

  #persist(): void {
    this.#file
      .save(() => ({ v: 1, seq: this.#seq, takenAt: new Date().toISOString(), customers: this.#index.all() }))
      .catch((err: unknown) => this.#log.warn({ err: errorMessage(err), file: this.#file.path }, 'cannot save the last-known-good snapshot'));
  }

  #heardOf(seq: number): void {
    if (seq > this.#busSeq) this.#busSeq = seq;
  }

  /** More changes are waiting than one read brings: how many (the lag gauge), best effort. */
  async #askBusEnd(): Promise<void> {
    const published = await this.#orStop(this.#bus.publishedSeq().catch(() => null));
    if (published !== STOPPED && published !== null) this.#heardOf(published);
  }

  #caughtUp(): void {
    this.#contactAt = Date.now();
    if (this.#stalled) this.#log.info('read the change bus after the stall: current again');
    this.#stalled = false;
  }

  /**
   * A timer that fires late by far more than its period means the whole process was
   * stopped: whatever the bus said meanwhile is unknown until the next read.
   */
  #watchForStalls(): void {
    clearInterval(this.#stallTimer);
    let last = Date.now();
    this.#stallTimer = setInterval(() => {
      const now = Date.now();
      if (now - last > STALL_MS) {
        this.#stalled = true;
        this.#log.warn({ stalledMs: now - last - STALL_TICK_MS }, 'this process was stalled: not ready until it has read the change bus again');
      }
      last = now;
    }, STALL_TICK_MS);
    this.#stallTimer.unref();
  }

  #setReady(): void {
    if (this.#ready) return;
    this.#ready = true;
    this.#markReady();
  }

  /** Races a bus call against stop(), so stopping never waits for a blocking read. */
  async #orStop<T>(p: Promise<T>): Promise<T | typeof STOPPED> {
    p.catch(() => {}); // if stop wins, a later rejection is not unhandled
    const r = await Promise.race([p, this.#stopSignal]);
    return isStop(r) ? STOPPED : (r as T);
  }

  /** Resolves true when stopped while sleeping. */
  async #sleep(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([this.#stopSignal, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
    return isStop(r) || this.#stopped;
  }
}

const STOPPED = Symbol('stopped');
const BLOCK_MS_DEFAULT = 5000;
/** Changes per read; a shorter answer means the edge has read everything published. */
const READ_COUNT = 500;
const STALL_TICK_MS = 500;
/** A tick this late is a stall (SIGSTOP, a paused VM), not a busy event loop. */
const STALL_MS = 5_000;

function isStop(value: unknown): value is Stop {
  return typeof value === 'object' && value !== null && (value as Stop).stopped === true;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
