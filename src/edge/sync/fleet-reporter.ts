/**
 * Tells the api about this edge process over the fleet channel (core/fleet.port.ts):
 * a heartbeat every `intervalMs` (applied change seq, readiness, cache size) that lives
 * for three intervals, and an ack for every purge the feed applied.
 *
 * Acks are sent as soon as they are known, in batches, before the next heartbeat. While
 * the channel is unreachable they wait in a bounded queue and are retried with each beat;
 * if the queue overflows, the oldest are dropped (and logged): the api still sees those
 * purges applied, from the heartbeat's appliedSeq, only without their object counts.
 * On stop, pending acks get one last try and the edge leaves the fleet at once.
 *
 * Origin health (issue 15): every transition of this process's origin breakers is sent on
 * the fleet's origin-health stream as acks are (queued and retried alike), and each
 * heartbeat lists the origins held down now (`originsDown`), so an api that starts late, or
 * missed a transition, still knows the current state.
 *
 * Quotas (issue 16): each heartbeat lists the customers whose disk quota this process is
 * evicting for now (`quotasReached`, edge/cache/quota-spells.ts), for the api's `quota.reached`.
 */
import { ORIGINS_DOWN_MAX, QUOTAS_REACHED_MAX, type EdgeFleet, type EdgeRole, type EdgeStatus, type OriginDown, type OriginHealthEvent, type PurgeAck, type QuotaReached } from '../../core/fleet.port';
import type { Logger } from '../../obs/logger.factory';
import type { EdgeCustomerFeed, PurgeAppliedAck } from '../customer-feed.port';

export const ACK_QUEUE_MAX = 100_000;
const ACK_BATCH = 500;

export interface FleetReporterOptions {
  fleet: EdgeFleet;
  feed: EdgeCustomerFeed;
  edgeId: string;
  host: string;
  version: string;
  intervalMs: number;
  /** Readiness as /readyz reports it. */
  isReady(): boolean;
  cacheSize(): { objects: number; bytes: number };
  logger: Logger;
  /** `shield` for an origin shield (CDN_EDGE_ROLE); default `edge`. */
  role?: EdgeRole;
  /** Where other edges reach this shield (read at each heartbeat: known once the port listens); only sent with role `shield`. */
  shieldUrl?(): string | undefined;
  /** ISO start time the heartbeat reports (default: now); edge/warm's reports name the same one. */
  startedAt?: string;
  /** The origin breakers' transitions (EdgeHandle.onOriginHealth), sent on the origin-health stream. */
  onOriginHealth?(listener: (change: Omit<OriginHealthEvent, 'edgeId'>) => void): () => void;
  /**
   * The origins this process holds down now, read at each heartbeat from the breakers themselves
   * (so an origin or a customer removed while down is not listed any more); without it the
   * heartbeat has no originsDown.
   */
  originsDown?(): OriginDown[];
  /** The current quota spells, read at each heartbeat; without it the heartbeat has no quotasReached. */
  quotasReached?(): QuotaReached[];
}

/** Transitions kept while the channel is away; beyond, the oldest go (the heartbeat's originsDown still tells the state). */
export const ORIGIN_HEALTH_QUEUE_MAX = 10_000;

export class FleetReporter {
  readonly #o: FleetReporterOptions;
  readonly #log: Logger;
  readonly #startedAt: string;
  #queue: PurgeAck[] = [];
  #healthQueue: OriginHealthEvent[] = [];
  #unsubscribeHealth: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #flushing: Promise<void> | undefined;
  #failing = false;
  #stopped = false;

  constructor(options: FleetReporterOptions) {
    this.#o = options;
    this.#startedAt = options.startedAt ?? new Date().toISOString();
    this.#log = options.logger.child({ component: 'fleet-reporter' });
  }

  start(): void {
    this.#unsubscribe = this.#o.feed.onPurgeApplied?.((ack) => this.#enqueue(ack));
    this.#unsubscribeHealth = this.#o.onOriginHealth?.((change) => this.#enqueueHealth(change));
    this.#timer = setInterval(() => void this.beat(), this.#o.intervalMs);
    this.#timer.unref();
    void this.beat();
  }

