/**
 * The rules of alerts, with no I/O: checking a customer's rule list (every problem named by
 * the rule's index and name, as delivery rules do), what each kind measures on the live stats
 * or the origins' health, and the state machine one evaluation runs. The evaluator
 * (alert-evaluator.service.ts) feeds it numbers and writes what it decides.
 *
 * Kinds and their values:
 * - HIT_RATIO_BELOW: (HIT+STALE+REVALIDATED) / (those + MISS) over the window, the `hitRatio`
 *   of cacheStats; fires when below the threshold (a share, 0..1).
 * - ERROR_5XX_SHARE_ABOVE: 5xx answers / requests over the window (`errorRatio`); above the threshold.
 * - ORIGIN_LATENCY_P95_ABOVE: the p95 of the origin's time to response headers over the window,
 *   in ms, from the edges' merged latency buckets interpolated inside the bucket that holds the
 *   rank (`originP95Ms`: a bucket-resolution estimate, as Prometheus' histogram_quantile);
 *   above the threshold.
 * - BANDWIDTH_ABOVE: body bytes sent to clients per second, averaged over the window; above the threshold.
 * - ORIGIN_DOWN: how many of the customer's origins at least one live edge process holds down
 *   (originHealth); fires at one. No threshold, no window: it is the state now.
 *
 * The three ratio kinds need `minRequests` requests (of any cache result) in the window, and
 * something to take a share of (HIT_RATIO_BELOW: a hit or a miss; the p95: an origin
 * response); with fewer there is no value and the condition does not hold, so a quiet
 * customer never fires one, and a firing one resolves when traffic stops. BANDWIDTH_ABOVE
 * and ORIGIN_DOWN ignore minRequests.
 *
 * States: OK → PENDING when the condition first holds, PENDING → FIRING once it has held for
 * `forSeconds` (at once with 0: OK → FIRING), PENDING → OK when it stops holding before that.
 * FIRING → OK (resolved) at the first evaluation where it no longer holds: no `for` on the
 * way back, as Prometheus does; the window already smooths the value.
 */
import type { FieldProblem } from '../../core/errors';
import { ALERT_KINDS, type AlertKind, type AlertRuleInput, type AlertState } from '../domain/alert.types';

export const ALERT_RULES_MAX = 50;
export const ALERT_FOR_SECONDS_MAX = 24 * 3600;
export const ALERT_WINDOW_SECONDS_MIN = 10;
export const ALERT_MIN_REQUESTS_MAX = 1_000_000_000;
export const ALERT_DEFAULTS = { forSeconds: 60, windowSeconds: 60, minRequests: 100, enabled: true } as const;
const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** Kinds judged on the live stats (the rest: on origin health). */
export const STATS_KINDS: ReadonlySet<AlertKind> = new Set(['HIT_RATIO_BELOW', 'ERROR_5XX_SHARE_ABOVE', 'ORIGIN_LATENCY_P95_ABOVE', 'BANDWIDTH_ABOVE']);
const SHARE_KINDS: ReadonlySet<AlertKind> = new Set(['HIT_RATIO_BELOW', 'ERROR_5XX_SHARE_ABOVE']);

/** A rule as a caller sends it: any field may be missing or of the wrong kind. */
export interface AlertRuleDraft {
  name?: unknown;
  kind?: unknown;
  threshold?: unknown;
  forSeconds?: unknown;
  windowSeconds?: unknown;
  minRequests?: unknown;
  enabled?: unknown;
}

