/**
 * Publishes this edge process's traffic over the stats channel (core/stats.port.ts): every
 * interval, the per-customer deltas the meters accumulated (stats.recorder), as one
 * EdgeStatsReport under this process's edge id. An interval without traffic publishes
 * nothing.
 *
 * Bounded whatever the channel does: the deltas live in the meters (one per customer), so
 * while a publish is still in flight the next tick waits and the interval simply grows; a
 * publish that fails drops its interval (logged once per failing spell). stop() publishes
 * what is left, waiting at most STOP_WAIT_MS for the channel.
 */
import type { EdgeStatsReport, StatsChannel } from '../../core/stats.port';
import type { Logger } from '../../obs/logger.factory';
import type { StatsRecorder } from './customer.meter';

const STOP_WAIT_MS = 2_000;

export interface StatsReporterOptions {
  channel: StatsChannel;
  recorder: StatsRecorder;
  edgeId: string;
  intervalMs: number;
  logger: Logger;
  /** The edge's clock (reports' `at`, the top paths' minutes); Date.now by default. Tests move it to end a minute without waiting. */
  now?: () => number;
}

export class StatsReporter {
  readonly #o: StatsReporterOptions;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #publishing: Promise<void> | undefined;
  /** When the interval being accumulated began (epoch ms). */
  #since: number;
  #failing = false;
  #dropped = 0;
  #stopped = false;
  readonly #now: () => number;

  constructor(options: StatsReporterOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'stats-reporter' });
    this.#now = options.now ?? Date.now;
    this.#since = this.#now();
  }

  start(): void {
    this.#since = this.#now();
    this.#timer = setInterval(() => void this.tick(), this.#o.intervalMs);
    this.#timer.unref();
  }

  /** Publishes the interval ending now, unless a publish is still in flight or there was no traffic. Never rejects. */
  tick(): Promise<void> {
    if (this.#publishing !== undefined) return this.#publishing;
    const now = this.#now();
    if (!this.#o.recorder.pendingAt(now)) {
      this.#since = now;
      return Promise.resolve();
    }
    const report: EdgeStatsReport = {
      edgeId: this.#o.edgeId,
      at: new Date(now).toISOString(),
      intervalMs: Math.max(1, Math.round(now - this.#since)),
      customers: this.#o.recorder.drain(now),
    };
    this.#since = now;
    this.#publishing = this.#publish(report).finally(() => (this.#publishing = undefined));
    return this.#publishing;
  }

  /** Publishes what is left (waiting at most STOP_WAIT_MS); later ticks do nothing. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), STOP_WAIT_MS)));
    const last = (async () => {
      await this.#publishing;
      await this.tick();
    })();
    const outcome = await Promise.race([last.then(() => 'done' as const), gaveUp]);
    clearTimeout(timer);
    if (outcome === 'timeout') this.#log.warn({ waitedMs: STOP_WAIT_MS }, 'the stats channel did not take the last report in time: dropped it');
  }

  async #publish(report: EdgeStatsReport): Promise<void> {
    try {
      await this.#o.channel.publish(report);
      if (this.#failing) this.#log.info({ droppedIntervals: this.#dropped }, 'stats channel reachable again');
      this.#failing = false;
      this.#dropped = 0;
    } catch (err) {
      this.#dropped += 1;
      if (!this.#failing) {
        this.#log.warn({ err: err instanceof Error ? err.message : String(err), customers: report.customers.length }, 'cannot publish traffic stats: dropping this interval (and later ones until the channel is back)');
      }
      this.#failing = true;
    }
  }
}
