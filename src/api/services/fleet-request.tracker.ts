/**
 * Follows a fleet request — something the api asks of every edge and then watches to the end:
 * a purge, a warm — across the fleet: its progress (the stored edge rows plus the live edges,
 * by the kind's own rules), the completion stamp (persisted once, by whichever api replica
 * sees it first), and the updates its status subscription sends. PurgeTracker and WarmTracker
 * are this with their kind (FleetRequestKind): one waiting loop, so a fix to it (a missed
 * wake-up, a listener left behind) reaches both.
 *
 * A watch wakes on a signal from the kind's collector (rows of its request were stored) and
 * also every `recheckMs`: the live edges change without any row being stored (an edge applies
 * a purge by its heartbeat before its ack arrives; an edge goes away or restarts mid-warm and
 * sends nothing), and a silent edge stops counting once its heartbeat expires.
 */
import type { EdgeFleet, EdgeStatus } from '../../core/fleet.port';
import type { Logger } from '../../obs/logger.factory';
import type { Database, Tx } from '../db/database';
import { abortableIterator } from './abortable.iterator';
import type { PurgeSignals } from './purge-signals';

/** What a tracker needs of one kind of request: its queries, its progress rules and its words. */
export interface FleetRequestKind<TRecord, TRow, TProgress, TEdge, TState> {
  /** `purge`, `warm`: the logger's component (`<noun>-tracker`) and its messages. */
  noun: string;
  /** What progress shows while the live edges cannot be read (`acks`, `stored reports`). */
  rowsNoun: string;
  find(m: Tx, id: string): Promise<TRecord | null>;
  /** Those of `ids` that are stored and not yet complete. */
  readOpen(m: Tx, ids: readonly string[]): Promise<TRecord[]>;
  /** Every stored edge row of these requests, in one query. */
  readRows(m: Tx, ids: readonly string[]): Promise<TRow[]>;
  requestIdOf(row: TRow): string;
  /** The once-only stamp: returns the stamp that stands (null: the request is gone). */
  markCompleted(m: Tx, id: string, at: Date): Promise<Date | null>;
  /** `live` null: the live edges are unknown. */
  progress(record: TRecord, rows: TRow[], live: readonly EdgeStatus[] | null, now: Date): TProgress;
  state(record: TRecord, progress: TProgress, completedAt: Date | null): TState;
  /** What the `<noun> complete` log line says besides the id. */
  completedFields(record: TRecord, progress: TProgress): Record<string, unknown>;
  /**
   * What a subscriber is told about an edge, told again whenever it changes; null: nothing
   * to tell yet. Purges tell an edge once, when it has applied; warms every state or count.
   */
  news(edge: TEdge): string | null;
  /** The order of one round's edges with news; without it, the progress's own (edge id). */
  newsOrder?: (a: TEdge, b: TEdge) => number;
}

export interface FleetRequestUpdate<TState, TEdge> {
  state: TState;
  /** The edge with news (FleetRequestKind.news); null for the first update and for one that only reports completion. */
  edge: TEdge | null;
}

export interface FleetRequestTrackerOptions<TRecord, TProgress = unknown> {
  db: Database;
  fleet: EdgeFleet;
  /** Wake-ups from the kind's collector, by request id (an instance per kind). */
  signals: PurgeSignals;
  logger: Logger;
  recheckMs: number;
  /** Called once per request, by the replica whose stamp completed it (for the completion-time metric). */
  onCompleted?: (record: TRecord, completedAt: Date) => void;
  /**
   * Runs in the transaction that stamps the request complete, only when this stamp is the one
   * that stands: what must commit with the completion (a webhook event), once per request.
   */
  onCompletedIn?: (m: Tx, record: TRecord, completedAt: Date, progress: TProgress) => Promise<void>;
  /** After a transaction that ran onCompletedIn committed. */
  afterCompleted?: () => void;
}

export class FleetRequestTracker<
  TRecord extends { id: string; completedAt: Date | null },
  TRow,
  TProgress extends { complete: boolean; edges: TEdge[] },
  TEdge extends { edgeId: string },
  TState extends { progress: TProgress; completedAt: Date | null },
