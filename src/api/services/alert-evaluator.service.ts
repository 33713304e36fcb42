/**
 * The alert evaluator, one per api replica: every `intervalMs` it reads every rule with its
 * state, measures each enabled rule (the live stats this replica's aggregator holds, or the
 * origins' health across the live edges), runs the state machine (alert.rules.ts) and writes
 * what changed.
 *
 * Several replicas. Every replica evaluates every rule; they read the same edge reports and
 * the same fleet, so they mostly agree. A transition is written with a compare-and-set on the
 * rule's (state, since) (`UPDATE ... WHERE state = <old> AND since = <old since>`), in one
 * transaction with its history row: exactly one replica records it, and only that one hands
 * its `alert.fired` / `alert.resolved` to WebhookEvents. The others lose the update and see
 * the new state at their next read.
 *
 * Subscribers. Each replica remembers the (state, since) it last saw of every rule; a rule it
 * finds changed at its next read (another replica's transition, or an edit that reset it) is
 * told to its own `alertChanged` subscribers, and the transitions it makes itself are told at
 * once. So a subscriber hears every change through whichever replica it is connected to,
 * within an interval; two transitions of one rule within one interval on another replica are
 * heard as one.
 *
 * Not judged this pass (the state stays as it is): stats rules before this replica's
 * aggregator read the reports the channel retains (a fresh replica would see no traffic and
 * resolve everything), and ORIGIN_DOWN rules while the fleet channel is away.
 *
 * A webhook hand-over that failed (or an api that died between its transition and the
 * hand-over) is retried from the history rows still unnotified after RENOTIFY_AFTER_MS.
 * History older than ALERT_EVENT_RETENTION_DAYS is deleted in batches, at start and hourly.
 */
import type { Logger } from '../../obs/logger.factory';
import { compareAndSetAlertState, deleteAlertEventsBefore, insertAlertEvents, readAllAlerts, readUnnotifiedAlertEvents, updateAlertValues } from '../db/alert.store';
import type { Database } from '../db/database';
import type { OriginHealthRecord } from '../domain/origin-health.types';
import type { AlertChangeRecord, AlertEventRecord, AlertRecord, AlertState } from '../domain/alert.types';
import type { WebhookEvents } from '../domain/webhook.types';
import { breaches, measure, nextState, STATS_KINDS, type WindowStats } from './alert.rules';
import { notifyAlertEvents } from './alert.service';

export const ALERT_EVENT_RETENTION_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;
const SWEEP_BATCH = 1000;
const RENOTIFY_AFTER_MS = 30_000;
const RENOTIFY_BATCH = 100;

export interface AlertEvaluatorOptions {
  db: Database;
  logger: Logger;
  intervalMs: number;
  /** One customer over the last `seconds` sealed seconds; null while the live stats are not loaded yet (StatsAggregator.recent). */
  recentStats(customerId: string, seconds: number): WindowStats | null;
  /** Each origin of the customer on each live edge (OriginHealthService.forCustomer); rejects while the fleet cannot be read. */
  originHealth(customerId: string): Promise<OriginHealthRecord[]>;
  /** Where fired and resolved transitions are reported. */
  events: WebhookEvents;
  /** A rule seen changing state (this replica's subscribers). */
  onChange(change: AlertChangeRecord): void;
  now?: () => number;
}

/** One rule's last known standing, for /metrics. */
export interface AlertSample {
  customerId: string;
  rule: string;
  firing: boolean;
  value: number | null;
}

export class AlertEvaluator {
  readonly #o: AlertEvaluatorOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  /** ruleId → the state and since this replica last saw. */
  #seen: Map<string, { state: AlertState; since: number }> | null = null;
  #samples: AlertSample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #sweeping: Promise<void> | undefined;
  #stopped = true;
  #failing = false;

  constructor(options: AlertEvaluatorOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#log = options.logger.child({ component: 'alerts' });
  }

  start(): void {
    this.#stopped = false;
    this.#schedule();
    void this.sweep();
    this.#sweepTimer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#sweepTimer);
    await this.#running;
    await this.#sweeping;
  }

  /** Every enabled rule as of the last pass (for the cdn_api_alert_* gauges). */
  samples(): readonly AlertSample[] {
    return this.#samples;
  }

