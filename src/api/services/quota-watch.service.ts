/**
 * The quota watch, one per api replica (issue 16, `quota.reached`): every `intervalMs` it
 * reads the live edges and reports each quota spell their heartbeats list (EdgeStatus
 * `quotasReached`, edge/cache/quota-spells.ts: a customer whose disk quota an edge process is
 * evicting for) as one `quota.reached` webhook event.
 *
 * One event per spell. A spell keeps its `since` on every heartbeat while it lasts, so the
 * dedup key `quota.reached:<customer>:<edge id>:<since>` is the spell's identity: the outbox
 * stores each key once, so the same spell read at every poll, and by every replica, is one
 * event; a new spell (a new since) is a new one. Each process of an edge (a cluster worker)
 * evicts for its own puts and reports its own spells. A replica remembers the keys it has
 * stored (those of spells still listed) and does not write them again.
 *
 * A spell that began before the webhook events' retention could have had its event swept
 * already; it is not reported again (its event was sent when it began).
 *
 * While the fleet or PostgreSQL is away a poll fails and the next one tries again: spells
 * are read from the heartbeats, so none is missed unless it ends within the outage.
 */
import type { EdgeStatus, QuotaReached } from '../../core/fleet.port';
import type { Logger } from '../../obs/logger.factory';
import type { WebhookEventInput, WebhookEvents } from '../domain/webhook.types';
import { EDGE_ID_MAX_CHARS } from '../db/purge.store';
import { WEBHOOK_EVENT_RETENTION_DAYS } from './webhook-dispatcher';

const DAY_MS = 24 * 60 * 60 * 1000;
/** customer ids: `[a-z0-9][a-z0-9-]*`, at most 63 characters. */
const CUSTOMER_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface QuotaWatchOptions {
  /** The live edges (EdgeFleetService.liveEdges); rejects while the fleet cannot be read. */
  liveEdges(): Promise<EdgeStatus[]>;
  events: WebhookEvents;
  logger: Logger;
  intervalMs: number;
  now?: () => number;
}

/** The `quota.reached` event of one spell on one edge process. */
export function quotaWebhookEvent(edgeId: string, spell: QuotaReached): WebhookEventInput {
  return {
    type: 'quota.reached',
    customerId: spell.customerId,
    dedupKey: `quota.reached:${spell.customerId}:${edgeId}:${spell.since}`,
    occurredAt: new Date(spell.since),
    data: { customerId: spell.customerId, edgeId, quotaBytes: spell.quotaBytes, evictedBytes: spell.evictedBytes, since: spell.since },
  };
}

export class QuotaWatch {
  readonly #o: QuotaWatchOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  /** Dedup keys this replica stored (or found stored), of spells still listed. */
  #stored = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;
  #failing = false;

  constructor(options: QuotaWatchOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#log = options.logger.child({ component: 'quota-watch' });
  }

  start(): void {
    this.#stopped = false;
    this.#schedule();
  }

  /** No poll starts after this; the one running finishes. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One poll now (the timer's, callable by tests); one at a time. Never rejects. */
  poll(): Promise<void> {
    this.#running ??= this.#pass().finally(() => (this.#running = undefined));
    return this.#running;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(async () => {
      await this.poll();
      this.#schedule();
    }, this.#o.intervalMs);
    this.#timer.unref();
  }

  async #pass(): Promise<void> {
    try {
      const edges = await this.#o.liveEdges();
      const oldest = this.#now() - (WEBHOOK_EVENT_RETENTION_DAYS - 1) * DAY_MS;
      const listed = new Set<string>();
      const fresh: WebhookEventInput[] = [];
      for (const edge of edges) {
        if (edge.edgeId.length > EDGE_ID_MAX_CHARS) continue;
        for (const spell of edge.quotasReached ?? []) {
          const since = Date.parse(spell.since);
          if (!CUSTOMER_ID.test(spell.customerId) || Number.isNaN(since) || since < oldest) continue;
          const event = quotaWebhookEvent(edge.edgeId, spell);
          listed.add(event.dedupKey);
          if (!this.#stored.has(event.dedupKey)) fresh.push(event);
        }
      }
      if (fresh.length > 0) {
        await this.#o.events.emit(fresh);
        // Another replica may have stored the same spells first: the outbox keeps one event per key either way.
        for (const e of fresh) this.#log.debug({ customerId: e.customerId, edgeId: e.data.edgeId, since: e.data.since, quotaBytes: e.data.quotaBytes }, 'quota spell reported');
      }
      // Only the keys still listed (all of them are stored now): a spell that ended is never listed again under its key.
      this.#stored = listed;
      if (this.#failing) this.#log.info('reading quota spells again');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) this.#log.warn({ err }, 'cannot read or report quota spells; retrying at the next interval');
      this.#failing = true;
    }
  }
}
