/**
 * The in-process fleet channel, used when no REDIS_URL is set (`cdn start` shares one
 * instance between its api and its edge). Same contract as the Redis fleet: heartbeats
 * with a time to live, and a bounded history of purge acks read with a cursor.
 *
 * Everything is copied in and out through JSON, as it would be through Redis, so the api
 * and the edge never share (and never mutate) one object. The clock is injectable so
 * tests can expire heartbeats without waiting.
 *
 * The checks at the bottom are shared with redis-fleet.ts (which imports them from here
 * rather than this file importing ioredis).
 */
import { EDGE_ROLES, ORIGIN_HEALTH_STATES, ORIGINS_DOWN_MAX, QUOTAS_REACHED_MAX, type AckReadOptions, type EdgeRole, type EdgeFleet, type EdgeStatus, type OriginHealthEvent, type PurgeAck, type WarmReport } from '../core/fleet.port';
import { WARM_REPORT_STATES } from '../core/warm.types';
import { CursorLog } from './cursor-log';
import { Signal, wokenOrTimeout } from './signal';

export const MEMORY_FLEET_MAX_ACKS_DEFAULT = 100_000;
export const ACK_READ_COUNT_DEFAULT = 500;

export interface MemoryFleetOptions {
  /** Acks kept; a cursor older than the oldest kept continues from the oldest kept. */
  maxAcks?: number;
  /** Warm reports kept (default: as many as acks), read like acks. */
  maxWarmReports?: number;
  /** Origin health transitions kept (default: as many as acks), read like acks. */
  maxOriginHealth?: number;
  /** Milliseconds since the epoch; heartbeats expire by this clock. */
  now?: () => number;
}

export class MemoryFleet implements EdgeFleet {
  readonly #maxAcks: number;
  readonly #now: () => number;
  /** By edgeId; an entry past expiresAt is dead even before it is pruned. */
  readonly #edges = new Map<string, { json: string; expiresAt: number }>();
  /**
   * Ascending by n, without holes (n = #lastN - length + 1 .. #lastN), so a cursor maps
   * to an index by subtraction. The cursor is n as a decimal string; n starts at 1, so
   * '0' means "before everything".
   */
  #acks: { n: number; json: string }[] = [];
  #lastN = 0;
  /** Blocked reads wait on this; ack and close resolve it and start a new one. */
  #wake = new Signal();
  #closed = false;
  readonly #warmReports: CursorLog<WarmReport>;
  readonly #originHealth: CursorLog<OriginHealthEvent>;

  constructor(options: MemoryFleetOptions = {}) {
    const maxAcks = options.maxAcks ?? MEMORY_FLEET_MAX_ACKS_DEFAULT;
    if (!Number.isInteger(maxAcks) || maxAcks < 1) {
      throw new RangeError(`maxAcks must be a whole number of at least 1, got ${maxAcks}`);
    }
    this.#maxAcks = maxAcks;
    this.#now = options.now ?? Date.now;
    this.#warmReports = new CursorLog(options.maxWarmReports ?? maxAcks);
    this.#originHealth = new CursorLog(options.maxOriginHealth ?? maxAcks);
  }

  async heartbeat(status: EdgeStatus, ttlMs: number): Promise<void> {
    this.#assertOpen();
    const ttl = checkTtl(ttlMs);
    checkEdgeStatus(status);
    this.#edges.set(status.edgeId, { json: JSON.stringify(status), expiresAt: this.#now() + ttl });
  }

  async leave(edgeId: string): Promise<void> {
    this.#assertOpen();
    this.#edges.delete(edgeId);
  }

  async liveEdges(): Promise<EdgeStatus[]> {
    this.#assertOpen();
    const now = this.#now();
    const live: EdgeStatus[] = [];
    for (const [edgeId, entry] of this.#edges) {
      // Like a Redis key with PX: still there at its expiry time, gone just after.
      if (entry.expiresAt < now) this.#edges.delete(edgeId);
      else live.push(JSON.parse(entry.json) as EdgeStatus);
    }
    return live.sort(byEdgeId);
  }