  /** One evaluation pass now (the timer's, callable by tests); one at a time. Never rejects. */
  evaluate(): Promise<void> {
    this.#running ??= this.#pass().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** Deletes the history past the retention, a batch at a time. One sweep at a time; never rejects. */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#sweepAll().finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(async () => {
      await this.evaluate();
      this.#schedule();
    }, this.#o.intervalMs);
    this.#timer.unref();
  }

  async #pass(): Promise<void> {
    try {
      await this.#judgeAll();
      await this.#renotify();
      if (this.#failing) this.#log.info('evaluating alerts again');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) this.#log.error({ err }, 'alert evaluation failed; retrying at the next interval');
      this.#failing = true;
    }
  }

  async #judgeAll(): Promise<void> {
    const now = this.#now();
    const at = new Date(now);
    const alerts = await this.#o.db.read((m) => readAllAlerts(m));
    this.#tellChangesSeen(alerts);
    const down = new Map<string, Promise<number | null>>();
    const values: Array<{ ruleId: string; state: AlertState; since: Date; value: number | null }> = [];
    const samples: AlertSample[] = [];
    for (const alert of alerts) {
      const { rule } = alert;
      if (!rule.enabled) continue;
      let value: number | null | undefined;
      if (STATS_KINDS.has(rule.kind)) {
        const stats = this.#o.recentStats(rule.customerId, rule.windowSeconds);
        value = stats === null ? undefined : measure(rule, stats);
      } else {
        let count = down.get(rule.customerId);
        if (count === undefined) {
          count = this.#o.originHealth(rule.customerId).then(
            // ORIGIN_DOWN's value: the origins at least one live edge process holds down.
            (origins) => origins.filter((o) => o.edges.some((e) => e.state === 'down')).length,
          ).catch((err: unknown) => {
            this.#log.debug({ err, customerId: rule.customerId }, 'cannot read origin health for alerts');
            return null;
          });
          down.set(rule.customerId, count);
        }
        const n = await count;
        value = n === null ? undefined : n;
      }
      if (value === undefined) {
        samples.push({ customerId: rule.customerId, rule: rule.name, firing: alert.state === 'FIRING', value: alert.value });
        continue;
      }
      const next = nextState(alert.state, alert.since, breaches(rule, value), rule.forSeconds, now);
      let standing: AlertState = alert.state;
      if (next.state === alert.state) {
        values.push({ ruleId: rule.id, state: alert.state, since: alert.since, value });
      } else if (await this.#transition(alert, next.state, next.reason, value, at)) {
        standing = next.state;
      }
      samples.push({ customerId: rule.customerId, rule: rule.name, firing: standing === 'FIRING', value });
    }
    await this.#o.db.transaction((m) => updateAlertValues(m, values, at));
    this.#samples = samples;
  }

  /** Tells this replica's subscribers of every rule whose (state, since) changed since the last read, then remembers the new ones. */
  #tellChangesSeen(alerts: readonly AlertRecord[]): void {
    const previous = this.#seen;
    this.#seen = new Map(alerts.map((a) => [a.rule.id, { state: a.state, since: a.since.getTime() }]));
    if (previous === null) return;
    for (const alert of alerts) {
      const before = previous.get(alert.rule.id);
      if (before !== undefined && (before.state !== alert.state || before.since !== alert.since.getTime())) this.#o.onChange({ alert, from: before.state });
    }
  }

  /** The compare-and-set and its history row; true when this replica made the transition. */
  async #transition(alert: AlertRecord, to: AlertState, reason: string, value: number | null, at: Date): Promise<boolean> {
    const { rule } = alert;
    const event: Omit<AlertEventRecord, 'id'> = {
      ruleId: rule.id,
      customerId: rule.customerId,
      ruleName: rule.name,
      kind: rule.kind,
      from: alert.state,
      to,
      value,
      threshold: rule.threshold,
      firingSince: to === 'FIRING' ? at : alert.state === 'FIRING' ? alert.since : null,
      reason,
      at,
    };
    const stored = await this.#o.db.transaction(async (m) => {
      if (!(await compareAndSetAlertState(m, rule.id, { state: alert.state, since: alert.since }, { state: to, since: at, value }))) return null;
      return (await insertAlertEvents(m, [event]))[0]!;
    });
    if (stored === null) return false;
    this.#seen?.set(rule.id, { state: to, since: at.getTime() });
    const log = to === 'FIRING' ? 'alert fired' : alert.state === 'FIRING' ? 'alert resolved' : to === 'PENDING' ? 'alert pending' : 'alert back to OK';
    this.#log.info({ customerId: rule.customerId, rule: rule.name, kind: rule.kind, value, threshold: rule.threshold, reason }, log);
    this.#o.onChange({ alert: { ...alert, state: to, since: at, value, evaluatedAt: at }, from: alert.state });
    await notifyAlertEvents(this.#o.db, this.#o.events, [stored], this.#log, this.#now);
    return true;
  }

  async #renotify(): Promise<void> {
    const due = await this.#o.db.read((m) => readUnnotifiedAlertEvents(m, new Date(this.#now() - RENOTIFY_AFTER_MS), RENOTIFY_BATCH));
    if (due.length > 0) await notifyAlertEvents(this.#o.db, this.#o.events, due, this.#log, this.#now);
  }

  async #sweepAll(): Promise<void> {
    const cutoff = new Date(this.#now() - ALERT_EVENT_RETENTION_DAYS * DAY_MS);
    try {
      let total = 0;
      for (;;) {
        const deleted = await this.#o.db.transaction((m) => deleteAlertEventsBefore(m, cutoff, SWEEP_BATCH));
        total += deleted;
        if (deleted < SWEEP_BATCH) break;
      }
      if (total > 0) this.#log.info({ deleted: total, before: cutoff.toISOString() }, 'expired alert history deleted');
    } catch (err) {
      this.#log.error({ err }, 'alert history retention sweep failed; retrying at the next interval');
    }
  }
}
