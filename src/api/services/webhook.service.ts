/**
 * Webhooks (issue 16): the receivers of a customer (or fleet-wide, customerId null), their
 * deliveries, and the outbox every service reports its facts to (`WebhookEvents`).
 *
 * - A webhook's secret is generated here, sealed at once (the secret box, like signing keys),
 *   shown once (createWebhook's answer) and never again.
 * - Its URL is checked when saved: absolute http(s), no credentials, no fragment, and not at a
 *   forbidden address when it is an IP literal or its host resolves now (a host that does not
 *   resolve yet is accepted, as for origins: the dispatcher checks every address at connect
 *   time, webhook-sender.ts).
 * - `emit` stores events and their deliveries in one transaction (db/webhook.store.ts);
 *   `emitIn` does the same inside a caller's transaction, so a fact and its event commit
 *   together (a purge's completion stamp, an origin transition, a customer change).
 * - `test` sends a `webhook.test` event to one webhook whatever it subscribes to: it is not one
 *   of WEBHOOK_EVENT_TYPES (nothing in the system reports it), only a way to see a receiver
 *   answer. `redeliver` queues a new delivery of the same event (same event id) with a fresh
 *   retry window; the old delivery keeps its history.
 * Access (which caller may touch which webhook) is the resolvers'; this throws CdnError only.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { describeForbiddenBlock, forbiddenOriginBlock } from '../../core/address.rules';
import { cdnError } from '../../core/errors';
import { generateSecret, type SecretBox } from '../../core/secret-box';
import { isPlainText } from '../../core/text.rules';
import type { Logger } from '../../obs/logger.factory';
import { customerExists } from '../db/customer.store';
import type { Database, Tx } from '../db/database';
import {
  copyDelivery,
  countWebhooks,
  deleteWebhook,
  findDelivery,
  findWebhook,
  insertDirectDelivery,
  insertWebhook,
  insertWebhookEvents,
  listWebhooks,
  lockWebhookScope,
  readDeliveryPage,
  updateWebhook,
  type WebhookPatch,
} from '../db/webhook.store';
import {
  WEBHOOK_EVENT_TYPES,
  type WebhookDeliveryRecord,
  type WebhookDeliveryStatus,
  type WebhookEventInput,
  type WebhookEventType,
  type WebhookEvents,
  type WebhookRecord,
} from '../domain/webhook.types';
import { resolveAllAddresses, type ResolveAll } from './origin-address.check';

export const WEBHOOK_URL_MAX_CHARS = 2048;
export const WEBHOOK_DESCRIPTION_MAX_CHARS = 200;
export const WEBHOOK_TEST_EVENT = 'webhook.test';
const LOOKUP_TIMEOUT_MS = 5000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Where services report facts: the port, plus the same inside a transaction of their own. */
export interface WebhookOutbox extends WebhookEvents {
  /** Stores the events (and their deliveries) in the caller's transaction: they commit with it, or not at all. */
  emitIn(m: Tx, events: readonly WebhookEventInput[]): Promise<void>;
  /** After the caller's transaction committed: the dispatcher looks now rather than at its next poll. */
  committed(): void;
}

/** For services wired without webhooks (tests of other parts). */
export const NO_WEBHOOK_OUTBOX: WebhookOutbox = Object.freeze({ emit: async () => {}, emitIn: async () => {}, committed: () => {} });

export interface CreateWebhookCommand {
  /** null: fleet-wide. */
  customerId: string | null;
  url: string;
  events: readonly WebhookEventType[];
  description?: string | null;
  enabled?: boolean | null;
}

/** Absent or null keeps a field. */
export interface UpdateWebhookCommand {
  url?: string | null;
  events?: readonly WebhookEventType[] | null;
  description?: string | null;
  enabled?: boolean | null;
}

export interface NewWebhook {
  webhook: WebhookRecord;
  /** Shown this once. */
  secret: string;
}

export interface DeliveryPage {
  items: WebhookDeliveryRecord[];
  hasNextPage: boolean;
  endCursor: string | null;
}

export interface WebhookServiceOptions {
  db: Database;
  secretBox: SecretBox;
  logger: Logger;
  allowPrivate: boolean;
  maxPerScope: number;
  /** After events or deliveries were committed (the dispatcher's kick). */
  onQueued?: () => void;
  resolve?: ResolveAll;
}