  async ack(acks: PurgeAck[]): Promise<void> {
    this.#assertOpen();
    const jsons = checkedAckJsons(acks);
    if (jsons.length === 0) return;
    for (const json of jsons) {
      this.#lastN += 1;
      this.#acks.push({ n: this.#lastN, json });
    }
    const excess = this.#acks.length - this.#maxAcks;
    if (excess > 0) this.#acks.splice(0, excess);
    this.#wakeReaders();
  }

  async readAcks(cursor: string, options: AckReadOptions): Promise<{ cursor: string; acks: PurgeAck[] }> {
    this.#assertOpen();
    const count = checkCount(options.count);
    // '$' becomes the current end now, and that concrete cursor is what the caller gets
    // back, so acks appended before its next call are not skipped.
    const after = cursor === '$' ? this.#lastN : parseMemoryCursor(cursor);
    const first = this.#peek(after, count);
    if (first.acks.length > 0 || options.blockMs <= 0) return first;
    await wokenOrTimeout(this.#wake.fired, options.blockMs);
    if (this.#closed) return { cursor: String(after), acks: [] };
    return this.#peek(after, count);
  }

  async reportWarms(reports: WarmReport[]): Promise<void> {
    this.#assertOpen();
    this.#warmReports.append(checkedWarmReportJsons(reports));
  }

  async readWarmReports(cursor: string, options: AckReadOptions): Promise<{ cursor: string; reports: WarmReport[] }> {
    this.#assertOpen();
    const { cursor: next, entries } = await this.#warmReports.read(cursor, checkCount(options.count), options.blockMs);
    return { cursor: next, reports: entries };
  }

  async reportOriginHealth(events: OriginHealthEvent[]): Promise<void> {
    this.#assertOpen();
    this.#originHealth.append(checkedOriginHealthJsons(events));
  }

  async readOriginHealth(cursor: string, options: AckReadOptions): Promise<{ cursor: string; events: OriginHealthEvent[] }> {
    this.#assertOpen();
    const { cursor: next, entries } = await this.#originHealth.read(cursor, checkCount(options.count), options.blockMs);
    return { cursor: next, events: entries };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#warmReports.close();
    this.#originHealth.close();
    this.#wakeReaders();
  }

  #peek(after: number, count: number): { cursor: string; acks: PurgeAck[] } {
    const oldest = this.#acks[0];
    // A cursor behind the trimmed part continues from the oldest kept.
    const start = oldest === undefined || after < oldest.n ? 0 : after - oldest.n + 1;
    const run = this.#acks.slice(start, start + count);
    if (run.length === 0) return { cursor: String(after), acks: [] };
    return { cursor: String(run[run.length - 1]!.n), acks: run.map((e) => JSON.parse(e.json) as PurgeAck) };
  }

  #wakeReaders(): void {
    this.#wake.fire();
    this.#wake = new Signal();
  }

  #assertOpen(): void {
    // Rejecting (rather than answering "no acks") keeps a consumer that forgot to stop
    // from spinning on an already-resolved read.
    if (this.#closed) throw new Error('the fleet channel is closed');
  }
}


function parseMemoryCursor(cursor: string): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(cursor)) {
    throw new RangeError(`cursor must be '0', '$' or a cursor readAcks returned, got "${cursor}"`);
  }
  return Number(cursor);
}

// ---- Checks shared with redis-fleet.ts ----

/** Plain code-unit order, the same on every host (localeCompare depends on the locale). */
export function byEdgeId(a: EdgeStatus, b: EdgeStatus): number {
  return a.edgeId < b.edgeId ? -1 : a.edgeId > b.edgeId ? 1 : 0;
}

