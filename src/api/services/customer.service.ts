/**
 * Customer logic: validation, uniqueness, encryption of the Basic Auth password, and the
 * outbox row written in the same transaction as every change. Throws CdnError only;
 * the GraphQL layer translates. A failed mutation changes nothing: everything happens in
 * one transaction, and every check that can fail runs before the first write.
 */
import { randomUUID } from 'node:crypto';
import { cdnError, CdnError, invalidInput } from '../../core/errors';
import { normalizeHostname } from '../../core/customer.rules';
import type { CustomerConfig } from '../../core/customer.types';
import type { Principal } from '../../core/roles';
import type { SecretBox } from '../../core/secret-box';
import { isPlainText } from '../../core/text.rules';
import type { Logger } from '../../obs/logger.factory';
import { appendChange } from '../db/change-log.writer';
import {
  addDomains,
  countCustomers,
  customerConflict,
  customerDomains,
  customerExists,
  deleteCustomer,
  domainOwner,
  domainOwners,
  findCustomer,
  insertCustomer,
  lockCustomerForUpdate,
  readCustomerCreatedAt,
  readCustomerNames,
  readCustomerPage,
  removeDomains,
  updateCustomer,
  type CustomerPatch,
} from '../db/customer.store';
import type { Database, Tx } from '../db/database';
import type { WebhookEventInput } from '../domain/webhook.types';
import { NO_WEBHOOK_OUTBOX, type WebhookOutbox } from './webhook.service';
import type { CustomerRecord } from '../domain/customer.types';
import type { CreateCustomerCommand, PageRequest, UpdateCustomerCommand } from './customer.commands';
import { validateCreate, validateUpdate, type OriginPolicy } from './customer.validation';

export const PAGE_SIZE_DEFAULT = 50;
export const PAGE_SIZE_MAX = 500;

export interface CustomerPage {
  nodes: CustomerRecord[];
  totalCount: number;
  endCursor: string | null;
  hasNextPage: boolean;
}

/**
 * Who is asking, for what an error may tell them: a customer-scoped caller (customerId set)
 * learns nothing about other customers. The resolvers pass the principal; in-process callers
 * (the demo seed, tests) act for the platform.
 */
export type Audience = Pick<Principal, 'customerId'>;
const PLATFORM: Audience = {};

export interface CustomerServiceOptions {
  db: Database;
  secretBox: SecretBox;
  originPolicy: OriginPolicy;
  logger: Logger;
  /** Called after each committed mutation (not awaited): wakes the relay. */
  onCommitted?: () => void;
  /** Where `customer.changed` goes, stored in each mutation's transaction. */
  events?: WebhookOutbox;
}

/**
 * The `customer.changed` webhook event. A mutation happens once, in one transaction of one
 * replica, so its dedup key only needs to be unique. `fields` names what an update changed
 * (names only: never a value, so no password travels).
 */
function customerChanged(customerId: string, change: 'created' | 'updated' | 'deleted', extra: Record<string, unknown> = {}): WebhookEventInput {
  return { type: 'customer.changed', customerId, dedupKey: `customer.changed:${customerId}:${randomUUID()}`, occurredAt: new Date(), data: { customerId, change, ...extra } };
}

export class CustomerService {
  readonly #db: Database;
  readonly #box: SecretBox;
  readonly #policy: OriginPolicy;
  readonly #log: Logger;
  readonly #onCommitted: () => void;
  readonly #events: WebhookOutbox;

  constructor(options: CustomerServiceOptions) {
    this.#db = options.db;
    this.#box = options.secretBox;
    this.#policy = options.originPolicy;
    this.#log = options.logger;
    this.#onCommitted = options.onCommitted ?? (() => {});
    this.#events = options.events ?? NO_WEBHOOK_OUTBOX;
  }

