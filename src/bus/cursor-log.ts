/**
 * A bounded in-process log of JSON entries read with a cursor, as a Redis stream is read
 * with XREAD: the memory fleet's warm reports (memory-fleet.ts). Entries are numbered from 1
 * without holes, so a cursor (the last number read, as a decimal string; '0' before
 * everything) maps to a position by subtraction; a cursor behind the trimmed part continues
 * from the oldest entry kept. Entries are stored as JSON and parsed on the way out, so writer
 * and reader never share an object.
 */
import { Signal, wokenOrTimeout } from './signal';

export class CursorLog<T> {
  readonly #max: number;
  #entries: { n: number; json: string }[] = [];
  #lastN = 0;
  #wake = new Signal();
  #closed = false;

  /** `max`: entries kept; the oldest are dropped beyond it. */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`the log must keep at least 1 entry, got ${max}`);
    this.#max = max;
  }

  append(jsons: readonly string[]): void {
    if (jsons.length === 0) return;
    for (const json of jsons) {
      this.#lastN += 1;
      this.#entries.push({ n: this.#lastN, json });
    }
    const excess = this.#entries.length - this.#max;
    if (excess > 0) this.#entries.splice(0, excess);
    this.#fire();
  }

  /**
   * Up to `count` entries after `cursor` ('0', '$' for only new ones, or a cursor this log
   * returned), waiting up to `blockMs` for the first. A closed log answers with none.
   */
  async read(cursor: string, count: number, blockMs: number): Promise<{ cursor: string; entries: T[] }> {
    // '$' becomes the current end now, and that concrete cursor is what the caller gets back.
    const after = cursor === '$' ? this.#lastN : parseCursor(cursor);
    const first = this.#peek(after, count);
    if (first.entries.length > 0 || blockMs <= 0 || this.#closed) return first;
    await wokenOrTimeout(this.#wake.fired, blockMs);
    return this.#closed ? { cursor: String(after), entries: [] } : this.#peek(after, count);
  }

  /** Wakes blocked readers (they answer with nothing). */
  close(): void {
    this.#closed = true;
    this.#fire();
  }

  #peek(after: number, count: number): { cursor: string; entries: T[] } {
    const oldest = this.#entries[0];
    const start = oldest === undefined || after < oldest.n ? 0 : after - oldest.n + 1;
    const run = this.#entries.slice(start, start + count);
    if (run.length === 0) return { cursor: String(after), entries: [] };
    return { cursor: String(run[run.length - 1]!.n), entries: run.map((e) => JSON.parse(e.json) as T) };
  }

  #fire(): void {
    this.#wake.fire();
    this.#wake = new Signal();
  }
}

function parseCursor(cursor: string): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(cursor)) {
    throw new RangeError(`cursor must be '0', '$' or a cursor a previous read returned, got "${cursor}"`);
  }
  return Number(cursor);
}
