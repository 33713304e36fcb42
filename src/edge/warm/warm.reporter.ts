/**
 * Sends warm progress to the api over the fleet channel (core/fleet.port.ts, reportWarms),
 * the way acks go: batched, about once a second, and at once when a warm starts or ends.
 * Reports are cumulative, so only the latest one per warm is kept while it waits: what is
 * pending is bounded by the warms in progress, whatever the channel does. While the channel is
 * unreachable they stay pending and are retried with the next tick; on stop they get one last try.
 */
import type { WarmReport } from '../../core/fleet.port';
import type { Logger } from '../../obs/logger.factory';

export const WARM_REPORT_INTERVAL_MS = 1000;

export interface WarmReporterOptions {
  send(reports: WarmReport[]): Promise<void>;
  logger: Logger;
  intervalMs?: number;
}

export class WarmReporter {
  readonly #send: (reports: WarmReport[]) => Promise<void>;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #pending = new Map<string, WarmReport>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #failing = false;

  constructor(options: WarmReporterOptions) {
    this.#send = options.send;
    this.#log = options.logger.child({ component: 'warm-reporter' });
    this.#intervalMs = options.intervalMs ?? WARM_REPORT_INTERVAL_MS;
  }

  /** The warm's latest state; `now`: send without waiting for the tick (a start, an end). */
  report(report: WarmReport, now = false): void {
    this.#pending.set(report.warmId, report);
    if (now) void this.flush();
    else this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#intervalMs).unref();
  }

  /** Sends what is pending; one flush at a time, a flush asked for during one runs after it. Never rejects. */
  async flush(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
    if (this.#pending.size === 0) return;
    this.#flushing = this.#flushOnce().finally(() => (this.#flushing = undefined));
    await this.#flushing;
  }

  /** One last try for what is pending. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size > 0) this.#log.warn({ warms: this.#pending.size }, 'could not send the last warm reports: the api shows those warms as this edge last reported them');
  }

  async #flushOnce(): Promise<void> {
    const batch = [...this.#pending.values()];
    try {
      await this.#send(batch);
    } catch (err) {
      if (!this.#failing) this.#log.warn({ err: err instanceof Error ? err.message : String(err), warms: batch.length }, 'cannot send warm reports: retrying');
      this.#failing = true;
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.#intervalMs).unref();
      return;
    }
    // Keep what changed while sending: it is newer than what was sent.
    for (const sent of batch) if (this.#pending.get(sent.warmId) === sent) this.#pending.delete(sent.warmId);
    if (this.#failing) this.#log.info('warm reports sent again');
    this.#failing = false;
  }
}
