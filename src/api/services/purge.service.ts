/**
 * Purge requests: validation, then one transaction that writes the purge row and its
 * `purge.requested` outbox change (whose seq the row keeps), then a kick of the relay.
 * Every check that can fail runs before the first write, and a failure rolls the
 * transaction back: bad input writes nothing. Throws CdnError only.
 */
import { randomUUID } from 'node:crypto';
import { cdnError, invalidInput } from '../../core/errors';
import type { PurgeRequest } from '../../core/purge.types';
import { isPlainText } from '../../core/text.rules';
import type { Logger } from '../../obs/logger.factory';
import { appendChange } from '../db/change-log.writer';
import { customerExists, findCustomer } from '../db/customer.store';
import type { Database } from '../db/database';
import { countPurges, findPurge, insertPurge, lockCustomerRow, readPurgePage } from '../db/purge.store';
import type { PurgeRecord } from '../domain/purge.types';
import type { PageRequest } from './customer.commands';
import { resolvePurgeValue, validatePurge, type RequestPurgeCommand, type ValidPurge } from './purge.validation';

export const PURGE_PAGE_SIZE_DEFAULT = 20;
export const PURGE_PAGE_SIZE_MAX = 500;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export interface PurgePage {
  nodes: PurgeRecord[];
  totalCount: number;
  endCursor: string | null;
  hasNextPage: boolean;
}

export interface PurgeServiceOptions {
  db: Database;
  logger: Logger;
  /** Called after each committed purge (not awaited): wakes the relay. */
  onCommitted?: () => void;
}

export class PurgeService {
  readonly #db: Database;
  readonly #log: Logger;
  readonly #onCommitted: () => void;

  constructor(options: PurgeServiceOptions) {
    this.#db = options.db;
    this.#log = options.logger;
    this.#onCommitted = options.onCommitted ?? (() => {});
  }

  /**
   * Checks the command (throws CDN_ERR_INPUT_INVALID or CDN_ERR_CUSTOMER_NOT_FOUND) and
   * records the purge. `requestedBy` names the caller for the record.
   */
  async request(cmd: RequestPurgeCommand, requestedBy: string | null): Promise<{ purge: PurgeRecord; valid: ValidPurge }> {
    const valid = validatePurge(cmd);
    const purge = await this.#db.transaction(async (m) => {
      // Locked: the customer cannot be deleted between this check and the insert.
      if (!(await lockCustomerRow(m, valid.customerId))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', valid.customerId);
      const customer = (await findCustomer(m, valid.customerId))!;
      const value = resolvePurgeValue(valid, { id: customer.id, domains: customer.domains });
      const request: PurgeRequest = {
        id: randomUUID(),
        customerId: customer.id,
        kind: valid.kind,
        value,
        soft: valid.soft,
        requestedAt: new Date().toISOString(),
      };
      const seq = await appendChange(m, { kind: 'purge.requested', v: 1, purge: request });
      const record: PurgeRecord = {
        id: request.id,
        customerId: request.customerId,
        kind: request.kind,
        value: request.value,
        soft: request.soft,
        seq,
        requestedAt: new Date(request.requestedAt),
        completedAt: null,
        requestedBy,
      };
      await insertPurge(m, record);
      return record;
    });
    this.#onCommitted();
    this.#log.info({ purgeId: purge.id, customerId: purge.customerId, kind: purge.kind, soft: purge.soft, seq: purge.seq }, 'purge requested');
    return { purge, valid };
  }

  /** The purge, or null when there is none with that id (also for ids that are not UUIDs). */
  async get(id: string): Promise<PurgeRecord | null> {
    if (!isUuid(id)) return null;
    return this.#db.read((m) => findPurge(m, id));
  }

  /** A customer's purges, newest first. Throws CDN_ERR_CUSTOMER_NOT_FOUND for an unknown customer. */
  async list(customerId: string, page: PageRequest = {}): Promise<PurgePage> {
    const first = page.first ?? PURGE_PAGE_SIZE_DEFAULT;
    const problems = [];
    if (!Number.isInteger(first) || first < 1 || first > PURGE_PAGE_SIZE_MAX) {
      problems.push({ field: 'first', message: `must be from 1 to ${PURGE_PAGE_SIZE_MAX}, got ${first}` });
    }
    const after = page.after == null ? null : decodeCursor(page.after);
    if (after === undefined) problems.push({ field: 'after', message: 'is not a cursor returned by pageInfo.endCursor' });
    if (problems.length > 0) throw invalidInput(problems);
    return this.#db.read(async (m) => {
      // An id with control characters names no customer (and a NUL would be a PostgreSQL error).
      if (!isPlainText(customerId) || !(await customerExists(m, customerId))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
      const [rows, totalCount] = await Promise.all([readPurgePage(m, customerId, after ?? null, first + 1), countPurges(m, customerId)]);
      const nodes = rows.slice(0, first);
      const last = nodes[nodes.length - 1];
      return { nodes, totalCount, endCursor: last ? encodeCursor(last.id) : null, hasNextPage: rows.length > first };
    });
  }
}

// Opaque to clients; versioned like the customers cursor.
function encodeCursor(id: string): string {
  return Buffer.from(`v1:${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  return text.startsWith('v1:') && isUuid(text.slice(3)) ? text.slice(3) : undefined;
}