  /** A page of customers by id; `only`: just that one (a customer-scoped caller's view). */
  async list(page: PageRequest = {}, only?: string): Promise<CustomerPage> {
    const first = page.first ?? PAGE_SIZE_DEFAULT;
    const problems = [];
    if (!Number.isInteger(first) || first < 1 || first > PAGE_SIZE_MAX) {
      problems.push({ field: 'first', message: `must be from 1 to ${PAGE_SIZE_MAX}, got ${first}` });
    }
    const after = page.after == null ? null : decodeCursor(page.after);
    if (after === undefined) {
      problems.push({ field: 'after', message: 'is not a cursor returned by pageInfo.endCursor' });
    }
    if (problems.length > 0) throw invalidInput(problems);
    return this.#db.read(async (m) => {
      const [rows, totalCount] = await Promise.all([readCustomerPage(m, after ?? null, first + 1, only), countCustomers(m, only)]);
      const nodes = rows.slice(0, first);
      const last = nodes[nodes.length - 1];
      return { nodes, totalCount, endCursor: last ? encodeCursor(last.id) : null, hasNextPage: rows.length > first };
    });
  }

  async get(id: string): Promise<CustomerRecord | null> {
    return this.#db.read((m) => findCustomer(m, id));
  }

  async getByDomain(domain: string): Promise<CustomerRecord | null> {
    const hostname = normalizeHostname(domain);
    if (!isPlainText(hostname)) return null;
    return this.#db.read(async (m) => {
      const owner = await domainOwner(m, hostname);
      return owner !== null ? findCustomer(m, owner) : null;
    });
  }

  /** Names of the customers among `ids` that exist (for fleetStats' topCustomers). */
  async names(ids: readonly string[]): Promise<Map<string, string>> {
    return this.#db.read((m) => readCustomerNames(m, ids));
  }

  /** When the customer was created; null when it does not exist (any more). */
  async createdAt(id: string): Promise<Date | null> {
    return this.#db.read((m) => readCustomerCreatedAt(m, id));
  }

  async create(cmd: CreateCustomerCommand, audience: Audience = PLATFORM): Promise<CustomerRecord> {
    const input = await validateCreate(cmd, this.#policy);
    const created = await this.#mutate(async (m) => {
      if (await customerExists(m, input.id)) {
        throw cdnError('CDN_ERR_CUSTOMER_EXISTS', input.id);
      }
      await assertDomainsFree(m, input.domains, input.id, audience);
      await insertCustomer(m, {
        id: input.id,
        name: input.name,
        originUrl: input.originUrl,
        domains: input.domains,
        cacheTtl: input.cacheTtl,
        basicAuth: input.basicAuth ? { username: input.basicAuth.username, passwordCiphertext: this.#box.seal(input.basicAuth.password) } : null,
        cacheQuotaBytes: input.cacheQuotaBytes,
        staleIfErrorSeconds: input.staleIfErrorSeconds,
        queryString: input.queryString,
        httpsRedirect: input.httpsRedirect,
        hsts: input.hsts,
        deliveryRules: [],
        compressTypes: input.compressTypes,
        createdAt: new Date(),
        version: 1,
      });
      const customer = (await findCustomer(m, input.id))!;
      await appendChange(m, { kind: 'customer.upserted', v: 1, customer: configOf(customer) });
      await this.#events.emitIn(m, [customerChanged(customer.id, 'created', { name: customer.name, domains: customer.domains, version: customer.version })]);
      return customer;
    }, input.id, audience);
    this.#log.info({ customerId: created.id, domains: created.domains }, 'customer created');
    return created;
  }

  async update(id: string, cmd: UpdateCustomerCommand, audience: Audience = PLATFORM): Promise<CustomerRecord> {
    const input = await validateUpdate(cmd, this.#policy);
    const updated = await this.#mutate(async (m) => {
      // Row lock: two concurrent updates of one customer apply one after the other.
      const current = isPlainText(id) ? await lockCustomerForUpdate(m, id) : null;
      if (!current) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', id);
      const now = new Date();
      const patch: CustomerPatch = { updatedAt: now, version: current.version + 1 };
      if (input.name !== undefined) patch.name = input.name;
      if (input.originUrl !== undefined) patch.originUrl = input.originUrl;
      if (input.cacheTtl !== undefined) patch.cacheTtl = input.cacheTtl;
      if (input.cacheQuotaBytes !== undefined) patch.cacheQuotaBytes = input.cacheQuotaBytes;
      if (input.staleIfErrorSeconds !== undefined) patch.staleIfErrorSeconds = input.staleIfErrorSeconds;
      if (input.queryString !== undefined) patch.queryString = input.queryString;
      if (input.httpsRedirect !== undefined) patch.httpsRedirect = input.httpsRedirect;
      if (input.hsts !== undefined) patch.hsts = input.hsts;
      if (input.compressTypes !== undefined) patch.compressTypes = input.compressTypes;
      if (input.basicAuth === null) {
        patch.basicAuth = null;
      } else if (input.basicAuth !== undefined) {
        patch.basicAuth = { username: input.basicAuth.username, passwordCiphertext: this.#box.seal(input.basicAuth.password) };
      }
      if (input.domains !== undefined) {
        await assertDomainsFree(m, input.domains, id, audience);
        const existing = await customerDomains(m, id);
        const removed = existing.filter((h) => !input.domains!.includes(h));
        const added = input.domains.filter((h) => !existing.includes(h));
        if (removed.length > 0) await removeDomains(m, removed);
        if (added.length > 0) await addDomains(m, id, added, now);
      }
      await updateCustomer(m, id, patch);
      const customer = (await findCustomer(m, id))!;
      await appendChange(m, { kind: 'customer.upserted', v: 1, customer: configOf(customer) });
      await this.#events.emitIn(m, [customerChanged(id, 'updated', { fields: Object.keys(input).sort(), version: customer.version })]);
      return customer;
    }, id, audience);
    this.#log.info({ customerId: id, fields: Object.keys(input) }, 'customer updated');
    return updated;
  }

  async delete(id: string): Promise<void> {
    await this.#mutate(async (m) => {
      const deleted = isPlainText(id) ? await deleteCustomer(m, id) : false;
      if (!deleted) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', id);
      await appendChange(m, { kind: 'customer.deleted', v: 1, customerId: id });
      // After the delete: the customer's own webhooks went with it, the fleet-wide ones hear it.
      await this.#events.emitIn(m, [customerChanged(id, 'deleted')]);
    }, id);
    this.#log.info({ customerId: id }, 'customer deleted');
  }

  /**
   * Runs one mutation transaction. The checks above make conflicts clear in the common
   * case; a concurrent transaction can still win the race between check and insert, and
   * then the unique violation (23505) becomes the same CONFLICT error.
   */
  async #mutate<T>(work: (m: Tx) => Promise<T>, customerId: string, audience: Audience = PLATFORM): Promise<T> {
    try {
      const result = await this.#db.transaction(work);
      this.#onCommitted();
      this.#events.committed();
      return result;
    } catch (err) {
      if (err instanceof CdnError) throw err;
      const conflict = customerConflict(err);
      if (!conflict) throw err;
      if (conflict.on === 'domain') {
        const domain = conflict.hostname ?? 'one of the domains';
        if (audience.customerId !== undefined) throw domainTaken([{ hostname: domain, customerId: null }], audience);
        const owner = await this.#db.read((m) => domainOwner(m, domain));
        throw domainTaken([{ hostname: domain, customerId: owner }], audience);
      }
      throw new CdnError('CDN_ERR_CUSTOMER_EXISTS', [customerId], { id: customerId });
    }
  }
}