> {
  readonly #kind: FleetRequestKind<TRecord, TRow, TProgress, TEdge, TState>;
  readonly #db: Database;
  readonly #fleet: EdgeFleet;
  readonly #signals: PurgeSignals;
  readonly #log: Logger;
  readonly #recheckMs: number;
  readonly #onCompleted: (record: TRecord, completedAt: Date) => void;
  readonly #onCompletedIn: ((m: Tx, record: TRecord, completedAt: Date, progress: TProgress) => Promise<void>) | undefined;
  readonly #afterCompleted: () => void;
  /** Every pending wait, woken at once by close(). */
  readonly #waits = new Set<() => void>();
  #closed = false;
  #fleetFailing = false;

  constructor(kind: FleetRequestKind<TRecord, TRow, TProgress, TEdge, TState>, options: FleetRequestTrackerOptions<TRecord, TProgress>) {
    this.#kind = kind;
    this.#db = options.db;
    this.#fleet = options.fleet;
    this.#signals = options.signals;
    this.#log = options.logger.child({ component: `${kind.noun}-tracker` });
    this.#recheckMs = options.recheckMs;
    this.#onCompleted = options.onCompleted ?? (() => {});
    this.#onCompletedIn = options.onCompletedIn;
    this.#afterCompleted = options.afterCompleted ?? (() => {});
  }

  /** The state of each request, in the order given (one read of the fleet, one query). */
  async states(records: readonly TRecord[]): Promise<TState[]> {
    if (records.length === 0) return [];
    const kind = this.#kind;
    const [live, rows] = await Promise.all([this.#liveEdges(), this.#db.read((m) => kind.readRows(m, records.map((r) => r.id)))]);
    const rowsOf = new Map<string, TRow[]>();
    for (const row of rows) rowsOf.set(kind.requestIdOf(row), [...(rowsOf.get(kind.requestIdOf(row)) ?? []), row]);
    const now = new Date();
    return Promise.all(
      records.map(async (record) => {
        const progress = kind.progress(record, rowsOf.get(record.id) ?? [], live, now);
        let completedAt = record.completedAt;
        if (completedAt === null && progress.complete) {
          const onCompletedIn = this.#onCompletedIn;
          completedAt =
            onCompletedIn === undefined
              ? await this.#db.read((m) => kind.markCompleted(m, record.id, now))
              : await this.#db.transaction(async (m) => {
                  const stamped = await kind.markCompleted(m, record.id, now);
                  if (stamped === now) await onCompletedIn(m, record, now, progress);
                  return stamped;
                });
          if (completedAt === now && onCompletedIn !== undefined) this.#afterCompleted();
          if (completedAt !== null) this.#log.info({ [`${kind.noun}Id`]: record.id, ...kind.completedFields(record, progress) }, `${kind.noun} complete`);
          // The same Date back means this replica's stamp won: report it here only.
          if (completedAt === now) this.#onCompleted(record, now);
        }
        return kind.state(record, progress, completedAt);
      }),
    );
  }

  async state(record: TRecord): Promise<TState> {
    return (await this.states([record]))[0]!;
  }

  /** Re-reads the given requests and stamps those now complete (after their rows were stored). */
  async refresh(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.states(await this.#db.read((m) => this.#kind.readOpen(m, ids)));
  }

  /**
   * Updates of one request: its current state first, then one update per edge with news,
   * ending after the update in which it is complete (or when the request is deleted with its
   * customer, or the tracker closes). Calling `return()` ends it at once.
   */
  watch(record: TRecord): AsyncIterableIterator<FleetRequestUpdate<TState, TEdge>> {
    return abortableIterator((signal) => this.#updates(record, signal));
  }

  /** Wakes every watch: subscriptions end (and whoever waits on one answers with the state then). */
  close(): void {
    this.#closed = true;
    for (const wake of [...this.#waits]) wake();
  }

  /** The request as stored now; null once it is gone (deleted with its customer). */
  protected reload(id: string): Promise<TRecord | null> {
    return this.#db.read((m) => this.#kind.find(m, id));
  }

  async *#updates(record: TRecord, stop: AbortSignal): AsyncGenerator<FleetRequestUpdate<TState, TEdge>, undefined> {
    const { news, newsOrder } = this.#kind;
    let signalled = false;
    let wake: (() => void) | null = null;
    const off = this.#signals.on(record.id, () => {
      signalled = true;
      wake?.();
    });
    const onAbort = (): void => wake?.();
    stop.addEventListener('abort', onAbort);
    try {
      // Listening before the first read: a row stored in between is not missed.
      let state = await this.state(record);
      const told = new Map<string, string>();
      for (const edge of state.progress.edges) {
        const now = news(edge);
        if (now !== null) told.set(edge.edgeId, now);
      }
      yield { state, edge: null };
      while (state.completedAt === null) {
        if (!signalled && !stop.aborted && !this.#closed) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(timer);
              this.#waits.delete(done);
              wake = null;
              resolve();
            };
            const timer = setTimeout(done, this.#recheckMs);
            wake = done;
            this.#waits.add(done);
          });
        }
        if (stop.aborted || this.#closed) return undefined;
        signalled = false;
        const row = await this.reload(record.id);
        if (!row) return undefined;
        state = await this.state(row);
        const fresh = state.progress.edges.filter((e) => {
          const now = news(e);
          return now !== null && told.get(e.edgeId) !== now;
        });
        if (newsOrder !== undefined) fresh.sort(newsOrder);
        for (const edge of fresh) {
          told.set(edge.edgeId, news(edge)!);
          yield { state, edge };
        }
        if (fresh.length === 0 && state.completedAt !== null) yield { state, edge: null };
      }
      return undefined;
    } finally {
      off();
      stop.removeEventListener('abort', onAbort);
    }
  }

  /** Null when the fleet channel cannot be read: progress then shows the stored rows alone. */
  async #liveEdges(): Promise<EdgeStatus[] | null> {
    try {
      const live = await this.#fleet.liveEdges();
      if (this.#fleetFailing) this.#log.info('fleet channel readable again');
      this.#fleetFailing = false;
      return live;
    } catch (err) {
      if (!this.#fleetFailing) this.#log.error({ err }, `cannot read the live edges; ${this.#kind.noun} progress shows ${this.#kind.rowsNoun} only`);
      this.#fleetFailing = true;
      return null;
    }
  }
}
