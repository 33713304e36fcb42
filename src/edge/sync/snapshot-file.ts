/**
 * The edge's last-known-good snapshot on local disk (`<dataDir>/edge-snapshot.json`), so
 * an edge that starts while the bus is unreachable still serves what it knew. Written to
 * a unique temp file and renamed, so a crash never leaves half a file; writes are
 * coalesced so a burst of changes costs one or two writes.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Snapshot } from '../../core/bus.events';

export const SNAPSHOT_FILE_NAME = 'edge-snapshot.json';

export class SnapshotFile {
  readonly #file: string;
  #writing: Promise<void> | undefined;
  #pending: (() => Snapshot) | undefined;

  constructor(dataDir: string) {
    this.#file = path.join(dataDir, SNAPSHOT_FILE_NAME);
  }

  get path(): string {
    return this.#file;
  }

  /** The saved snapshot, or undefined when there is none or it is unreadable. */
  async read(): Promise<Snapshot | undefined> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const parsed = JSON.parse(text) as Partial<Snapshot>;
    if (parsed.v !== 1 || !Number.isSafeInteger(parsed.seq) || !Array.isArray(parsed.customers)) {
      throw new Error(`${this.#file} is not an edge snapshot (v 1)`);
    }
    return parsed as Snapshot;
  }

  /** Schedules a write of `take()` (called when the write starts, so it is the latest state). */
  save(take: () => Snapshot): Promise<void> {
    this.#pending = take;
    this.#writing ??= this.#drain().finally(() => (this.#writing = undefined));
    return this.#writing;
  }

  /** Resolves when no write is in progress. */
  async flush(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing.catch(() => {});
  }

  async #drain(): Promise<void> {
    while (this.#pending !== undefined) {
      const take = this.#pending;
      this.#pending = undefined;
      await mkdir(path.dirname(this.#file), { recursive: true });
      const tmp = `${this.#file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        await writeFile(tmp, JSON.stringify(take()), { mode: 0o600 });
        await rename(tmp, this.#file);
      } catch (err) {
        await unlink(tmp).catch(() => {});
        throw err;
      }
    }
  }
}
