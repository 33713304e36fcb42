/**
 * The live tail's edge side (core/access-log.port.ts): once a second this process reads which
 * customers are tailed, and publishes, for those only, at most `perSecond` records per customer
 * per second (the first ones of that second) and how many it skipped beyond them. With nobody
 * tailing, `wants` is false for every customer after one size check, and nothing is built,
 * kept or sent. Memory stays bounded whatever the channel does: at most `perSecond` records
 * per tailed customer wait; while a publish is in flight the next second waits and only its
 * skipped counts grow; a publish that fails is dropped with one warning per failing spell.
 */
import type { AccessLogChannel, AccessLogRecord, AccessLogSlice } from '../../core/access-log.port';
import type { Logger } from '../../obs/logger.factory';

export const TAIL_PER_SECOND_DEFAULT = 100;

export interface AccessLogTailOptions {
  channel: AccessLogChannel;
  edgeId: string;
  perSecond: number;
  logger: Logger;
  now: () => number;
  /** How often the tailed set is read and records are published (1 s). */
  intervalMs?: number;
}

export class AccessLogTail {
  readonly #channel: AccessLogChannel;
  readonly #edgeId: string;
  readonly #perSecond: number;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #intervalMs: number;
  #tailed: ReadonlySet<string> = new Set();
  #slices = new Map<string, AccessLogSlice>();
  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<void> | undefined;
  #failing = false;

  constructor(options: AccessLogTailOptions) {
    this.#channel = options.channel;
    this.#edgeId = options.edgeId;
    this.#perSecond = options.perSecond;
    this.#log = options.logger;
    this.#now = options.now;
    this.#intervalMs = options.intervalMs ?? 1000;
  }

  start(): void {
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Whether `customerId` is tailed now (the request path asks before building a record). */
  wants(customerId: string): boolean {
    return this.#tailed.size !== 0 && this.#tailed.has(customerId);
  }

  add(record: AccessLogRecord): void {
    let slice = this.#slices.get(record.customer);
    if (slice === undefined) {
      slice = { customerId: record.customer, records: [], skipped: 0 };
      this.#slices.set(record.customer, slice);
    }
    if (slice.records.length < this.#perSecond) slice.records.push(record);
    else slice.skipped += 1;
  }

  /** Publishes what is waiting (at most 2 s for the channel) and stops. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#busy;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#publish(), new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))]);
    clearTimeout(timer);
  }

  #tick(): void {
    if (this.#busy !== undefined) return;
    this.#busy = (async () => {
      await this.#publish();
      await this.#refresh();
    })().finally(() => (this.#busy = undefined));
  }

  async #refresh(): Promise<void> {
    try {
      const ids = await this.#channel.tailed();
      this.#tailed = ids.length === 0 ? new Set() : new Set(ids);
      this.#recovered();
    } catch (err) {
      // Unknown: stop collecting rather than collect for a tail that may have ended.
      this.#tailed = new Set();
      this.#failed(err);
    }
  }

  async #publish(): Promise<void> {
    if (this.#slices.size === 0) return;
    const customers = [...this.#slices.values()];
    this.#slices = new Map();
    try {
      await this.#channel.publish({ edgeId: this.#edgeId, at: new Date(this.#now()).toISOString(), customers });
      this.#recovered();
    } catch (err) {
      this.#failed(err);
    }
  }

  #failed(err: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, 'access log tail: cannot reach the channel, nothing is sent to tails meanwhile');
  }

  #recovered(): void {
    if (!this.#failing) return;
    this.#failing = false;
    this.#log.info('access log tail: the channel answers again');
  }
}
