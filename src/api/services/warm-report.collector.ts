/**
 * The warm report collector, the purge ack collector's twin: reads the fleet's warm reports
 * and stores each edge's furthest one in its `warm_edge` row, stamps the warms they complete,
 * and signals this process's `warmStatus` subscribers. Every api replica runs one and reads
 * every report: the upsert only ever moves a row forward, so replicas racing, and reports
 * read again after a restart (it reads from the oldest report the fleet keeps, '0', at every
 * start), change nothing twice. The reading — a batch retried until the database takes
 * it — is fleet-stream.collector.ts.
 */
import type { EdgeFleet, WarmReport } from '../../core/fleet.port';
import { WARM_REPORT_STATES } from '../../core/warm.types';
import type { Logger } from '../../obs/logger.factory';
import type { Database } from '../db/database';
import { EDGE_ID_MAX_CHARS } from '../db/purge.store';
import { upsertWarmReports } from '../db/warm.store';
import { FleetStreamCollector } from './fleet-stream.collector';
import type { PurgeSignals } from './purge-signals';
import { isUuid } from './purge.service';
import type { WarmTracker } from './warm-tracker.service';

export interface WarmReportCollectorOptions {
  db: Database;
  fleet: EdgeFleet;
  tracker: WarmTracker;
  signals: PurgeSignals;
  logger: Logger;
  blockMs?: number;
  retryMs?: number;
}

export class WarmReportCollector {
  readonly #o: WarmReportCollectorOptions;
  readonly #log: Logger;
  readonly #stream: FleetStreamCollector<WarmReport>;

  constructor(options: WarmReportCollectorOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'warm-reports' });
    this.#stream = new FleetStreamCollector({
      what: 'warm reports',
      read: async (cursor, o) => {
        const { cursor: next, reports } = await options.fleet.readWarmReports(cursor, o);
        return { cursor: next, entries: reports };
      },
      persist: (batch) => this.#persist(batch),
      logger: this.#log,
      blockMs: options.blockMs ?? 1000,
      retryMs: options.retryMs ?? 1000,
    });
  }

  start(): void {
    this.#stream.start();
  }

  /** Stops reading and waits for a batch being written (FleetStreamCollector.stop). */
  stop(): Promise<void> {
    return this.#stream.stop();
  }

  async #persist(batch: WarmReport[]): Promise<void> {
    const reports = furthest(
      batch.filter((r) => {
        const ok =
          isUuid(r.warmId) &&
          r.edgeId.length <= EDGE_ID_MAX_CHARS &&
          r.process.length <= EDGE_ID_MAX_CHARS &&
          WARM_REPORT_STATES.includes(r.state) &&
          !Number.isNaN(Date.parse(r.at)) &&
          !Number.isNaN(Date.parse(r.processStartedAt)) &&
          r.done + r.failed <= r.total;
        if (!ok) this.#log.warn({ report: r }, 'ignoring a malformed warm report');
        return ok;
      }),
    );
    const moved = await this.#o.db.transaction((m) => upsertWarmReports(m, reports));
    if (moved.length > 0) this.#log.debug({ warms: moved.length, read: batch.length }, 'stored warm reports');
    await this.#o.tracker.refresh(moved);
    this.#o.signals.emit(moved);
  }
}

const RANK: Record<WarmReport['state'], number> = { warming: 1, stopped: 2, done: 3 };

/** One report per (warm, edge): the furthest of the batch (state, then URLs through), as the store compares them. */
function furthest(reports: WarmReport[]): WarmReport[] {
  const best = new Map<string, WarmReport>();
  for (const report of reports) {
    const key = `${report.warmId}\u0000${report.edgeId}`;
    const kept = best.get(key);
    if (kept === undefined || RANK[report.state] > RANK[kept.state] || (RANK[report.state] === RANK[kept.state] && report.done + report.failed > kept.done + kept.failed)) {
      best.set(key, report);
    }
  }
  return [...best.values()];
}
