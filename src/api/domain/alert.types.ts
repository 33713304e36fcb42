/**
 * Alerts (issue 16): a customer's alert rules, each rule's current state, and the history of
 * its transitions, as db/alert.store.ts returns them. The rules of evaluation (what a kind
 * measures, `for`, windows, minimum requests) are in services/alert.rules.ts.
 */

export const ALERT_KINDS = ['HIT_RATIO_BELOW', 'ERROR_5XX_SHARE_ABOVE', 'ORIGIN_LATENCY_P95_ABOVE', 'ORIGIN_DOWN', 'BANDWIDTH_ABOVE'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export const ALERT_STATES = ['OK', 'PENDING', 'FIRING'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

/** A rule as given to setAlertRules, once validated. */
export interface AlertRuleInput {
  name: string;
  kind: AlertKind;
  /** Share 0..1, ms or bytes/s by kind; null for ORIGIN_DOWN (one origin down is the condition). */
  threshold: number | null;
  forSeconds: number;
  windowSeconds: number;
  minRequests: number;
  enabled: boolean;
}

export interface AlertRuleRecord extends AlertRuleInput {
  id: string;
  customerId: string;
  createdAt: Date;
  updatedAt: Date;
}

/** A rule and where it stands. */
export interface AlertRecord {
  rule: AlertRuleRecord;
  state: AlertState;
  /** When it entered `state` (for FIRING: when it fired). */
  since: Date;
  /** The value measured at the last evaluation; null before one, or without enough traffic to judge. */
  value: number | null;
  evaluatedAt: Date | null;
}

/** One transition of one rule (alert_event). */
export interface AlertEventRecord {
  id: string;
  ruleId: string;
  customerId: string;
  ruleName: string;
  kind: AlertKind;
  from: AlertState;
  to: AlertState;
  value: number | null;
  threshold: number | null;
  /** The firing this transition starts or ends (for a FIRING transition, its own time); null for OK↔PENDING. */
  firingSince: Date | null;
  /** Why: `condition held for 60 s`, `condition no longer holds`, `rule disabled`... */
  reason: string;
  at: Date;
}

/** A rule seen changing state, for the `alertChanged` subscription (told on every replica). */
export interface AlertChangeRecord {
  alert: AlertRecord;
  /** The state it left (as this replica last saw it). */
  from: AlertState;
}
