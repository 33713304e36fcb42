/**
 * In-process notice that acks of a purge were stored, from the ack collector to whoever
 * waits on that purge in this api process (purgeStatus subscribers, `waitForEdges`).
 * It carries no state: listeners re-read the purge, so a missed or repeated notice only
 * costs a read.
 */
import { EventEmitter } from 'node:events';

export class PurgeSignals {
  readonly #emitter = new EventEmitter();

  constructor() {
    // One listener per waiting subscriber or mutation; many may wait on one purge.
    this.#emitter.setMaxListeners(0);
  }

  /** Calls `listener` each time acks of `purgeId` were stored; returns the unsubscribe. */
  on(purgeId: string, listener: () => void): () => void {
    this.#emitter.on(purgeId, listener);
    return () => this.#emitter.off(purgeId, listener);
  }

  emit(purgeIds: Iterable<string>): void {
    for (const id of new Set(purgeIds)) this.#emitter.emit(id);
  }
}
