/**
 * Alerts in GraphQL: `AlertRule` (and `AlertRuleInput`, what setAlertRules takes), `Alert` (a
 * rule and where it stands), `AlertEvent` (one transition, alertHistory's nodes), `AlertChange`
 * (the alertChanged subscription) and the `AlertKind` / `AlertState` enums, whose values are
 * the api's own strings. The semantics are services/alert.rules.ts's (docs/API.md, "Alerts").
 */
import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { PageInfo } from './customer-connection.type';

export enum AlertKind {
  HIT_RATIO_BELOW = 'HIT_RATIO_BELOW',
  ERROR_5XX_SHARE_ABOVE = 'ERROR_5XX_SHARE_ABOVE',
  ORIGIN_LATENCY_P95_ABOVE = 'ORIGIN_LATENCY_P95_ABOVE',
  ORIGIN_DOWN = 'ORIGIN_DOWN',
  BANDWIDTH_ABOVE = 'BANDWIDTH_ABOVE',
}
registerEnumType(AlertKind, {
  name: 'AlertKind',
  description: 'What an alert rule watches, over its window of the live stats (ORIGIN_DOWN: the origins now).',
  valuesConfig: {
    HIT_RATIO_BELOW: { description: 'Hits (HIT, STALE, REVALIDATED) / (hits + misses) below threshold, a share 0..1. Needs minRequests requests.' },
    ERROR_5XX_SHARE_ABOVE: { description: '5xx answers / requests above threshold, a share 0..1. Needs minRequests requests.' },
    ORIGIN_LATENCY_P95_ABOVE: {
      description: "The p95 of the origin's time to response headers above threshold ms: from the edges' latency buckets, interpolated inside a bucket (cacheStats' originP95Ms). Needs minRequests requests.",
    },
    ORIGIN_DOWN: { description: "One of the customer's origins held down by at least one live edge process. No threshold, no window." },
    BANDWIDTH_ABOVE: { description: 'Bytes sent to clients per second, averaged over the window, above threshold.' },
  },
});

export enum AlertState {
  OK = 'OK',
  PENDING = 'PENDING',
  FIRING = 'FIRING',
}
registerEnumType(AlertState, {
  name: 'AlertState',
  valuesConfig: {
    OK: { description: 'The condition does not hold (or there is too little traffic to judge).' },
    PENDING: { description: 'The condition holds, for less than forSeconds so far.' },
    FIRING: { description: 'The condition has held for forSeconds; resolved (OK) at the first evaluation where it no longer holds.' },
  },
});

@ObjectType({ description: "One of a customer's alert rules." })
export class AlertRule {
  @Field(() => ID, { description: 'Kept across setAlertRules calls that keep the name.' })
  id!: string;

  @Field({ description: 'Unique within the customer: lower-case letters, digits, "-" and "_" (the `rule` label of cdn_api_alert_*).' })
  name!: string;

  @Field(() => AlertKind)
  kind!: AlertKind;

  @Field(() => Float, { nullable: true, description: 'A share 0..1 (HIT_RATIO_BELOW, ERROR_5XX_SHARE_ABOVE), ms (ORIGIN_LATENCY_P95_ABOVE) or bytes/s (BANDWIDTH_ABOVE); null for ORIGIN_DOWN.' })
  threshold!: number | null;

  @Field(() => Int, { description: 'Seconds the condition must hold before the alert fires (0: at once). Resolving needs no such wait.' })
  forSeconds!: number;

  @Field(() => Int, { description: 'The seconds of live stats the value is computed over (ending at the newest sealed second).' })
  windowSeconds!: number;

  @Field(() => Int, { description: 'Requests the window must hold for the ratio kinds to be judged; fewer: no value, the alert does not fire.' })
  minRequests!: number;

  @Field()
  enabled!: boolean;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;
}

@InputType({ description: 'An alert rule for setAlertRules. Absent fields take their defaults: forSeconds 60, windowSeconds 60, minRequests 100, enabled true.' })
export class AlertRuleInput {
  @Field()
  name!: string;

  @Field(() => AlertKind)
  kind!: AlertKind;

  @Field(() => Float, { nullable: true, description: 'Required, except for ORIGIN_DOWN (which takes none).' })
  threshold?: number | null;

  @Field(() => Int, { nullable: true, description: '0 to 86400.' })
  forSeconds?: number | null;

  @Field(() => Int, { nullable: true, description: '10 to what the live stats keep (CDN_STATS_RETENTION_MINUTES × 60).' })
  windowSeconds?: number | null;

  @Field(() => Int, { nullable: true })
  minRequests?: number | null;

  @Field(() => Boolean, { nullable: true })
  enabled?: boolean | null;
}

@ObjectType({ description: 'An alert rule and where it stands.' })
export class Alert {
  @Field(() => AlertRule)
  rule!: AlertRule;

  @Field(() => AlertState)
  state!: AlertState;

  @Field({ description: 'When it entered this state (FIRING: when it fired).' })
  since!: Date;

  @Field(() => Float, { nullable: true, description: 'The value at the last evaluation, in the unit of the threshold (ORIGIN_DOWN: origins down); null before one, or with too little traffic.' })
  value!: number | null;

  @Field(() => Date, { nullable: true, description: 'When an api last evaluated it.' })
  evaluatedAt!: Date | null;
}

@ObjectType({ description: 'One transition of an alert rule.' })
export class AlertEvent {
  @Field(() => ID)
  id!: string;

  @Field(() => ID)
  ruleId!: string;

  @Field({ description: 'The rule as it was named then (the rule may be gone since).' })
  ruleName!: string;

  @Field(() => AlertKind)
  kind!: AlertKind;

  @Field(() => AlertState)
  from!: AlertState;

  @Field(() => AlertState)
  to!: AlertState;

  @Field(() => Float, { nullable: true })
  value!: number | null;

  @Field(() => Float, { nullable: true })
  threshold!: number | null;

  @Field(() => Date, { nullable: true, description: 'The firing this transition starts or ends; null between OK and PENDING.' })
  firingSince!: Date | null;

  @Field({ description: 'Why: the condition held for forSeconds, no longer holds, the rule was deleted, disabled or changed.' })
  reason!: string;

  @Field()
  at!: Date;
}

@ObjectType()
export class AlertEventConnection {
  @Field(() => [AlertEvent])
  nodes!: AlertEvent[];

  @Field(() => Int, { description: "The customer's transitions kept (30 days), across all pages." })
  totalCount!: number;

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@ObjectType({ description: 'An alert seen changing state, through any api replica.' })
export class AlertChange {
  @Field(() => ID)
  customerId!: string;

  @Field(() => AlertState, { description: 'The state it left.' })
  from!: AlertState;

  @Field(() => Alert, { description: 'The alert as it now stands.' })
  alert!: Alert;
}
