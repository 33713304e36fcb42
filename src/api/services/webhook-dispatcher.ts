/**
 * The webhook dispatcher, on every api replica: takes due deliveries from the outbox
 * (webhook_delivery), signs and sends them (webhook-sender.ts), and records each outcome.
 *
 * - Claiming: one short transaction takes up to the free slots' worth of due rows with
 *   `FOR UPDATE SKIP LOCKED` and moves each one's next_attempt_at a lease ahead (db/webhook.store.ts).
 *   Replicas claiming at the same moment skip each other's rows instead of waiting for them or
 *   taking them too; once committed, the lease keeps the row away from every other replica while
 *   this one sends it. No lock outlives the claim's transaction (poolers in transaction mode,
 *   docs/ARCHITECTURE.md), and nothing lives in this process: a replica that dies mid-send
 *   leaves rows whose lease runs out, and any replica sends them again. The lease is longer than
 *   the request's timeout, so a live sender always finishes (or gives up) before its lease ends.
 * - Outcome: a 2xx answer is DELIVERED. Anything else is retried with exponential back-off
 *   (base × 2^(attempt−1), capped, with jitter so receivers coming back are not hit by every
 *   delivery at once) until the retry window (a day by default) after the delivery was created
 *   would be passed; then FAILED. A receiver may see one delivery twice (an api dying after the
 *   receiver answered, before the outcome was stored): the event id stays the same, so it can
 *   tell.
 * - Bounded: at most `concurrency` requests in flight per replica; stop() claims nothing more
 *   and waits for those in flight (each bounded by the timeout).
 * - Retention: events older than WEBHOOK_EVENT_RETENTION_DAYS with nothing pending are deleted
 *   (their deliveries with them), at start and every hour, by every replica.
 */
import { cdnError } from '../../core/errors';
import type { SecretBox } from '../../core/secret-box';
import { signWebhook } from '../../core/webhook.signature';
import type { Logger } from '../../obs/logger.factory';
import type { Database } from '../db/database';
import { claimDueDeliveries, countPendingDeliveries, deleteWebhookEventsBefore, recordAttempt, type AttemptOutcome } from '../db/webhook.store';
import type { ClaimedDelivery } from '../domain/webhook.types';
import type { WebhookSender } from './webhook-sender';

export const WEBHOOK_EVENT_RETENTION_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;
const SWEEP_BATCH = 1000;

export interface WebhookRetryPolicy {
  /** The first retry's delay; each next one doubles. */
  baseMs: number;
  /** No delay is longer. */
  maxMs: number;
  /** How long after its creation a delivery is retried before it is FAILED. */
  windowMs: number;
}

export type WebhookOutcome = 'delivered' | 'retried' | 'failed';

export interface WebhookDispatcherOptions {
  db: Database;
  secretBox: SecretBox;
  sender: WebhookSender;
  logger: Logger;
  concurrency: number;
  /** How often a replica looks for due deliveries when nothing woke it. */
  pollMs: number;
  /** How long a claimed delivery stays away from other replicas; above the request timeout. */
  leaseMs: number;
  retry: WebhookRetryPolicy;
  onOutcome?: (outcome: WebhookOutcome) => void;
  now?: () => number;
  random?: () => number;
}

/** Back-off for the attempt that just failed (1-based): base × 2^(n−1), capped, then between half and all of it. */
export function retryDelayMs(attempt: number, policy: Pick<WebhookRetryPolicy, 'baseMs' | 'maxMs'>, random: () => number = Math.random): number {
  const full = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(full / 2 + (random() * full) / 2);
}

export class WebhookDispatcher {
  readonly #o: WebhookDispatcherOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #inFlight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #passing: Promise<void> | undefined;
  #again = false;
  #stopped = true;
  #failing = false;