/** What the bus carries of a customer: the record without what only the database keeps. */
function configOf(customer: CustomerRecord): CustomerConfig {
  const { createdAt: _createdAt, ...config } = customer;
  return config;
}

/** CONFLICT naming the first domain that another customer owns (all of them in details). */
async function assertDomainsFree(m: Tx, domains: string[], customerId: string, audience: Audience): Promise<void> {
  const taken = (await domainOwners(m, domains)).filter((d) => d.customerId !== customerId);
  if (taken.length === 0) return;
  taken.sort((a, b) => domains.indexOf(a.hostname) - domains.indexOf(b.hostname));
  throw domainTaken(taken, audience);
}

/**
 * The CONFLICT for domains other customers own (the first one in the message). Platform
 * callers learn each owner; a customer-scoped caller learns only that the domain is in use,
 * never whose it is (message and details alike).
 */
function domainTaken(taken: ReadonlyArray<{ hostname: string; customerId: string | null }>, audience: Audience): CdnError<'CDN_ERR_DOMAIN_TAKEN'> {
  const first = taken[0]!;
  if (audience.customerId !== undefined) {
    return new CdnError('CDN_ERR_DOMAIN_TAKEN', [first.hostname, null], {
      domain: first.hostname,
      taken: taken.map((d) => ({ domain: d.hostname })),
    });
  }
  return new CdnError('CDN_ERR_DOMAIN_TAKEN', [first.hostname, first.customerId], {
    domain: first.hostname,
    owner: first.customerId,
    taken: taken.map((d) => ({ domain: d.hostname, owner: d.customerId })),
  });
}

// Opaque to clients; versioned so the format can change without breaking old cursors silently.
function encodeCursor(id: string): string {
  return Buffer.from(`v1:${id}`, 'utf8').toString('base64url');
}

/** The id after which to continue, or undefined when the cursor is not ours. */
function decodeCursor(cursor: string): string | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  return text.startsWith('v1:') && text.length > 3 && isPlainText(text) ? text.slice(3) : undefined;
}
