/**
 * Alerts, the customer's side: setAlertRules (the whole list, validated as a whole by
 * alert.rules.ts, every refusal naming the rule and the field, nothing changed), the rules,
 * the alerts (each rule's state, since, last value) and the transition history. Rules are kept
 * by name: an edit that keeps a rule's definition keeps its state; a rule deleted, disabled or
 * redefined while PENDING or FIRING goes back to OK in the same transaction, recorded in the
 * history (a FIRING one reported as resolved, so a receiver never waits for a resolution that
 * cannot come). Evaluation is alert-evaluator.service.ts's.
 */
import { cdnError, invalidInput } from '../../core/errors';
import { isPlainText } from '../../core/text.rules';
import type { Logger } from '../../obs/logger.factory';
import {
  countAlertEvents,
  insertAlertEvents,
  markAlertEventsNotified,
  readAlertEventPage,
  readCustomerAlerts,
  replaceAlertRules,
  resetAlertState,
} from '../db/alert.store';
import { customerExists } from '../db/customer.store';
import type { Database } from '../db/database';
import type { AlertEventRecord, AlertRecord, AlertRuleInput, AlertRuleRecord } from '../domain/alert.types';
import type { WebhookEventInput, WebhookEvents } from '../domain/webhook.types';
import { readAlertRules, type AlertRuleDraft } from './alert.rules';
import { lockCustomer } from './customer-announce';

export const ALERT_HISTORY_PAGE_DEFAULT = 50;
export const ALERT_HISTORY_PAGE_MAX = 500;

export interface AlertServiceOptions {
  db: Database;
  logger: Logger;
  /** The longest evaluation window: what the live stats keep (CDN_STATS_RETENTION_MINUTES). */
  windowMaxSeconds: number;
  /** Where `alert.resolved` goes when an edit ends a firing. */
  events: WebhookEvents;
  now?: () => number;
}

export interface AlertHistoryPage {
  nodes: AlertEventRecord[];
  totalCount: number;
  endCursor: string | null;
  hasNextPage: boolean;
}

export class AlertService {
  readonly #o: AlertServiceOptions;
  readonly #now: () => number;

  constructor(options: AlertServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Replaces the customer's alert rules. CDN_ERR_INPUT_INVALID names every problem (`rules[1] (hits).threshold`). */
  async set(customerId: string, drafts: readonly AlertRuleDraft[]): Promise<AlertRuleRecord[]> {
    const { rules, problems } = readAlertRules(drafts, { windowMaxSeconds: this.#o.windowMaxSeconds });
    if (problems.length > 0) throw invalidInput(problems);
    const at = new Date(this.#now());
    const { alerts, ended } = await this.#o.db.transaction(async (m) => {
      // The customer cannot be deleted under the edit; two edits of one customer queue.
      await lockCustomer(m, customerId);
      const before = await readCustomerAlerts(m, customerId, true);
      await replaceAlertRules(m, customerId, rules, at);
      const changes: Array<Omit<AlertEventRecord, 'id'>> = [];
      for (const old of before) {
        if (old.state === 'OK') continue;
        const now = rules.find((r) => r.name === old.rule.name);
        const reason = now === undefined ? 'rule deleted' : !now.enabled ? 'rule disabled' : redefined(old.rule, now) ? 'rule changed' : null;
        if (reason === null) continue;
        if (now !== undefined) await resetAlertState(m, old.rule.id, at);
        changes.push(endOf(old, reason, at));
      }
      return { alerts: await readCustomerAlerts(m, customerId), ended: await insertAlertEvents(m, changes) };
    });
    this.#o.logger.info({ customerId, rules: rules.map((r) => r.name) }, 'alert rules replaced');
    await notifyAlertEvents(this.#o.db, this.#o.events, ended, this.#o.logger, this.#now);
    return alerts.map((a) => a.rule);
  }

  /** The customer's rules, in order. CDN_ERR_CUSTOMER_NOT_FOUND for an unknown customer. */
  async rules(customerId: string): Promise<AlertRuleRecord[]> {
    return (await this.alerts(customerId)).map((a) => a.rule);
  }

  /** Each rule and where it stands. CDN_ERR_CUSTOMER_NOT_FOUND for an unknown customer. */
  async alerts(customerId: string): Promise<AlertRecord[]> {
    return this.#o.db.read(async (m) => {
      await this.#mustExist(m, customerId);
      return readCustomerAlerts(m, customerId);
    });
  }

  /** The customer's transitions, newest first, a page at a time. */
  async history(customerId: string, page: { first?: number | null; after?: string | null } = {}): Promise<AlertHistoryPage> {
    const first = page.first ?? ALERT_HISTORY_PAGE_DEFAULT;
    const problems = [];
    if (!Number.isInteger(first) || first < 1 || first > ALERT_HISTORY_PAGE_MAX) {
      problems.push({ field: 'first', message: `must be from 1 to ${ALERT_HISTORY_PAGE_MAX}, got ${first}` });
    }
    const after = page.after == null ? null : decodeCursor(page.after);
    if (after === undefined) problems.push({ field: 'after', message: 'is not a cursor returned by pageInfo.endCursor' });
    if (problems.length > 0) throw invalidInput(problems);
    return this.#o.db.read(async (m) => {
      await this.#mustExist(m, customerId);
      const [rows, totalCount] = await Promise.all([readAlertEventPage(m, customerId, after ?? null, first + 1), countAlertEvents(m, customerId)]);
      const nodes = rows.slice(0, first);
      const last = nodes[nodes.length - 1];
      return { nodes, totalCount, endCursor: last ? encodeCursor(last.id) : null, hasNextPage: rows.length > first };
    });
  }

  async #mustExist(m: Parameters<typeof customerExists>[0], customerId: string): Promise<void> {
    // An id with control characters names no customer (and a NUL would be a PostgreSQL error).
    if (!isPlainText(customerId) || !(await customerExists(m, customerId))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
  }
}

