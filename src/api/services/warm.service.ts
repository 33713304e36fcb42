/**
 * Cache warm requests: validation, the edges that take part, then one transaction that writes
 * the warm row, a `pending` row per edge and its `warm.requested` outbox change (whose seq the
 * row keeps), then a kick of the relay. Every check that can fail runs before the first write,
 * and a failure rolls the transaction back: bad input writes nothing. Throws CdnError only.
 *
 * The edges taking part are those live when the warm is asked for (or the one named), as the
 * fleet lists them, one per machine (CDN_EDGE_ID): a cluster's workers warm once for their
 * machine. An edge that starts later does not see the warm (it boots from a snapshot, which
 * carries no warms), so it is not waited for.
 */
import { randomUUID } from 'node:crypto';
import type { WarmRequest } from '../../core/warm.types';
import { cdnError, invalidInput } from '../../core/errors';
import type { EdgeFleet } from '../../core/fleet.port';
import { isPlainText } from '../../core/text.rules';
import { machineOf } from '../../core/warm.types';
import type { Logger } from '../../obs/logger.factory';
import { appendChange } from '../db/change-log.writer';
import { customerExists, findCustomer } from '../db/customer.store';
import type { Database } from '../db/database';
import { lockCustomerRow } from '../db/purge.store';
import { countWarms, findWarm, insertWarm, readWarmPage } from '../db/warm.store';
import type { WarmRecord } from '../domain/warm.types';
import type { PageRequest } from './customer.commands';
import { isUuid, PURGE_PAGE_SIZE_DEFAULT, PURGE_PAGE_SIZE_MAX } from './purge.service';
import { resolveWarmTargets, validateWarm, type WarmCacheCommand } from './warm.validation';

export const WARM_PAGE_SIZE_DEFAULT = PURGE_PAGE_SIZE_DEFAULT;
export const WARM_PAGE_SIZE_MAX = PURGE_PAGE_SIZE_MAX;

export interface WarmPage {
  nodes: WarmRecord[];
  totalCount: number;
  endCursor: string | null;
  hasNextPage: boolean;
}

export interface WarmServiceOptions {
  db: Database;
  fleet: EdgeFleet;
  logger: Logger;
  /** CDN_WARM_MAX_URLS. */
  maxUrls: number;
  /** Called after each committed warm (not awaited): wakes the relay. */
  onCommitted?: () => void;
}

export class WarmService {
  readonly #db: Database;
  readonly #fleet: EdgeFleet;
  readonly #log: Logger;
  readonly #maxUrls: number;
  readonly #onCommitted: () => void;

  constructor(options: WarmServiceOptions) {
    this.#db = options.db;
    this.#fleet = options.fleet;
    this.#log = options.logger;
    this.#maxUrls = options.maxUrls;
    this.#onCommitted = options.onCommitted ?? (() => {});
  }

  /**
   * Checks the command (CDN_ERR_INPUT_INVALID, CDN_ERR_CUSTOMER_NOT_FOUND), finds the edges
   * that take part (CDN_ERR_FLEET_UNAVAILABLE, CDN_ERR_WARM_NO_EDGES; a named edge that is not
   * live is an input problem) and records the warm. `requestedBy` names the caller.
   */
  async request(cmd: WarmCacheCommand, requestedBy: string | null): Promise<WarmRecord> {
    const valid = validateWarm(cmd, this.#maxUrls);
    // The targets need the customer's domains: checked before the fleet is asked, so a bad URL is told first.
    const found = await this.#db.read((m) => findCustomer(m, valid.customerId));
    if (!found) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', valid.customerId);
    resolveWarmTargets(valid, found);
    const edges = await this.#participants(valid.customerId, valid.edgeId);
    const warm = await this.#db.transaction(async (m) => {
      // Locked: the customer cannot be deleted between this check and the insert.
      if (!(await lockCustomerRow(m, valid.customerId))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', valid.customerId);
      // Read again under the lock: its domains may have changed since.
      const customer = (await findCustomer(m, valid.customerId))!;
      const request: WarmRequest = {
        id: randomUUID(),
        customerId: customer.id,
        targets: resolveWarmTargets(valid, customer),
        edgeId: valid.edgeId,
        requestedAt: new Date().toISOString(),
      };
      const seq = await appendChange(m, { kind: 'warm.requested', v: 1, warm: request });
      const record: WarmRecord = {
        id: request.id,
        customerId: request.customerId,
        urls: request.targets,
        edgeId: request.edgeId,
        seq,
        requestedAt: new Date(request.requestedAt),
        completedAt: null,
        requestedBy,
      };
      await insertWarm(m, record, edges);
      return record;
    });
    this.#onCommitted();
    this.#log.info({ warmId: warm.id, customerId: warm.customerId, urls: warm.urls.length, edgeId: warm.edgeId, edges: edges.length, seq: warm.seq }, 'warm requested');
    return warm;
  }

  /** The warm, or null when there is none with that id (also for ids that are not UUIDs). */
  async get(id: string): Promise<WarmRecord | null> {
    if (!isUuid(id)) return null;
    return this.#db.read((m) => findWarm(m, id));
  }

  /** A customer's warms, newest first. Throws CDN_ERR_CUSTOMER_NOT_FOUND for an unknown customer. */
  async list(customerId: string, page: PageRequest = {}): Promise<WarmPage> {
    const first = page.first ?? WARM_PAGE_SIZE_DEFAULT;
    const problems = [];
    if (!Number.isInteger(first) || first < 1 || first > WARM_PAGE_SIZE_MAX) {
      problems.push({ field: 'first', message: `must be from 1 to ${WARM_PAGE_SIZE_MAX}, got ${first}` });
    }
    const after = page.after == null ? null : decodeCursor(page.after);
    if (after === undefined) problems.push({ field: 'after', message: 'is not a cursor returned by pageInfo.endCursor' });
    if (problems.length > 0) throw invalidInput(problems);
    return this.#db.read(async (m) => {
      if (!isPlainText(customerId) || !(await customerExists(m, customerId))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
      const [rows, totalCount] = await Promise.all([readWarmPage(m, customerId, after ?? null, first + 1), countWarms(m, customerId)]);
      const nodes = rows.slice(0, first);
      const last = nodes[nodes.length - 1];
      return { nodes, totalCount, endCursor: last ? encodeCursor(last.id) : null, hasNextPage: rows.length > first };
    });
  }

  /** The machines (CDN_EDGE_ID) that take part: the one named, which must be live, or every live one. */
  async #participants(customerId: string, named: string | null): Promise<string[]> {
    let live: string[];
    try {
      live = [...new Set((await this.#fleet.liveEdges()).map((e) => machineOf(e.edgeId)))].sort();
    } catch {
      throw cdnError('CDN_ERR_FLEET_UNAVAILABLE');
    }
    if (named !== null) {
      if (live.includes(named)) return [named];
      const listed = live.length === 0 ? 'no edge is live now' : `the live edges are ${live.slice(0, 20).join(', ')}${live.length > 20 ? ', …' : ''}`;
      throw invalidInput([{ field: 'edgeId', message: `names no live edge ("${named}"); ${listed}. Leave edgeId out to warm every live edge` }]);
    }
    if (live.length === 0) throw cdnError('CDN_ERR_WARM_NO_EDGES', customerId);
    return live;
  }
}

// Opaque to clients; versioned like the purges cursor.
function encodeCursor(id: string): string {
  return Buffer.from(`v1:${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  return text.startsWith('v1:') && isUuid(text.slice(3)) ? text.slice(3) : undefined;
}