/** Whole milliseconds, at least 1 (Redis' PX refuses 0). */
export function checkTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be a positive number of milliseconds, got ${ttlMs}`);
  return Math.ceil(ttlMs);
}

export function checkCount(count: number | undefined): number {
  const value = count ?? ACK_READ_COUNT_DEFAULT;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`count must be a whole number of at least 1, got ${value}`);
  return value;
}

/**
 * Refused on the way in, so a status or an ack that JSON cannot carry (NaN, a missing
 * field) fails its writer rather than being skipped, or misread, by every reader.
 */
export function checkEdgeStatus(status: EdgeStatus): void {
  const problem = edgeStatusProblem(status);
  if (problem !== null) throw new TypeError(`invalid edge status: ${problem}`);
}

/** The acks as JSON, every one checked first, so a bad ack leaves nothing of its batch appended. */
export function checkedAckJsons(acks: readonly PurgeAck[]): string[] {
  for (const ack of acks) checkPurgeAck(ack);
  return acks.map((ack) => JSON.stringify(ack));
}

export function checkPurgeAck(ack: PurgeAck): void {
  const problem = purgeAckProblem(ack);
  if (problem !== null) throw new TypeError(`invalid purge ack: ${problem}`);
}

/** The reports as JSON, every one checked first, so a bad report leaves nothing of its batch appended. */
export function checkedWarmReportJsons(reports: readonly WarmReport[]): string[] {
  for (const report of reports) {
    const problem = warmReportProblem(report);
    if (problem !== null) throw new TypeError(`invalid warm report: ${problem}`);
  }
  return reports.map((report) => JSON.stringify(report));
}

/** Why `value` is not a WarmReport, or null when it is one. */
export function warmReportProblem(value: unknown): string | null {
  if (!isRecord(value)) return 'not an object';
  return firstProblem(value, [
    ['warmId', NON_EMPTY_STRING],
    ['edgeId', NON_EMPTY_STRING],
    ['process', NON_EMPTY_STRING],
    ['processStartedAt', STRING],
    ['state', { test: (v) => WARM_REPORT_STATES.includes(v as WarmReport['state']), expected: `one of ${WARM_REPORT_STATES.join(', ')}` }],
    ['total', COUNT],
    ['done', COUNT],
    ['failed', COUNT],
    ['at', STRING],
  ]);
}

/** The events as JSON, every one checked first, so a bad event leaves nothing of its batch appended. */
export function checkedOriginHealthJsons(events: readonly OriginHealthEvent[]): string[] {
  for (const event of events) {
    const problem = originHealthEventProblem(event);
    if (problem !== null) throw new TypeError(`invalid origin health event: ${problem}`);
  }
  return events.map((event) => JSON.stringify(event));
}

const ORIGIN_STATE: FieldRule = { test: (v) => ORIGIN_HEALTH_STATES.includes(v as OriginHealthEvent['state']), expected: `one of ${ORIGIN_HEALTH_STATES.join(', ')}` };

/** Why `value` is not an OriginHealthEvent, or null when it is one. */
export function originHealthEventProblem(value: unknown): string | null {
  if (!isRecord(value)) return 'not an object';
  return firstProblem(value, [
    ['edgeId', NON_EMPTY_STRING],
    ['customerId', NON_EMPTY_STRING],
    ['origin', NON_EMPTY_STRING],
    ['state', ORIGIN_STATE],
    ['reason', STRING],
    ['at', STRING],
  ]);
}

/** Why `value` is not a list of at most ORIGINS_DOWN_MAX down origins. */
function originsDownProblem(value: unknown): string | null {
  if (!Array.isArray(value)) return `"originsDown" must be a list, got ${shown(value)}`;
  if (value.length > ORIGINS_DOWN_MAX) return `"originsDown" must list at most ${ORIGINS_DOWN_MAX} origins, got ${value.length}`;
  for (const [i, entry] of value.entries()) {
    const problem = isRecord(entry)
      ? firstProblem(entry, [
          ['customerId', NON_EMPTY_STRING],
          ['origin', NON_EMPTY_STRING],
          ['since', STRING],
          ['reason', STRING],
        ])
      : 'not an object';
    if (problem !== null) return `"originsDown"[${i}]: ${problem}`;
  }
  return null;
}

/** Why `value` is not a list of at most QUOTAS_REACHED_MAX quota spells. */
function quotasReachedProblem(value: unknown): string | null {
  if (!Array.isArray(value)) return `"quotasReached" must be a list, got ${shown(value)}`;
  if (value.length > QUOTAS_REACHED_MAX) return `"quotasReached" must list at most ${QUOTAS_REACHED_MAX} spells, got ${value.length}`;
  for (const [i, entry] of value.entries()) {
    const problem = isRecord(entry)
      ? firstProblem(entry, [
          ['customerId', NON_EMPTY_STRING],
          ['since', ISO_TIME],
          ['quotaBytes', COUNT],
          ['evictedBytes', COUNT],
        ])
      : 'not an object';
    if (problem !== null) return `"quotasReached"[${i}]: ${problem}`;
  }
  return null;
}

/** Why `value` is not an EdgeStatus, or null when it is one. */
export function edgeStatusProblem(value: unknown): string | null {
  if (!isRecord(value)) return 'not an object';
  if (value.originsDown !== undefined) {
    const problem = originsDownProblem(value.originsDown);
    if (problem !== null) return problem;
  }
  if (value.quotasReached !== undefined) {
    const problem = quotasReachedProblem(value.quotasReached);
    if (problem !== null) return problem;
  }
  if (value.role !== undefined && !EDGE_ROLES.includes(value.role as EdgeRole)) return `"role" must be one of ${EDGE_ROLES.join(', ')}`;
  if (value.shieldUrl !== undefined && !(typeof value.shieldUrl === 'string' && /^https?:\/\/[^\s/]+$/.test(value.shieldUrl))) return '"shieldUrl" must be an http(s) URL without a path';
  return firstProblem(value, [
    ['edgeId', NON_EMPTY_STRING],
    ['host', STRING],
    ['pid', COUNT],
    ['version', STRING],
    ['appliedSeq', COUNT],
    ['ready', BOOLEAN],
    ['startedAt', STRING],
    ['heartbeatAt', STRING],
    ['cacheObjects', COUNT],
    ['cacheBytes', COUNT],
  ]);
}

/** Why `value` is not a PurgeAck, or null when it is one. */
export function purgeAckProblem(value: unknown): string | null {
  if (!isRecord(value)) return 'not an object';
  return firstProblem(value, [
    ['purgeId', NON_EMPTY_STRING],
    ['seq', COUNT],
    ['edgeId', NON_EMPTY_STRING],
    ['appliedAt', STRING],
    ['objectsRemoved', COUNT],
  ]);
}

interface FieldRule {
  test: (v: unknown) => boolean;
  expected: string;
}

const STRING: FieldRule = { test: (v) => typeof v === 'string', expected: 'a string' };
const NON_EMPTY_STRING: FieldRule = { test: (v) => typeof v === 'string' && v.length > 0, expected: 'a non-empty string' };
const BOOLEAN: FieldRule = { test: (v) => typeof v === 'boolean', expected: 'true or false' };
const ISO_TIME: FieldRule = { test: (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v)), expected: 'an ISO time' };
const COUNT: FieldRule = { test: (v) => Number.isSafeInteger(v) && (v as number) >= 0, expected: 'a whole number of at least 0' };

function firstProblem(record: Record<string, unknown>, rules: [field: string, rule: FieldRule][]): string | null {
  for (const [field, rule] of rules) {
    const v = record[field];
    if (!rule.test(v)) return `"${field}" must be ${rule.expected}, got ${shown(v)}`;
  }
  return null;
}

/** NaN and Infinity as themselves (JSON would print null), a missing field as "nothing". */
function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  return typeof v === 'number' ? String(v) : JSON.stringify(v);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