/** Whether what the rule judges changed (its name and enabled flag aside). */
function redefined(old: AlertRuleInput, now: AlertRuleInput): boolean {
  return old.kind !== now.kind || old.threshold !== now.threshold || old.forSeconds !== now.forSeconds || old.windowSeconds !== now.windowSeconds || old.minRequests !== now.minRequests;
}

function endOf(old: AlertRecord, reason: string, at: Date): Omit<AlertEventRecord, 'id'> {
  return {
    ruleId: old.rule.id,
    customerId: old.rule.customerId,
    ruleName: old.rule.name,
    kind: old.rule.kind,
    from: old.state,
    to: 'OK',
    value: old.value,
    threshold: old.rule.threshold,
    firingSince: old.state === 'FIRING' ? old.since : null,
    reason,
    at,
  };
}

/**
 * The webhook event of a fired or resolved transition (others have none). The dedup key names
 * the rule and the firing (its since), so a transition reported again (a retry after a failed
 * hand-over) is one event, and a firing's `alert.resolved` pairs with its `alert.fired`.
 */
export function alertWebhookEvent(e: AlertEventRecord): WebhookEventInput | null {
  if (e.firingSince === null) return null;
  const type = e.to === 'FIRING' ? 'alert.fired' : 'alert.resolved';
  return {
    type,
    customerId: e.customerId,
    dedupKey: `${type}:${e.ruleId}:${e.firingSince.toISOString()}`,
    occurredAt: e.at,
    data: {
      ruleId: e.ruleId,
      rule: e.ruleName,
      kind: e.kind,
      state: e.to,
      value: e.value,
      threshold: e.threshold,
      firingSince: e.firingSince.toISOString(),
      reason: e.reason,
      at: e.at.toISOString(),
    },
  };
}

/**
 * Hands the fired/resolved transitions to WebhookEvents, then marks them notified. A failure
 * is logged and left to the evaluator's retry of unnotified rows (the dedup key makes a second
 * hand-over of the same transition one event). Never rejects.
 */
export async function notifyAlertEvents(db: Database, sink: WebhookEvents, events: readonly AlertEventRecord[], logger: Logger, now: () => number = Date.now): Promise<void> {
  const pairs = events.flatMap((e) => {
    const input = alertWebhookEvent(e);
    return input === null ? [] : [{ id: e.id, input }];
  });
  if (pairs.length === 0) return;
  try {
    await sink.emit(pairs.map((p) => p.input));
    await db.transaction((m) => markAlertEventsNotified(m, pairs.map((p) => p.id), new Date(now())));
  } catch (err) {
    logger.warn({ err, events: pairs.map((p) => p.input.dedupKey) }, 'could not hand alert events to webhooks; retrying later');
  }
}

// Opaque to clients; versioned like the purges cursor.
function encodeCursor(id: string): string {
  return Buffer.from(`v1:${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  return /^v1:[1-9][0-9]{0,18}$/.test(text) ? text.slice(3) : undefined;
}
