/**
 * Certificate status changes for the `certificateStatus` subscription, on every api replica.
 * Fed like `customerChanged`: by the change feed (bus → this replica), since every change of
 * a certificate (upload, issue, renewal, failure, deletion, by any replica) commits with its
 * customer's `customer.upserted` change (customer-announce.ts). A change names the customer,
 * not the certificate, so each watcher keeps the state it has seen of every certificate in its
 * scope (read when it starts) and, when that customer changes, re-reads the customer's
 * certificates and reports the ones whose status or update time moved, and those gone. It
 * reports what it reads, so changes in quick succession may arrive as one event with the
 * latest state. A missed or repeated notice costs a read, never a wrong event; changes made
 * while the bus was cut off (the feed skipped a gap) are seen at the customer's next change.
 */
import { EventEmitter } from 'node:events';
import type { Change } from '../../core/bus.events';
import { listCertificates, readCertificateStates, type CertificateState } from '../db/certificate.store';
import type { Database } from '../db/database';
import type { CertificateRecord } from '../domain/certificate.types';
import { abortableIterator } from './abortable.iterator';

/** One certificate that changed: its state now, or null when it was deleted (with its customer, maybe). */
export interface CertificateUpdate {
  customerId: string;
  certificateId: string;
  certificate: CertificateRecord | null;
}

const ANY = Symbol('any customer');

export class CertificateWatch {
  readonly #db: Database;
  readonly #emitter = new EventEmitter();
  #closed = false;

  constructor(options: { db: Database }) {
    this.#db = options.db;
    // One listener per open subscription.
    this.#emitter.setMaxListeners(0);
  }

  /** A change from the bus: wakes the watchers of its customer. */
  notify(change: Change): void {
    const event = change.event;
    const customerId = event.kind === 'customer.upserted' ? event.customer.id : event.kind === 'customer.deleted' ? event.customerId : null;
    if (customerId === null) return;
    this.#emitter.emit(customerId, customerId);
    this.#emitter.emit(ANY, customerId);
  }

  /**
   * The changes of the certificates of `customerId` (undefined: of every customer), from now
   * on, until `return()` or close(). Throws nothing after it has started.
   */
  watch(customerId: string | undefined): AsyncIterableIterator<CertificateUpdate> {
    return abortableIterator((signal) => this.#updates(customerId, signal));
  }

  /** Ends every watch (the api is closing). */
  close(): void {
    this.#closed = true;
    this.#emitter.emit('close');
  }

  async *#updates(scope: string | undefined, signal: AbortSignal): AsyncGenerator<CertificateUpdate, void, undefined> {
    const pending = new Set<string>();
    let wake: (() => void) | null = null;
    const onChange = (customerId: string) => {
      pending.add(customerId);
      wake?.();
    };
    const onEnd = () => wake?.();
    // Listening before the baseline is read: a change committed meanwhile is looked at again.
    const topic = scope ?? ANY;
    this.#emitter.on(topic, onChange);
    this.#emitter.on('close', onEnd);
    signal.addEventListener('abort', onEnd);
    try {
      const seen = new Map<string, CertificateState>();
      for (const state of await this.#db.read((m) => readCertificateStates(m, scope))) seen.set(state.id, state);
      while (!signal.aborted && !this.#closed) {
        const next = pending.values().next();
        if (next.done) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
          continue;
        }
        pending.delete(next.value);
        for (const update of await this.#changes(next.value, seen)) {
          if (signal.aborted || this.#closed) return;
          yield update;
        }
      }
    } finally {
      this.#emitter.off(topic, onChange);
      this.#emitter.off('close', onEnd);
      signal.removeEventListener('abort', onEnd);
    }
  }

  /** The customer's certificates that differ from `seen` (updated in place), oldest change first. */
  async #changes(customerId: string, seen: Map<string, CertificateState>): Promise<CertificateUpdate[]> {
    const now = await this.#db.read((m) => listCertificates(m, customerId));
    const updates: CertificateUpdate[] = [];
    const present = new Set<string>();
    for (const record of [...now].sort((a, b) => a.updatedAt.getTime() - b.updatedAt.getTime())) {
      present.add(record.id);
      const before = seen.get(record.id);
      if (before && before.status === record.status && before.updatedAt.getTime() === record.updatedAt.getTime()) continue;
      seen.set(record.id, { id: record.id, customerId, status: record.status, updatedAt: record.updatedAt });
      updates.push({ customerId, certificateId: record.id, certificate: record });
    }
    for (const [id, state] of seen) {
      if (state.customerId !== customerId || present.has(id)) continue;
      seen.delete(id);
      updates.push({ customerId, certificateId: id, certificate: null });
    }
    return updates;
  }
}
