/**
 * The worker side of the client rates (access/client-rates.ts): asks the primary, which keeps
 * one budget per key for every worker of the edge (rate-coordinator.ts), over IPC.
 *
 * Never lets a request hang on the primary: without a channel, or without an answer within
 * `timeoutMs` (250 ms), the worker answers from a LocalClientRates of its own, holding the
 * whole limit, and goes on answering alone for `aloneForMs` (1 s) before it asks the primary
 * again, so a stalled primary costs one wait per second rather than one per request (an
 * answer arriving late ends that time at once). While the primary is lost the limit is
 * therefore per worker: a client spread over N workers may get up to N times its budget.
 * A take that timed out may also have been counted by the primary: it then counts twice,
 * which only errs on the strict side.
 */
import { checkRateLimit, LocalClientRates, RATE_ALLOWED, type ClientRates, type RateVerdict } from '../access/client-rates';
import type { RateLimitAction } from '../../core/delivery-rules.types';
import { isRateVerdict, type RateTakeMessage } from './cluster.messages';

export const RATE_ANSWER_TIMEOUT_MS = 250;
export const RATE_ALONE_FOR_MS = 1_000;

export interface ClusterClientRatesOptions {
  /** How long a take waits for the primary before the worker answers alone (default 250 ms). */
  timeoutMs?: number;
  /** After an unanswered take, how long the worker answers alone before asking again (default 1 s). */
  aloneForMs?: number;
  /** The worker's own table (the fallback): its key bound and clock. */
  maxKeys?: number;
  now?: () => number;
}

export class ClusterClientRates implements ClientRates {
  readonly #timeoutMs: number;
  readonly #aloneForMs: number;
  readonly #now: () => number;
  readonly #local: LocalClientRates;
  #nextId = 0;
  /** Takes waiting for the primary, by id; settled with undefined: answer alone. */
  readonly #pending = new Map<number, (verdict: RateVerdict | undefined) => void>();
  #aloneUntil = 0;
  #localAnswers = 0;

  constructor(options: ClusterClientRatesOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? RATE_ANSWER_TIMEOUT_MS;
    this.#aloneForMs = options.aloneForMs ?? RATE_ALONE_FOR_MS;
    this.#now = options.now ?? Date.now;
    this.#local = new LocalClientRates({ ...(options.now === undefined ? {} : { now: options.now }), ...(options.maxKeys === undefined ? {} : { maxKeys: options.maxKeys }) });
    process.on('message', (message: unknown) => {
      if (!isRateVerdict(message)) return;
      // The primary answers (if late): ask it again from now on.
      this.#aloneUntil = 0;
      const settle = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      settle?.(message.allowed ? RATE_ALLOWED : { allowed: false, retryAfterMs: message.retryAfterMs });
    });
    process.once('disconnect', () => {
      for (const settle of [...this.#pending.values()]) settle(undefined);
      this.#pending.clear();
    });
  }

  take(key: string, limit: RateLimitAction): RateVerdict | Promise<RateVerdict> {
    // Here rather than only in the table: the primary drops a take it cannot read, which would cost a timeout.
    checkRateLimit(limit);
    if (!process.connected || process.send === undefined || this.#now() < this.#aloneUntil) return this.#alone(key, limit);
    const id = (this.#nextId += 1);
    return new Promise<RateVerdict>((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#aloneUntil = this.#now() + this.#aloneForMs;
        resolve(this.#alone(key, limit));
      }, this.#timeoutMs);
      timer.unref();
      const settle = (verdict: RateVerdict | undefined): void => {
        clearTimeout(timer);
        this.#pending.delete(id);
        resolve(verdict ?? this.#alone(key, limit));
      };
      this.#pending.set(id, settle);
      const message: RateTakeMessage = { type: 'cdn-edge:rate-take', id, key, perSecond: limit.perSecond, burst: limit.burst };
      // With a callback a failed write is told here, not emitted as an 'error' no one handles.
      process.send!(message, (err: Error | null) => {
        if (err !== null && this.#pending.get(id) === settle) settle(undefined);
      });
    });
  }

  /** Takes this worker answered from its own table (no channel, or the primary silent): for tests and logs. */
  get localAnswers(): number {
    return this.#localAnswers;
  }

  #alone(key: string, limit: RateLimitAction): RateVerdict {
    this.#localAnswers += 1;
    return this.#local.take(key, limit);
  }
}
