/**
 * The alert queries (migrations/1795710000000-alerts.ts): a customer's rules replaced as a
 * whole (kept by name, so a rule keeps its id, state and history across edits), rules with
 * their states, the evaluators' compare-and-set on (state, since) that lets exactly one api
 * replica record each transition, their batched value update, the transition history (page,
 * unnotified rows, the retention's batched delete). Table names stay in db/.
 */
import type { AlertEventRecord, AlertKind, AlertRecord, AlertRuleInput, AlertRuleRecord, AlertState } from '../domain/alert.types';
import type { Tx } from './database';

interface RuleRow {
  id: string;
  customer_id: string;
  name: string;
  kind: AlertKind;
  threshold: number | null;
  for_seconds: number;
  window_seconds: number;
  min_requests: number;
  enabled: boolean;
  created_at: Date | string;
  updated_at: Date | string;
}

interface AlertRow extends RuleRow {
  state: AlertState;
  since: Date | string;
  value: number | null;
  evaluated_at: Date | string | null;
}

interface EventRow {
  id: string;
  rule_id: string;
  customer_id: string;
  rule_name: string;
  kind: AlertKind;
  from_state: AlertState;
  to_state: AlertState;
  value: number | null;
  threshold: number | null;
  firing_since: Date | string | null;
  reason: string;
  at: Date | string;
}

const ALERT_COLUMNS = `r."id", r."customer_id", r."name", r."kind", r."threshold", r."for_seconds", r."window_seconds", r."min_requests", r."enabled", r."created_at", r."updated_at",
  s."state", s."since", s."value", s."evaluated_at"`;

/** The customer's rules with their states, in the order they were given; `lock`: FOR UPDATE of both rows. */
export async function readCustomerAlerts(m: Tx, customerId: string, lock = false): Promise<AlertRecord[]> {
  const rows: AlertRow[] = await m.query(
    `SELECT ${ALERT_COLUMNS} FROM "alert_rule" r JOIN "alert_state" s ON s."rule_id" = r."id"
      WHERE r."customer_id" = $1 ORDER BY r."position"${lock ? ' FOR UPDATE' : ''}`,
    [customerId],
  );
  return rows.map(toAlert);
}

/** Every rule of every customer with its state: what one evaluation pass reads (and judges the enabled ones of). */
export async function readAllAlerts(m: Tx): Promise<AlertRecord[]> {
  const rows: AlertRow[] = await m.query(
    `SELECT ${ALERT_COLUMNS} FROM "alert_rule" r JOIN "alert_state" s ON s."rule_id" = r."id" ORDER BY r."customer_id", r."position"`,
  );
  return rows.map(toAlert);
}

/**
 * Makes the customer's rules `rules` (in this order): rules named as before keep their row
 * (id, state, history) with the new definition, others are inserted with an OK state, those
 * not named are deleted (their state with them). The caller locked them (readCustomerAlerts(lock)).
 */
export async function replaceAlertRules(m: Tx, customerId: string, rules: readonly AlertRuleInput[], at: Date): Promise<void> {
  await m.query(`DELETE FROM "alert_rule" WHERE "customer_id" = $1 AND NOT ("name" = ANY($2::varchar[]))`, [customerId, rules.map((r) => r.name)]);
  for (const [position, r] of rules.entries()) {
    const inserted: Array<{ id: string }> = await m.query(
      `INSERT INTO "alert_rule" ("customer_id", "name", "position", "kind", "threshold", "for_seconds", "window_seconds", "min_requests", "enabled", "created_at", "updated_at")
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
       ON CONFLICT ("customer_id", "name") DO UPDATE SET "position" = EXCLUDED."position", "kind" = EXCLUDED."kind", "threshold" = EXCLUDED."threshold",
         "for_seconds" = EXCLUDED."for_seconds", "window_seconds" = EXCLUDED."window_seconds", "min_requests" = EXCLUDED."min_requests",
         "enabled" = EXCLUDED."enabled", "updated_at" = EXCLUDED."updated_at"
       RETURNING "id"`,
      [customerId, r.name, position, r.kind, r.threshold, r.forSeconds, r.windowSeconds, r.minRequests, r.enabled, at],
    );
    await m.query(`INSERT INTO "alert_state" ("rule_id", "state", "since") VALUES ($1, 'OK', $2) ON CONFLICT ("rule_id") DO NOTHING`, [inserted[0]!.id, at]);
  }
}

/** Puts a rule back to OK now, whatever its state (its definition changed, or it was disabled). */
export async function resetAlertState(m: Tx, ruleId: string, at: Date): Promise<void> {
  await m.query(`UPDATE "alert_state" SET "state" = 'OK', "since" = $2, "value" = NULL WHERE "rule_id" = $1`, [ruleId, at]);
}

/**
 * The compare-and-set: moves the rule to `to` only if it is still in `from` (state and since,
 * so an older episode never matches). True when this call made the transition; false when
 * another replica (or an edit of the rule) got there first.
 */
export async function compareAndSetAlertState(
  m: Tx,
  ruleId: string,
  from: { state: AlertState; since: Date },
  to: { state: AlertState; since: Date; value: number | null },
): Promise<boolean> {
  const rows: unknown[] = await m.query(
    `UPDATE "alert_state" SET "state" = $4, "since" = $5, "value" = $6, "evaluated_at" = $5
      WHERE "rule_id" = $1 AND "state" = $2 AND "since" = $3 RETURNING 1`,
    [ruleId, from.state, from.since, to.state, to.since, to.value],
  );
  // TypeORM answers an UPDATE ... RETURNING with [rows, count] on PostgreSQL.
  const returned = Array.isArray(rows[0]) ? (rows[0] as unknown[]) : rows;
  return returned.length > 0;
}

