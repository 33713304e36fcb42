/**
 * The primary's client-rate budgets (access/client-rates.ts): one LocalClientRates for every
 * worker of the edge, so a client spreading its requests over the workers (the kernel picks
 * one per connection) still gets one budget per key. Workers ask over IPC
 * (cluster-client-rates.ts); a worker that exits leaves nothing behind: the budgets are the
 * clients', not the workers'.
 */
import type { Worker } from 'node:cluster';
import { LocalClientRates } from '../access/client-rates';
import { isRateTake, type RateVerdictMessage } from './cluster.messages';

export class RateCoordinator {
  readonly #rates: LocalClientRates;

  constructor(rates: LocalClientRates = new LocalClientRates()) {
    this.#rates = rates;
  }

  /** Answers a rate-take from `worker`; false when the message is not one. */
  onMessage(worker: Worker, message: unknown): boolean {
    if (!isRateTake(message)) return false;
    const verdict = this.#rates.take(message.key, { perSecond: message.perSecond, burst: message.burst });
    const answer: RateVerdictMessage = { type: 'cdn-edge:rate-verdict', id: message.id, allowed: verdict.allowed, retryAfterMs: verdict.retryAfterMs };
    if (!worker.isConnected()) return true;
    try {
      worker.send(answer);
    } catch {
      // Exiting: it has no request left to answer.
    }
    return true;
  }
}