  /** Sends pending acks, then the heartbeat. Never rejects. */
  async beat(): Promise<void> {
    await this.#flush();
    if (this.#stopped) return;
    try {
      await this.#o.fleet.heartbeat(this.status(), this.#o.intervalMs * 3);
      this.#recovered();
    } catch (err) {
      this.#failed(err, 'cannot send the heartbeat');
    }
  }

  status(): EdgeStatus {
    const size = this.#o.cacheSize();
    return {
      edgeId: this.#o.edgeId,
      host: this.#o.host,
      pid: process.pid,
      version: this.#o.version,
      // Never ahead of the acks not sent yet: the api counts an edge at or past a purge's seq as having applied it.
      appliedSeq: this.#queue.length > 0 ? Math.min(this.#o.feed.appliedSeq(), this.#queue[0]!.seq - 1) : this.#o.feed.appliedSeq(),
      ready: this.#o.isReady(),
      startedAt: this.#startedAt,
      heartbeatAt: new Date().toISOString(),
      cacheObjects: size.objects,
      cacheBytes: size.bytes,
      ...(this.#o.originsDown === undefined ? {} : { originsDown: this.#o.originsDown().slice(0, ORIGINS_DOWN_MAX) }),
      ...(this.#o.quotasReached === undefined ? {} : { quotasReached: this.#o.quotasReached().slice(0, QUOTAS_REACHED_MAX) }),
      ...this.#role(),
    };
  }

  #role(): Pick<EdgeStatus, 'role' | 'shieldUrl'> {
    if (this.#o.role !== 'shield') return { role: 'edge' };
    const url = this.#o.shieldUrl?.();
    return url === undefined ? { role: 'shield' } : { role: 'shield', shieldUrl: url };
  }

  /** Acks not sent yet. */
  pending(): number {
    return this.#queue.length;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#unsubscribe?.();
    this.#unsubscribeHealth?.();
    await this.#flushing;
    await this.#flush();
    try {
      await this.#o.fleet.leave(this.#o.edgeId);
    } catch (err) {
      this.#log.warn({ err: errorMessage(err) }, 'cannot leave the fleet: the api will see this edge go when its heartbeat expires');
    }
  }

  #enqueue(ack: PurgeAppliedAck): void {
    this.#queue.push({ ...ack, edgeId: this.#o.edgeId });
    if (this.#queue.length > ACK_QUEUE_MAX) {
      const dropped = this.#queue.splice(0, this.#queue.length - ACK_QUEUE_MAX);
      this.#log.warn({ dropped: dropped.length }, 'purge ack queue full: dropped the oldest acks (the heartbeat still reports them applied)');
    }
    // Batch the acks of one burst of purges into one write.
    if (this.#flushing === undefined) queueMicrotask(() => void this.#flush());
  }

  #enqueueHealth(change: Omit<OriginHealthEvent, 'edgeId'>): void {
    const event: OriginHealthEvent = { edgeId: this.#o.edgeId, customerId: change.customerId, origin: change.origin, state: change.state, reason: change.reason, at: change.at };
    this.#healthQueue.push(event);
    if (this.#healthQueue.length > ORIGIN_HEALTH_QUEUE_MAX) {
      const dropped = this.#healthQueue.splice(0, this.#healthQueue.length - ORIGIN_HEALTH_QUEUE_MAX);
      this.#log.warn({ dropped: dropped.length }, 'origin health queue full: dropped the oldest transitions (the heartbeat still lists the origins down)');
    }
    if (this.#flushing === undefined) queueMicrotask(() => void this.#flush());
  }

  /** One flush at a time; a flush asked for during one runs after it. */
  async #flush(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
    if (this.#queue.length === 0 && this.#healthQueue.length === 0) return;
    this.#flushing = this.#send().finally(() => (this.#flushing = undefined));
    await this.#flushing;
  }

  async #send(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, ACK_BATCH);
      try {
        await this.#o.fleet.ack(batch);
      } catch (err) {
        this.#failed(err, 'cannot send purge acks: retrying with the next heartbeat');
        return;
      }
      this.#queue.splice(0, batch.length);
      this.#recovered();
    }
    while (this.#healthQueue.length > 0) {
      const batch = this.#healthQueue.slice(0, ACK_BATCH);
      try {
        await this.#o.fleet.reportOriginHealth(batch);
      } catch (err) {
        this.#failed(err, 'cannot send origin health: retrying with the next heartbeat');
        return;
      }
      this.#healthQueue.splice(0, batch.length);
      this.#recovered();
    }
  }

  #failed(err: unknown, message: string): void {
    if (!this.#failing) this.#log.warn({ err: errorMessage(err), pendingAcks: this.#queue.length }, message);
    this.#failing = true;
  }

  #recovered(): void {
    if (this.#failing) this.#log.info({ pendingAcks: this.#queue.length }, 'fleet channel reachable again');
    this.#failing = false;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
