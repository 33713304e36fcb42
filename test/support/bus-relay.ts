/**
 * Plays the api's change relay for edge tests: customer upserts and deletions, purges (with
 * the snapshot's purgeSeqs), each change published with its seq and the snapshot after it.
 */
import { randomUUID } from 'node:crypto';
import type { Change, Snapshot } from '../../src/core/bus.events';
import type { ChangeBus } from '../../src/core/bus.port';
import type { CustomerConfig } from '../../src/core/customer.types';
import type { PurgeRequest } from '../../src/core/purge.types';

export class Relay {
  seq = 0;
  readonly customers = new Map<string, CustomerConfig>();
  readonly purgeSeqs: Record<string, number> = {};
  constructor(readonly bus: ChangeBus) {}

  snapshot(): Snapshot {
    return { v: 1, seq: this.seq, takenAt: new Date().toISOString(), customers: [...this.customers.values()], purgeSeqs: { ...this.purgeSeqs } };
  }

  async upsert(...customers: CustomerConfig[]): Promise<void> {
    await this.publish(customers.map((c) => ({ kind: 'customer.upserted', v: 1, customer: c })));
  }

  async delete(id: string): Promise<void> {
    await this.publish([{ kind: 'customer.deleted', v: 1, customerId: id }]);
  }

  /** Publishes a purge (a new id unless given) and returns it. */
  async purge(p: Pick<PurgeRequest, 'customerId' | 'kind'> & Partial<PurgeRequest>): Promise<PurgeRequest> {
    const purge: PurgeRequest = { id: randomUUID(), value: null, soft: false, requestedAt: new Date().toISOString(), ...p };
    await this.publish([{ kind: 'purge.requested', v: 1, purge }]);
    return purge;
  }

  async publish(events: Change['event'][]): Promise<void> {
    const changes: Change[] = events.map((event) => {
      if (event.kind === 'customer.upserted') this.customers.set(event.customer.id, event.customer);
      if (event.kind === 'customer.deleted') this.customers.delete(event.customerId);
      const prevSeq = this.seq;
      this.seq += 1;
      if (event.kind === 'purge.requested') this.purgeSeqs[event.purge.customerId] = this.seq;
      return { seq: this.seq, prevSeq, at: new Date().toISOString(), event };
    });
    await this.bus.publish(changes, this.snapshot());
  }
}
