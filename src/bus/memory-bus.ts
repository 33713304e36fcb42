/**
 * The in-process change bus, used when no REDIS_URL is set (`cdn start` shares one
 * instance between its api and its edge). Same contract as the Redis bus: a bounded
 * history whose trimming makes a consumer left behind answer `gap`, and a snapshot
 * replaced in the same step as the changes.
 *
 * Everything is copied in and out through JSON, as it would be through Redis, so the
 * api and the edge never share (and never mutate) one object, and a payload that is not
 * JSON-safe fails here the way it would fail in production.
 */
import type { ChangeBus, ReadOptions, ReadResult } from '../core/bus.port';
import type { Change, Snapshot } from '../core/bus.events';
import { checkPublishBatch, linkedLength, READ_COUNT_DEFAULT } from './chain.rules';
import { Signal, wokenOrTimeout } from './signal';

export const MEMORY_BUS_MAX_LENGTH_DEFAULT = 10_000;

export interface MemoryBusOptions {
  /** Changes kept; older ones are trimmed (a consumer behind them gets `gap`). */
  maxLength?: number;
}

type Peek = { kind: 'changes'; changes: Change[] } | { kind: 'gap'; publishedSeq: number } | { kind: 'idle' };

export class MemoryBus implements ChangeBus {
  readonly #maxLength: number;
  /** Ascending by seq; each stored as its JSON text so readers always get fresh copies. */
  #entries: { seq: number; prevSeq: number; json: string }[] = [];
  #published: number | null = null;
  #snapshotJson: string | null = null;
  /** Blocked reads wait on this; publish and close resolve it and start a new one. */
  #wake = new Signal();
  #closed = false;

  constructor(options: MemoryBusOptions = {}) {
    const maxLength = options.maxLength ?? MEMORY_BUS_MAX_LENGTH_DEFAULT;
    if (!Number.isInteger(maxLength) || maxLength < 1) {
      throw new RangeError(`maxLength must be a whole number of at least 1, got ${maxLength}`);
    }
    this.#maxLength = maxLength;
  }

  async publishedSeq(): Promise<number | null> {
    this.#assertOpen();
    return this.#published;
  }

  async publish(changes: Change[], snapshot: Snapshot): Promise<void> {
    this.#assertOpen();
    checkPublishBatch(changes, snapshot);
    const snapshotJson = JSON.stringify(snapshot);
    const added = changes.map((c) => ({ seq: c.seq, prevSeq: c.prevSeq, json: JSON.stringify(c) }));

    // Same rule as the Redis script: skip what is already published, and never let a
    // slower relay put back an older snapshot than the one the published changes reach.
    let current = this.#published ?? 0;
    for (const entry of added) {
      if (entry.seq <= current) continue;
      this.#entries.push(entry);
      current = entry.seq;
    }
    if (snapshot.seq < current) return;
    this.#snapshotJson = snapshotJson;
    this.#published = snapshot.seq;
    const excess = this.#entries.length - this.#maxLength;
    if (excess > 0) this.#entries.splice(0, excess);
    this.#wakeReaders();
  }

  async readSnapshot(): Promise<Snapshot | null> {
    this.#assertOpen();
    return this.#snapshotJson === null ? null : (JSON.parse(this.#snapshotJson) as Snapshot);
  }

  async read(afterSeq: number, options: ReadOptions): Promise<ReadResult> {
    this.#assertOpen();
    const count = options.count ?? READ_COUNT_DEFAULT;
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a whole number of at least 1, got ${count}`);
    const first = this.#peek(afterSeq, count);
    if (first.kind !== 'idle') return first;
    if (options.blockMs > 0) {
      await wokenOrTimeout(this.#wake.fired, options.blockMs);
      if (this.#closed) return { kind: 'changes', changes: [] };
    }
    const second = this.#peek(afterSeq, count);
    return second.kind === 'idle' ? { kind: 'changes', changes: [] } : second;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wakeReaders();
  }

  #peek(afterSeq: number, count: number): Peek {
    const start = firstIndexAfter(this.#entries, afterSeq);
    if (start < this.#entries.length) {
      const run = this.#entries.slice(start, start + count);
      const linked = linkedLength(afterSeq, run);
      if (linked === 0) return { kind: 'gap', publishedSeq: this.#published ?? 0 };
      return { kind: 'changes', changes: run.slice(0, linked).map((e) => JSON.parse(e.json) as Change) };
    }
    // Nothing after afterSeq: fine only if afterSeq is exactly where the chain ends
    // (an empty bus counts as ending at 0).
    const published = this.#published ?? 0;
    return published === afterSeq ? { kind: 'idle' } : { kind: 'gap', publishedSeq: published };
  }

  #wakeReaders(): void {
    this.#wake.fire();
    this.#wake = new Signal();
  }

  #assertOpen(): void {
    // Rejecting (rather than answering "no changes") keeps a consumer that forgot to
    // stop from spinning on an already-resolved read.
    if (this.#closed) throw new Error('the change bus is closed');
  }
}


function firstIndexAfter(entries: readonly { seq: number }[], afterSeq: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]!.seq <= afterSeq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

