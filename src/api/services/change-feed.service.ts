/**
 * Feeds GraphQL subscriptions from the bus, not from local mutations: with several api
 * replicas behind a load balancer, a client subscribed here must hear about a change
 * made through any of them. Reads the bus from its current position (history before
 * start is not replayed) and, on a gap, skips to the snapshot's seq.
 */
import type { Change } from '../../core/bus.events';
import type { ChangeBus } from '../../core/bus.port';
import type { Logger } from '../../obs/logger.factory';

export interface ChangeFeedOptions {
  bus: ChangeBus;
  logger: Logger;
  /** Handles one change in order; errors are logged and the change skipped. */
  deliver: (change: Change) => Promise<void>;
  blockMs?: number;
  retryMs?: number;
}

export class ChangeFeed {
  readonly #bus: ChangeBus;
  readonly #log: Logger;
  readonly #deliver: (change: Change) => Promise<void>;
  readonly #blockMs: number;
  readonly #retryMs: number;
  #stopped = true;
  #loop: Promise<void> | null = null;
  #after: number | null = null;

  constructor(options: ChangeFeedOptions) {
    this.#bus = options.bus;
    this.#log = options.logger.child({ component: 'change-feed' });
    this.#deliver = options.deliver;
    this.#blockMs = options.blockMs ?? 1000;
    this.#retryMs = options.retryMs ?? 1000;
  }

  /** The seq of the last change delivered (or skipped to); null before the first read. */
  get position(): number | null {
    return this.#after;
  }

  start(): void {
    this.#stopped = false;
    this.#loop = this.#run();
  }

  /**
   * Stops reading. Does not wait for a blocked read: the caller owns the bus and its
   * close() ends pending reads; whatever they return after this is dropped.
   */
  stop(): void {
    this.#stopped = true;
  }

  async #run(): Promise<void> {
    let failing = false;
    while (!this.#stopped) {
      try {
        if (this.#after === null) this.#after = (await this.#bus.publishedSeq()) ?? 0;
        const result = await this.#bus.read(this.#after, { blockMs: this.#blockMs, count: 100 });
        if (this.#stopped) return;
        if (result.kind === 'gap') {
          const snapshot = await this.#bus.readSnapshot();
          const from = this.#after;
          const to = snapshot?.seq ?? result.publishedSeq;
          this.#after = to;
          // Subscribers miss what happened in between; the bus cannot tell us any more.
          if (to !== from) this.#log.warn({ from, to }, 'change feed skipped a gap in the bus');
          // No progress (e.g. an empty bus): wait instead of spinning.
          else await sleep(Math.min(this.#retryMs, this.#blockMs));
          continue;
        }
        for (const change of result.changes) {
          if (change.seq <= this.#after) continue;
          try {
            await this.#deliver(change);
          } catch (err) {
            this.#log.error({ err, seq: change.seq }, 'could not deliver a change to subscribers');
          }
          this.#after = change.seq;
        }
        failing = false;
      } catch (err) {
        if (this.#stopped) return;
        if (!failing) this.#log.error({ err }, 'change feed cannot read the bus; retrying');
        failing = true;
        await sleep(this.#retryMs);
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