/** Checks a whole list; `windowMaxSeconds` is what the live stats keep (CDN_STATS_RETENTION_MINUTES). */
export function readAlertRules(input: readonly AlertRuleDraft[], options: { windowMaxSeconds: number; field?: string }): { rules: AlertRuleInput[]; problems: FieldProblem[] } {
  const field = options.field ?? 'rules';
  const problems: FieldProblem[] = [];
  if (input.length > ALERT_RULES_MAX) {
    return { rules: [], problems: [{ field, message: `has ${input.length} rules; a customer may have at most ${ALERT_RULES_MAX}` }] };
  }
  const seen = new Set<string>();
  const rules: AlertRuleInput[] = [];
  input.forEach((draft, i) => {
    const name = typeof draft.name === 'string' ? draft.name : '';
    const at = (f: string) => `${field}[${i}]${name === '' ? '' : ` (${name})`}.${f}`;
    const problem = (f: string, message: string) => problems.push({ field: at(f), message });
    if (!NAME.test(name)) problem('name', 'must be 1 to 63 characters: lower-case letters, digits, "-" and "_", starting with a letter or digit (it becomes a metric label)');
    else if (seen.has(name)) problem('name', 'is used by an earlier rule: names must be unique within the customer');
    seen.add(name);
    const kind = draft.kind as AlertKind;
    if (!ALERT_KINDS.includes(kind)) {
      problem('kind', `must be one of ${ALERT_KINDS.join(', ')}`);
      return;
    }
    const threshold = draft.threshold === undefined ? null : (draft.threshold as number | null);
    if (kind === 'ORIGIN_DOWN') {
      if (threshold !== null) problem('threshold', 'must be left out for ORIGIN_DOWN: it fires when one origin is down on a live edge');
    } else if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
      problem('threshold', `is required for ${kind}: ${thresholdWords(kind)}`);
    } else if (SHARE_KINDS.has(kind) && (threshold < 0 || threshold > 1)) {
      problem('threshold', `must be a share from 0 to 1 (0.9 is 90 %), got ${threshold}`);
    } else if (threshold < 0) {
      problem('threshold', `must not be negative, got ${threshold}`);
    }
    const forSeconds = whole(draft.forSeconds, ALERT_DEFAULTS.forSeconds, 0, ALERT_FOR_SECONDS_MAX, at('forSeconds'), problems);
    const windowSeconds = whole(draft.windowSeconds, ALERT_DEFAULTS.windowSeconds, ALERT_WINDOW_SECONDS_MIN, options.windowMaxSeconds, at('windowSeconds'), problems, ' (the live stats keep CDN_STATS_RETENTION_MINUTES)');
    const minRequests = whole(draft.minRequests, ALERT_DEFAULTS.minRequests, 0, ALERT_MIN_REQUESTS_MAX, at('minRequests'), problems);
    const enabled = draft.enabled === undefined || draft.enabled === null ? ALERT_DEFAULTS.enabled : draft.enabled;
    if (typeof enabled !== 'boolean') problem('enabled', 'must be true or false');
    rules.push({ name, kind, threshold, forSeconds, windowSeconds, minRequests, enabled: enabled === true });
  });
  return { rules, problems };
}

function thresholdWords(kind: AlertKind): string {
  switch (kind) {
    case 'HIT_RATIO_BELOW':
    case 'ERROR_5XX_SHARE_ABOVE':
      return 'a share from 0 to 1';
    case 'ORIGIN_LATENCY_P95_ABOVE':
      return 'milliseconds';
    default:
      return 'bytes per second';
  }
}

function whole(value: unknown, fallback: number, min: number, max: number, field: string, problems: FieldProblem[], why = ''): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    problems.push({ field, message: `must be a whole number from ${min} to ${max}${why}, got ${String(value)}` });
    return fallback;
  }
  return value;
}

/** What the live stats say over a rule's window (stats-window.ts's TrafficSummary, and the counts behind its ratios). */
export interface WindowStats {
  requests: number;
  hitRatio: number | null;
  errorRatio: number;
  originP95Ms: number | null;
  bytesPerSecond: number;
}

/** The rule's value, or null when there is too little traffic to judge. */
export function measure(rule: Pick<AlertRuleInput, 'kind' | 'minRequests'>, stats: WindowStats): number | null {
  switch (rule.kind) {
    case 'HIT_RATIO_BELOW':
      return stats.requests >= Math.max(rule.minRequests, 1) ? stats.hitRatio : null;
    case 'ERROR_5XX_SHARE_ABOVE':
      return stats.requests >= Math.max(rule.minRequests, 1) ? stats.errorRatio : null;
    case 'ORIGIN_LATENCY_P95_ABOVE':
      return stats.requests >= rule.minRequests ? stats.originP95Ms : null;
    case 'BANDWIDTH_ABOVE':
      return stats.bytesPerSecond;
    default:
      return null;
  }
}

/** Whether the condition holds for `value` (null: no value, it does not). */
export function breaches(rule: Pick<AlertRuleInput, 'kind' | 'threshold'>, value: number | null): boolean {
  if (value === null) return false;
  if (rule.kind === 'ORIGIN_DOWN') return value >= 1;
  const threshold = rule.threshold ?? 0;
  return rule.kind === 'HIT_RATIO_BELOW' ? value < threshold : value > threshold;
}

/** The next state of a rule in `state` since `since`, the condition holding or not at `now`; the same state: no transition. */
export function nextState(state: AlertState, since: Date, holds: boolean, forSeconds: number, now: number): { state: AlertState; reason: string } {
  if (!holds) return state === 'OK' ? { state, reason: '' } : { state: 'OK', reason: state === 'FIRING' ? 'condition no longer holds' : `condition stopped holding within ${forSeconds} s` };
  if (state === 'FIRING') return { state, reason: '' };
  if (state === 'OK' && forSeconds > 0) return { state: 'PENDING', reason: 'condition holds' };
  if (state === 'OK' || now - since.getTime() >= forSeconds * 1000) return { state: 'FIRING', reason: `condition held for ${forSeconds} s` };
  return { state, reason: '' };
}
