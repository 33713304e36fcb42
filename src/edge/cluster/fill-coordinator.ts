/**
 * The primary's table of fills (pipeline/fill-locks.ts): which worker leads the origin fetch
 * of each key, and which workers wait for it. One entry per key in flight on this machine;
 * an entry ends when its leader reports the outcome or dies (its followers then retry, one
 * of them becoming the next leader).
 */
import type { Worker } from 'node:cluster';
import { FILL_RETRY, type FillOutcome } from '../pipeline/fill-locks';
import { isFillAcquire, isFillRelease, type FillDoneMessage, type FillGrantMessage } from './cluster.messages';

interface Fill {
  leader: Worker;
  followers: Set<Worker>;
}

export class FillCoordinator {
  readonly #fills = new Map<string, Fill>();

  /** Keys being fetched now (for tests and metrics). */
  get size(): number {
    return this.#fills.size;
  }

  /** Handles a fill message from `worker`; false when the message is not one. */
  onMessage(worker: Worker, message: unknown): boolean {
    if (isFillAcquire(message)) {
      const fill = this.#fills.get(message.key);
      if (fill === undefined) this.#fills.set(message.key, { leader: worker, followers: new Set() });
      // The leader itself may ask again (a purge made its own flight unjoinable): it then
      // waits for that flight like any follower, and looks the purge up afterwards.
      else fill.followers.add(worker);
      const grant: FillGrantMessage = { type: 'cdn-edge:fill-grant', id: message.id, lead: fill === undefined };
      send(worker, grant);
      return true;
    }
    if (isFillRelease(message)) {
      const fill = this.#fills.get(message.key);
      if (fill !== undefined && fill.leader === worker) this.#end(message.key, fill, message.outcome);
      return true;
    }
    return false;
  }

  /** A worker exited: the fills it led end in a retry for their followers. */
  workerGone(worker: Worker): void {
    for (const [key, fill] of [...this.#fills]) {
      fill.followers.delete(worker);
      if (fill.leader === worker) this.#end(key, fill, FILL_RETRY);
    }
  }

  #end(key: string, fill: Fill, outcome: FillOutcome): void {
    this.#fills.delete(key);
    const done: FillDoneMessage = { type: 'cdn-edge:fill-done', key, outcome };
    for (const follower of fill.followers) send(follower, done);
  }
}

function send(worker: Worker, message: FillGrantMessage | FillDoneMessage): void {
  if (!worker.isConnected()) return;
  try {
    worker.send(message);
  } catch {
    // Exiting: workerGone will settle what it led.
  }
}