export class WebhookService implements WebhookOutbox {
  readonly #o: WebhookServiceOptions;
  readonly #log: Logger;
  readonly #onQueued: () => void;

  constructor(options: WebhookServiceOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'webhooks' });
    this.#onQueued = options.onQueued ?? (() => {});
  }

  async emit(events: readonly WebhookEventInput[]): Promise<void> {
    if (events.length === 0) return;
    const queued = await this.#o.db.transaction((m) => insertWebhookEvents(m, events));
    if (queued > 0) this.#onQueued();
  }

  async emitIn(m: Tx, events: readonly WebhookEventInput[]): Promise<void> {
    await insertWebhookEvents(m, events);
  }

  committed(): void {
    this.#onQueued();
  }

  async create(cmd: CreateWebhookCommand): Promise<NewWebhook> {
    const url = await this.#checkUrl(cmd.url);
    const events = checkEvents(cmd.events);
    const description = checkDescription(cmd.description);
    const secret = generateSecret(32);
    const webhook = await this.#o.db.transaction(async (m) => {
      if (cmd.customerId !== null && (!isPlainText(cmd.customerId) || !(await customerExists(m, cmd.customerId)))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', cmd.customerId);
      await lockWebhookScope(m, cmd.customerId);
      if ((await countWebhooks(m, cmd.customerId)) >= this.#o.maxPerScope) {
        throw cdnError('CDN_ERR_WEBHOOKS_FULL', cmd.customerId === null ? 'The fleet' : `Customer "${cmd.customerId}"`, this.#o.maxPerScope);
      }
      return insertWebhook(m, { customerId: cmd.customerId, url, events, secretEnc: this.#o.secretBox.seal(secret), enabled: cmd.enabled ?? true, description: description ?? '' });
    });
    this.#log.info({ webhookId: webhook.id, customerId: webhook.customerId, events: webhook.events }, 'webhook created');
    return { webhook, secret };
  }

  async update(id: string, cmd: UpdateWebhookCommand): Promise<WebhookRecord> {
    const patch: WebhookPatch = {};
    if (cmd.url != null) patch.url = await this.#checkUrl(cmd.url);
    if (cmd.events != null) patch.events = checkEvents(cmd.events);
    if (cmd.description != null) patch.description = checkDescription(cmd.description)!;
    if (cmd.enabled != null) patch.enabled = cmd.enabled;
    const updated = UUID.test(id) ? await this.#o.db.transaction((m) => updateWebhook(m, id, patch)) : null;
    if (updated === null) throw cdnError('CDN_ERR_WEBHOOK_NOT_FOUND', id);
    this.#log.info({ webhookId: id, fields: Object.keys(patch) }, 'webhook updated');
    // Re-enabled: its held deliveries are due.
    if (patch.enabled === true) this.#onQueued();
    return updated;
  }

  async delete(id: string): Promise<WebhookRecord> {
    const deleted = UUID.test(id) ? await this.#o.db.transaction((m) => deleteWebhook(m, id)) : null;
    if (deleted === null) throw cdnError('CDN_ERR_WEBHOOK_NOT_FOUND', id);
    this.#log.info({ webhookId: id }, 'webhook deleted');
    return deleted;
  }

  /** Throws CDN_ERR_WEBHOOK_NOT_FOUND. */
  async get(id: string): Promise<WebhookRecord> {
    const found = UUID.test(id) ? await this.#o.db.read((m) => findWebhook(m, id)) : null;
    if (found === null) throw cdnError('CDN_ERR_WEBHOOK_NOT_FOUND', id);
    return found;
  }

  /** A customer's webhooks (null: the fleet-wide ones), oldest first. */
  async list(customerId: string | null): Promise<WebhookRecord[]> {
    return this.#o.db.read(async (m) => {
      if (customerId !== null && (!isPlainText(customerId) || !(await customerExists(m, customerId)))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
      return listWebhooks(m, customerId);
    });
  }

  /** Throws CDN_ERR_WEBHOOK_DELIVERY_NOT_FOUND. */
  async delivery(id: string): Promise<WebhookDeliveryRecord> {
    const found = UUID.test(id) ? await this.#o.db.read((m) => findDelivery(m, id)) : null;
    if (found === null) throw cdnError('CDN_ERR_WEBHOOK_DELIVERY_NOT_FOUND', id);
    return found;
  }

  /** A webhook's deliveries, newest first; `after` is a delivery id from a previous page. */
  async deliveries(webhookId: string, status: WebhookDeliveryStatus | null, first: number, after: string | null): Promise<DeliveryPage> {
    await this.get(webhookId);
    if (after !== null && !UUID.test(after)) throw cdnError('CDN_ERR_WEBHOOK_DELIVERY_NOT_FOUND', after);
    const rows = await this.#o.db.read((m) => readDeliveryPage(m, webhookId, status, after, first + 1));
    const items = rows.slice(0, first);
    return { items, hasNextPage: rows.length > first, endCursor: items.at(-1)?.id ?? null };
  }

  /** Queues the same event to the same webhook again (a new delivery, a fresh retry window). */
  async redeliver(deliveryId: string): Promise<WebhookDeliveryRecord> {
    const copy = UUID.test(deliveryId) ? await this.#o.db.transaction((m) => copyDelivery(m, deliveryId)) : null;
    if (copy === null) throw cdnError('CDN_ERR_WEBHOOK_DELIVERY_NOT_FOUND', deliveryId);
    this.#onQueued();
    this.#log.info({ deliveryId, copy }, 'webhook redelivery queued');
    return this.delivery(copy);
  }

  /** Queues a `webhook.test` event to this webhook alone. */
  async test(webhookId: string): Promise<WebhookDeliveryRecord> {
    const webhook = await this.get(webhookId);
    const id = await this.#o.db.transaction((m) =>
      insertDirectDelivery(m, webhookId, {
        dedupKey: `${WEBHOOK_TEST_EVENT}:${randomUUID()}`,
        type: WEBHOOK_TEST_EVENT,
        customerId: webhook.customerId,
        occurredAt: new Date(),
        data: { webhookId, message: 'A test event sent by testWebhook: answer 2xx to mark it delivered.' },
      }),
    );
    this.#onQueued();
    return this.delivery(id);
  }

  async #checkUrl(raw: string): Promise<string> {
    const text = raw.trim();
    if (text.length > WEBHOOK_URL_MAX_CHARS) throw cdnError('CDN_ERR_WEBHOOK_URL_INVALID', `it is longer than ${WEBHOOK_URL_MAX_CHARS} characters`);
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw cdnError('CDN_ERR_WEBHOOK_URL_INVALID', `"${text.slice(0, 100)}" is not an absolute URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw cdnError('CDN_ERR_WEBHOOK_URL_INVALID', `its scheme is ${url.protocol.slice(0, -1)}, not http or https`);
    if (url.username !== '' || url.password !== '') throw cdnError('CDN_ERR_WEBHOOK_URL_INVALID', 'it carries credentials (user:password@); receivers check the Edgeplane-Signature header instead');
    if (url.hash !== '') throw cdnError('CDN_ERR_WEBHOOK_URL_INVALID', 'it has a fragment (#...), which is never sent');
    if (!this.#o.allowPrivate) {
      // WHATWG URL has already normalised every IPv4 spelling and compressed IPv6.
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      const literal = isIP(host) !== 0;
      let addresses: string[] = [];
      try {
        addresses = literal ? [host] : await withTimeout((this.#o.resolve ?? resolveAllAddresses)(host));
      } catch {
        // Not resolvable now: checked again on every connect.
      }
      for (const address of addresses) {
        const block = forbiddenOriginBlock(address);
        if (block === undefined) continue;
        const what = literal ? `address ${address}` : `host "${host}" resolves to ${address}, which`;
        throw cdnError('CDN_ERR_WEBHOOK_FORBIDDEN_ADDRESS', `${what} is not a public unicast address (${describeForbiddenBlock(block)})`);
      }
    }
    return url.href;
  }
}

function checkEvents(events: readonly WebhookEventType[]): WebhookEventType[] {
  const unique = [...new Set(events)].filter((e) => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(e));
  if (unique.length === 0) throw cdnError('CDN_ERR_WEBHOOK_NO_EVENTS');
  return unique.sort();
}

function checkDescription(description: string | null | undefined): string | null {
  if (description == null) return null;
  if (description.length > WEBHOOK_DESCRIPTION_MAX_CHARS || !isPlainText(description)) {
    throw cdnError('CDN_ERR_INPUT_INVALID', [{ field: 'input.description', message: `must be plain text of at most ${WEBHOOK_DESCRIPTION_MAX_CHARS} characters` }]);
  }
  return description;
}

function withTimeout<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('lookup timed out')), LOOKUP_TIMEOUT_MS);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
