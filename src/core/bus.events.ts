/**
 * The typed event map of the change bus. Payloads are JSON-safe and carry a version
 * (`v`) so a newer api can talk to an older edge during a rolling deploy: a consumer
 * skips (and logs) an event version it does not know, and reloads the snapshot.
 */
import type { CustomerConfig } from './customer.types';
import type { PurgeRequest } from './purge.types';
import type { WarmRequest } from './warm.types';

export interface BusEventMap {
  'customer.upserted': { v: 1; customer: CustomerConfig };
  'customer.deleted': { v: 1; customerId: string };
  'purge.requested': { v: 1; purge: PurgeRequest };
  /** Not part of the snapshot: an edge that reloads it after the warm was published never warms it. */
  'warm.requested': { v: 1; warm: WarmRequest };
}

export type BusEventKind = keyof BusEventMap;

export type BusEvent = { [K in BusEventKind]: { kind: K } & BusEventMap[K] }[BusEventKind];

/** One outbox row as published: its sequence, the sequence published just before it, and the event. */
export interface Change {
  seq: number;
  /**
   * The seq of the change published immediately before this one (0 for the first).
   * Sequences can have holes (rolled-back transactions), so continuity is checked with
   * this link rather than with `seq - 1`.
   */
  prevSeq: number;
  /** ISO time the change was committed. */
  at: string;
  event: BusEvent;
}

/** The whole configuration at one point of the change sequence. */
export interface Snapshot {
  v: 1;
  /** The last change this snapshot reflects. */
  seq: number;
  takenAt: string;
  customers: CustomerConfig[];
  /**
   * Per customer, the seq of its latest purge (customers never purged are absent). An edge
   * that reloads the snapshot after a gap purges ALL of a customer whose entry is above the
   * seq it had applied: it may have missed that purge, and when in doubt it purges more.
   * Absent in snapshots from before purges existed.
   */
  purgeSeqs?: Record<string, number>;
}

export const BUS_EVENT_KINDS: readonly BusEventKind[] = ['customer.upserted', 'customer.deleted', 'purge.requested', 'warm.requested'];

/** The customer an event is about. */
export function eventCustomerId(event: BusEvent): string {
  switch (event.kind) {
    case 'customer.upserted':
      return event.customer.id;
    case 'customer.deleted':
      return event.customerId;
    case 'purge.requested':
      return event.purge.customerId;
    case 'warm.requested':
      return event.warm.customerId;
  }
}

export function isKnownEvent(event: { kind?: unknown; v?: unknown }): event is BusEvent {
  return BUS_EVENT_KINDS.includes(event.kind as BusEventKind) && event.v === 1;
}
