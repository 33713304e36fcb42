/**
 * The audit log on PostgreSQL: the AuditSink the audit plugin writes through (a row before
 * each mutation runs, its outcome after), the newest-first pages of `auditLog`, and the
 * retention sweep that keeps the table bounded (entries older than the retention are
 * deleted in batches, at start and every hour, by every api replica: deleting the same
 * expired rows twice is harmless). Throws CdnError only.
 */
import type { AuditFinish, AuditSink, AuditStart } from '../../core/audit.port';
import { invalidInput, type FieldProblem } from '../../core/errors';
import { checkText } from '../../core/text.rules';
import type { Logger } from '../../obs/logger.factory';
import { deleteAuditBefore, insertAuditStarts, readAuditPage, updateAuditOutcomes } from '../db/audit.store';
import type { Database } from '../db/database';
import type { AuditRecord } from '../domain/audit.types';

export const AUDIT_PAGE_SIZE_DEFAULT = 50;
export const AUDIT_PAGE_SIZE_MAX = 500;
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;
const SWEEP_BATCH = 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface AuditPageRequest {
  first?: number;
  after?: string | null;
  customerId?: string | null;
}

export interface AuditPage {
  nodes: AuditRecord[];
  endCursor: string | null;
  hasNextPage: boolean;
}

export interface AuditServiceOptions {
  db: Database;
  logger: Logger;
  /** Entries older than this many days are deleted. */
  retentionDays: number;
  sweepIntervalMs?: number;
  /** Rows per DELETE, so a sweep never holds long locks or one huge transaction. */
  sweepBatch?: number;
  now?: () => number;
}

export class AuditService implements AuditSink {
  readonly #db: Database;
  readonly #log: Logger;
  readonly #retentionMs: number;
  readonly #intervalMs: number;
  readonly #batch: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | null = null;
  #started = false;
  /** Set by stop(): a sweep in progress ends after its current batch. */
  #halted = false;

  constructor(options: AuditServiceOptions) {
    this.#db = options.db;
    this.#log = options.logger.child({ component: 'audit' });
    this.#retentionMs = options.retentionDays * DAY_MS;
    this.#intervalMs = options.sweepIntervalMs ?? SWEEP_INTERVAL_MS;
    this.#batch = options.sweepBatch ?? SWEEP_BATCH;
    this.#now = options.now ?? Date.now;
  }

  begin(entries: readonly AuditStart[]): Promise<string[]> {
    if (entries.length === 0) return Promise.resolve([]);
    return this.#db.transaction((m) => insertAuditStarts(m, entries));
  }

  async finish(outcomes: readonly AuditFinish[]): Promise<void> {
    if (outcomes.length === 0) return;
    await this.#db.transaction((m) => updateAuditOutcomes(m, outcomes));
  }

  /**
   * Newest first. A customerId filters to entries about that customer; an unknown (or
   * deleted) customer is not an error: its entries outlive it.
   */
  async list(page: AuditPageRequest = {}): Promise<AuditPage> {
    const first = page.first ?? AUDIT_PAGE_SIZE_DEFAULT;
    const problems: FieldProblem[] = [];
    if (!Number.isInteger(first) || first < 1 || first > AUDIT_PAGE_SIZE_MAX) {
      problems.push({ field: 'first', message: `must be from 1 to ${AUDIT_PAGE_SIZE_MAX}, got ${first}` });
    }
    const after = page.after == null ? null : decodeCursor(page.after);
    if (after === undefined) problems.push({ field: 'after', message: 'is not a cursor returned by pageInfo.endCursor' });
    if (page.customerId != null) problems.push(...checkText(page.customerId, 'customerId'));
    if (problems.length > 0) throw invalidInput(problems);
    const rows = await this.#db.read((m) => readAuditPage(m, page.customerId ?? null, after ?? null, first + 1));
    const nodes = rows.slice(0, first);
    const last = nodes[nodes.length - 1];
    return { nodes, endCursor: last ? encodeCursor(last.id) : null, hasNextPage: rows.length > first };
  }

  /** Sweeps now, then every interval, until stop(). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#halted = false;
    void this.sweep();
    this.#timer = setInterval(() => void this.sweep(), this.#intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#started = false;
    this.#halted = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping;
  }

  /** Deletes every expired entry, a batch at a time; returns how many. One sweep at a time. */
  sweep(): Promise<number> {
    this.#sweeping ??= this.#sweepAll().finally(() => {
      this.#sweeping = null;
    });
    return this.#sweeping;
  }

  async #sweepAll(): Promise<number> {
    const cutoff = new Date(this.#now() - this.#retentionMs);
    let total = 0;
    try {
      for (;;) {
        const deleted = await this.#db.transaction((m) => deleteAuditBefore(m, cutoff, this.#batch));
        total += deleted;
        // A stop() mid-sweep ends it between batches; the next start finishes the job.
        if (deleted < this.#batch || this.#halted) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (total > 0) this.#log.info({ deleted: total, before: cutoff.toISOString() }, 'expired audit entries deleted');
    } catch (err) {
      this.#log.error({ err, deleted: total }, 'audit retention sweep failed; retrying at the next interval');
    }
    return total;
  }
}

// Opaque to clients; versioned like the other cursors.
function encodeCursor(id: string): string {
  return Buffer.from(`v1:${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  return /^v1:[1-9][0-9]{0,18}$/.test(text) ? text.slice(3) : undefined;
}
