/** Alert records (domain/alert.types.ts) → the GraphQL types of alert.type.ts. */
import type { AlertChangeRecord, AlertEventRecord, AlertRecord, AlertRuleRecord } from '../domain/alert.types';
import { Alert, AlertChange, AlertEvent, AlertKind, AlertRule, AlertState } from './alert.type';

export function toGraphqlAlertRule(r: AlertRuleRecord): AlertRule {
  return Object.assign(new AlertRule(), {
    id: r.id,
    name: r.name,
    kind: r.kind as AlertKind,
    threshold: r.threshold,
    forSeconds: r.forSeconds,
    windowSeconds: r.windowSeconds,
    minRequests: r.minRequests,
    enabled: r.enabled,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  });
}

export function toGraphqlAlert(a: AlertRecord): Alert {
  return Object.assign(new Alert(), { rule: toGraphqlAlertRule(a.rule), state: a.state as AlertState, since: a.since, value: a.value, evaluatedAt: a.evaluatedAt });
}

export function toGraphqlAlertEvent(e: AlertEventRecord): AlertEvent {
  return Object.assign(new AlertEvent(), {
    id: e.id,
    ruleId: e.ruleId,
    ruleName: e.ruleName,
    kind: e.kind as AlertKind,
    from: e.from as AlertState,
    to: e.to as AlertState,
    value: e.value,
    threshold: e.threshold,
    firingSince: e.firingSince,
    reason: e.reason,
    at: e.at,
  });
}

export function toGraphqlAlertChange(c: AlertChangeRecord): AlertChange {
  return Object.assign(new AlertChange(), { customerId: c.alert.rule.customerId, from: c.from as AlertState, alert: toGraphqlAlert(c.alert) });
}