/** The value each rule measured at `at`, for rules still in the state they were judged in. */
export async function updateAlertValues(m: Tx, values: ReadonlyArray<{ ruleId: string; state: AlertState; since: Date; value: number | null }>, at: Date): Promise<void> {
  if (values.length === 0) return;
  await m.query(
    `UPDATE "alert_state" s SET "value" = v."value", "evaluated_at" = $5
       FROM unnest($1::uuid[], $2::varchar[], $3::timestamptz[], $4::float8[]) AS v("rule_id", "state", "since", "value")
      WHERE s."rule_id" = v."rule_id" AND s."state" = v."state" AND s."since" = v."since"`,
    [values.map((v) => v.ruleId), values.map((v) => v.state), values.map((v) => v.since), values.map((v) => v.value), at],
  );
}

/** Appends transitions to the history; returns them with their ids. */
export async function insertAlertEvents(m: Tx, events: ReadonlyArray<Omit<AlertEventRecord, 'id'>>): Promise<AlertEventRecord[]> {
  const out: AlertEventRecord[] = [];
  for (const e of events) {
    const rows: Array<{ id: string }> = await m.query(
      `INSERT INTO "alert_event" ("rule_id", "customer_id", "rule_name", "kind", "from_state", "to_state", "value", "threshold", "firing_since", "reason", "at")
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING "id"`,
      [e.ruleId, e.customerId, e.ruleName, e.kind, e.from, e.to, e.value, e.threshold, e.firingSince, e.reason.slice(0, 200), e.at],
    );
    out.push({ ...e, id: String(rows[0]!.id) });
  }
  return out;
}

/** A customer's transitions, newest first, after the one with id `afterId` (exclusive). */
export async function readAlertEventPage(m: Tx, customerId: string, afterId: string | null, limit: number): Promise<AlertEventRecord[]> {
  const rows: EventRow[] = await m.query(
    `SELECT * FROM "alert_event" WHERE "customer_id" = $1 AND ($2::bigint IS NULL OR "id" < $2::bigint) ORDER BY "id" DESC LIMIT $3`,
    [customerId, afterId, limit],
  );
  return rows.map(toEvent);
}

export async function countAlertEvents(m: Tx, customerId: string): Promise<number> {
  const rows: Array<{ n: number }> = await m.query(`SELECT count(*)::int AS "n" FROM "alert_event" WHERE "customer_id" = $1`, [customerId]);
  return rows[0]!.n;
}

/** Fired and resolved transitions whose webhook event was not handed over, recorded before `before`. */
export async function readUnnotifiedAlertEvents(m: Tx, before: Date, limit: number): Promise<AlertEventRecord[]> {
  const rows: EventRow[] = await m.query(
    `SELECT * FROM "alert_event" WHERE "notified_at" IS NULL AND "firing_since" IS NOT NULL AND "at" < $1 ORDER BY "id" LIMIT $2`,
    [before, limit],
  );
  return rows.map(toEvent);
}

export async function markAlertEventsNotified(m: Tx, ids: readonly string[], at: Date): Promise<void> {
  if (ids.length === 0) return;
  await m.query(`UPDATE "alert_event" SET "notified_at" = $2 WHERE "id" = ANY($1::bigint[]) AND "notified_at" IS NULL`, [ids, at]);
}

/** Deletes up to `batch` transitions older than `cutoff`; returns how many. */
export async function deleteAlertEventsBefore(m: Tx, cutoff: Date, batch: number): Promise<number> {
  // Wrapped in a SELECT: TypeORM answers a bare DELETE with [rows, count] instead of rows.
  const rows: Array<{ n: number }> = await m.query(
    `WITH d AS (DELETE FROM "alert_event" WHERE "id" IN (SELECT "id" FROM "alert_event" WHERE "at" < $1 ORDER BY "at" LIMIT $2) RETURNING 1)
     SELECT count(*)::int AS "n" FROM d`,
    [cutoff, batch],
  );
  return rows[0]!.n;
}

function toRule(row: RuleRow): AlertRuleRecord {
  return {
    id: row.id,
    customerId: row.customer_id,
    name: row.name,
    kind: row.kind,
    threshold: row.threshold === null ? null : Number(row.threshold),
    forSeconds: row.for_seconds,
    windowSeconds: row.window_seconds,
    minRequests: row.min_requests,
    enabled: row.enabled,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function toAlert(row: AlertRow): AlertRecord {
  return {
    rule: toRule(row),
    state: row.state,
    since: new Date(row.since),
    value: row.value === null ? null : Number(row.value),
    evaluatedAt: row.evaluated_at === null ? null : new Date(row.evaluated_at),
  };
}

function toEvent(row: EventRow): AlertEventRecord {
  return {
    id: String(row.id),
    ruleId: row.rule_id,
    customerId: row.customer_id,
    ruleName: row.rule_name,
    kind: row.kind,
    from: row.from_state,
    to: row.to_state,
    value: row.value === null ? null : Number(row.value),
    threshold: row.threshold === null ? null : Number(row.threshold),
    firingSince: row.firing_since === null ? null : new Date(row.firing_since),
    reason: row.reason,
    at: new Date(row.at),
  };
}