  constructor(options: WebhookDispatcherOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'webhooks' });
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  start(): void {
    this.#stopped = false;
    this.#timer = setInterval(() => this.kick(), this.#o.pollMs);
    this.#timer.unref();
    this.#sweepTimer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref();
    void this.sweep();
    this.kick();
  }

  /** Look for due deliveries now (after an event was stored here). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#passing) {
      this.#again = true;
      return;
    }
    this.#passing = this.#pass().finally(() => {
      this.#passing = undefined;
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  /** Claims nothing more; resolves once the deliveries in flight have finished (each within the timeout). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearInterval(this.#sweepTimer);
    await this.#passing;
    await Promise.all([...this.#inFlight]);
  }

  /** Deliveries waiting to be sent, every webhook's (the queue depth gauge). */
  queueDepth(): Promise<number> {
    return this.#o.db.read((m) => countPendingDeliveries(m));
  }

  async sweep(): Promise<void> {
    const cutoff = new Date(this.#now() - WEBHOOK_EVENT_RETENTION_DAYS * DAY_MS);
    try {
      let total = 0;
      for (;;) {
        const deleted = await this.#o.db.transaction((m) => deleteWebhookEventsBefore(m, cutoff, SWEEP_BATCH));
        total += deleted;
        if (deleted < SWEEP_BATCH) break;
      }
      if (total > 0) this.#log.info({ deleted: total, before: cutoff.toISOString() }, 'expired webhook events deleted');
    } catch (err) {
      this.#log.error({ err }, 'webhook event retention sweep failed; retrying at the next interval');
    }
  }

  async #pass(): Promise<void> {
    const free = this.#o.concurrency - this.#inFlight.size;
    if (free <= 0) return;
    let claimed: ClaimedDelivery[];
    try {
      claimed = await this.#o.db.transaction((m) => claimDueDeliveries(m, free, this.#o.leaseMs));
      if (this.#failing) this.#log.info('webhook deliveries can be claimed again');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) this.#log.error({ err }, 'cannot claim webhook deliveries; retrying at the next poll');
      this.#failing = true;
      return;
    }
    for (const delivery of claimed) {
      const sending: Promise<void> = this.#deliver(delivery).finally(() => {
        this.#inFlight.delete(sending);
        // A slot is free: there may be more due.
        this.kick();
      });
      this.#inFlight.add(sending);
    }
    // A full batch: more may be due than there were slots; the finished ones kick again.
  }

  async #deliver(d: ClaimedDelivery): Promise<void> {
    const body = JSON.stringify({ id: d.event.id, type: d.event.type, customerId: d.event.customerId, occurredAt: d.event.occurredAt.toISOString(), data: d.event.data });
    const secret = this.#o.secretBox.open(d.webhook.secretCiphertext);
    let result: { ok: boolean; status: number | null; error: string | null; response: string | null };
    if (secret === null) {
      result = { ok: false, status: null, error: cdnError('CDN_ERR_SECRET_UNREADABLE', `the secret of webhook ${d.webhook.id}`).message, response: null };
    } else {
      const timestamp = Math.floor(this.#now() / 1000);
      result = await this.#o.sender.send(
        d.webhook.url,
        {
          'edgeplane-webhook-id': d.event.id,
          'edgeplane-webhook-timestamp': String(timestamp),
          'edgeplane-signature': signWebhook(secret, timestamp, body),
          'edgeplane-webhook-delivery': d.deliveryId,
          'edgeplane-webhook-attempt': String(d.attempts),
        },
        body,
      );
    }
    let outcome: AttemptOutcome;
    let kind: 'delivered' | 'retried' | 'failed';
    if (result.ok) {
      outcome = { status: 'DELIVERED', httpStatus: result.status, error: null, response: result.response };
      kind = 'delivered';
    } else {
      const next = this.#now() + retryDelayMs(d.attempts, this.#o.retry, this.#random);
      const expired = next > d.createdAt.getTime() + this.#o.retry.windowMs;
      outcome = { status: expired ? 'FAILED' : 'PENDING', nextAttemptAt: expired ? undefined : new Date(next), httpStatus: result.status, error: result.error, response: result.response };
      kind = expired ? 'failed' : 'retried';
    }
    try {
      await this.#o.db.transaction((m) => recordAttempt(m, d.deliveryId, outcome));
    } catch (err) {
      // The lease runs out and the delivery is sent again: at least once, never lost.
      this.#log.error({ err, deliveryId: d.deliveryId }, 'cannot record a webhook attempt; it is sent again when its lease ends');
      return;
    }
    this.#o.onOutcome?.(kind);
    const fields = { deliveryId: d.deliveryId, webhookId: d.webhook.id, eventType: d.event.type, attempt: d.attempts, status: result.status };
    if (kind === 'delivered') this.#log.debug(fields, 'webhook delivered');
    else if (kind === 'retried') this.#log.info({ ...fields, error: result.error, nextAttemptAt: outcome.nextAttemptAt }, 'webhook attempt failed; retrying later');
    else this.#log.warn({ ...fields, error: result.error }, 'webhook delivery failed for good (retry window over)');
  }
}
