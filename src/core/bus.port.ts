/**
 * The change bus: how configuration changes travel from the api (which relays its
 * outbox) to every edge (and every api, for subscriptions). One contract, two
 * implementations (Redis streams + snapshot, and in-process); the contract suite in
 * test/integration/bus.contract.test.ts runs against both.
 *
 * Delivery model: changes form one chain linked by `prevSeq`. A consumer that has applied
 * everything up to `afterSeq` reads the next links; when the bus cannot prove it still
 * holds the link right after `afterSeq` (trimmed, restarted empty, consumer ahead of
 * a restored database), `read` answers `gap` and the consumer reloads the snapshot.
 */
import type { Change, Snapshot } from './bus.events';

export type ReadResult = { kind: 'changes'; changes: Change[] } | { kind: 'gap'; publishedSeq: number };

export interface ReadOptions {
  /** How long to wait for a change before answering with no changes. */
  blockMs: number;
  /** At most this many changes per answer. */
  count?: number;
}

export interface ChangeBus {
  /** The seq of the last published change, or null when this bus holds nothing yet (new or restarted empty). */
  publishedSeq(): Promise<number | null>;
  /**
   * Appends changes (in order, each linking to the previous) and replaces the snapshot,
   * atomically: a reader never sees the changes without the snapshot or the reverse.
   * Appending a seq not greater than publishedSeq is a no-op for that change, so two
   * relays racing cannot publish one change twice.
   */
  publish(changes: Change[], snapshot: Snapshot): Promise<void>;
  readSnapshot(): Promise<Snapshot | null>;
  /** Changes after `afterSeq`, waiting up to `blockMs` for the first. */
  read(afterSeq: number, options: ReadOptions): Promise<ReadResult>;
  /** Stops pending reads (they answer with no changes) and releases connections. */
  close(): Promise<void>;
}
