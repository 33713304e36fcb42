/**
 * The worker side of the fill locks (pipeline/fill-locks.ts): asks the primary over IPC.
 * Never lets a request hang on the primary: without a channel, or without an answer within
 * GRANT_TIMEOUT_MS, the worker leads its own fill (at worst one extra origin fetch); a
 * follower waits at most FOLLOW_TIMEOUT_MS, then tries again.
 */
import { FILL_RETRY, type FillGrant, type FillLocks, type FillOutcome } from '../pipeline/fill-locks';
import { isFillDone, isFillGrant, type FillAcquireMessage, type FillReleaseMessage } from './cluster.messages';

const GRANT_TIMEOUT_MS = 2_000;

export class ClusterFillLocks implements FillLocks {
  readonly #followTimeoutMs: number;
  #nextId = 0;
  readonly #grants = new Map<number, (lead: boolean) => void>();
  readonly #waiting = new Map<string, Array<(outcome: FillOutcome) => void>>();

  /** `followTimeoutMs`: how long a follower waits for the leader (at least the origin timeout). */
  constructor(options: { followTimeoutMs: number }) {
    this.#followTimeoutMs = options.followTimeoutMs;
    process.on('message', (message: unknown) => {
      if (isFillGrant(message)) {
        const settle = this.#grants.get(message.id);
        this.#grants.delete(message.id);
        settle?.(message.lead);
      } else if (isFillDone(message)) {
        const waiters = this.#waiting.get(message.key);
        this.#waiting.delete(message.key);
        for (const settle of waiters ?? []) settle(message.outcome);
      }
    });
    process.once('disconnect', () => {
      for (const settle of this.#grants.values()) settle(true);
      this.#grants.clear();
      for (const waiters of this.#waiting.values()) for (const settle of waiters) settle(FILL_RETRY);
      this.#waiting.clear();
    });
  }

  acquire(key: string): Promise<FillGrant> {
    if (!process.connected || process.send === undefined) return Promise.resolve(this.#lead(key, false));
    const id = (this.#nextId += 1);
    // Registered before the grant can arrive, so a fill that ends at once is not missed.
    const done = this.#follow(key);
    return new Promise<FillGrant>((resolve) => {
      const timer = setTimeout(() => {
        this.#grants.delete(id);
        resolve(this.#lead(key, false));
      }, GRANT_TIMEOUT_MS);
      timer.unref();
      this.#grants.set(id, (lead) => {
        clearTimeout(timer);
        resolve(lead ? this.#lead(key, true) : { lead: false, done: done.promise });
        if (lead) done.cancel();
      });
      const message: FillAcquireMessage = { type: 'cdn-edge:fill-acquire', id, key };
      process.send!(message);
    });
  }

  #lead(key: string, granted: boolean): FillGrant {
    return {
      lead: true,
      release: (outcome) => {
        if (!granted || !process.connected || process.send === undefined) return;
        const message: FillReleaseMessage = { type: 'cdn-edge:fill-release', key, outcome };
        process.send(message);
      },
    };
  }

  #follow(key: string): { promise: Promise<FillOutcome>; cancel(): void } {
    let settle!: (outcome: FillOutcome) => void;
    const promise = new Promise<FillOutcome>((resolve) => {
      const timer = setTimeout(() => resolve(FILL_RETRY), this.#followTimeoutMs);
      timer.unref();
      settle = (outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      };
    });
    const list = this.#waiting.get(key) ?? [];
    list.push(settle);
    this.#waiting.set(key, list);
    return {
      promise,
      cancel: () => {
        const rest = (this.#waiting.get(key) ?? []).filter((s) => s !== settle);
        if (rest.length === 0) this.#waiting.delete(key);
        else this.#waiting.set(key, rest);
        settle(FILL_RETRY);
      },
    };
  }
}
