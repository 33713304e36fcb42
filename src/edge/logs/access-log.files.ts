/**
 * The export files of the access log (CDN_LOG_DIR; docs/EDGE.md "Access logs"): one NDJSON
 * line per client request, appended to `<dir>/<customer id>/<YYYY-MM-DDTHH>Z.<edge>.ndjson`,
 * one file per customer, UTC hour and edge process (cluster workers never share a file, so
 * their lines never interleave).
 *
 * The request path never waits on the disk: `add` only appends the line to a buffer in memory.
 * Every `flushMs` (or sooner once a quarter of the buffer is used) one flush appends each
 * file's lines in one write, opening and closing the file each time: no file stays open, so a
 * file is complete as soon as the flush after its hour ended has run, and moving or deleting
 * files never leaves the edge writing to a file nobody sees. Memory is bounded: lines waiting
 * or being written hold at most `maxBufferBytes`; past that, when the disk cannot keep up,
 * lines are dropped and counted (cdn_edge_access_log_dropped_total) with one warning per spell.
 * No fsync: a crash may lose the last second.
 *
 * Retention: at start and every `sweepMs`, files whose hour ended more than `retentionHours`
 * ago (by the name, not the modification time) are deleted; only names the edge writes are
 * touched.
 */
import { appendFile, mkdir, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../obs/logger.factory';

export const FLUSH_MS_DEFAULT = 1000;
export const MAX_BUFFER_BYTES_DEFAULT = 8 * 1024 * 1024;
export const SWEEP_MS_DEFAULT = 10 * 60_000;
const HOUR_MS = 3_600_000;
const CLOSE_WAIT_MS = 2000;
const FILE_NAME = /^(\d{4}-\d{2}-\d{2}T\d{2})Z\.[A-Za-z0-9._-]+\.ndjson$/;

export interface AccessLogFilesOptions {
  dir: string;
  /** The edge process id (`edge-1#2`); characters outside [A-Za-z0-9._-] become `_` in file names. */
  edgeId: string;
  retentionHours: number;
  /** Epoch ms (the edge's clock: hours of files and retention go by it). */
  now: () => number;
  logger: Logger;
  flushMs?: number;
  maxBufferBytes?: number;
  sweepMs?: number;
}

interface Pending {
  customer: string;
  file: string;
  lines: string[];
}

export class AccessLogFiles {
  readonly #dir: string;
  readonly #edge: string;
  readonly #retentionMs: number;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #flushMs: number;
  readonly #maxBytes: number;
  readonly #sweepMs: number;
  #pending = new Map<string, Pending>();
  /** Bytes waiting plus bytes being written. */
  #held = 0;
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #dirs = new Set<string>();
  #dropping = false;
  /** The hour of the last line and its file name (made once per hour, not per line). */
  #hourStart = -Infinity;
  #hourFile = '';
  #failing = false;
  /** Lines written, and dropped (buffer full or a failed write), since start. */
  written = 0;
  dropped = 0;
  /** The last retention sweep (tests wait on it). */
  swept: Promise<void> = Promise.resolve();

  constructor(options: AccessLogFilesOptions) {
    this.#dir = options.dir;
    this.#edge = options.edgeId.replace(/[^A-Za-z0-9._-]/g, '_');
    this.#retentionMs = options.retentionHours * HOUR_MS;
    this.#now = options.now;
    this.#log = options.logger;
    this.#flushMs = options.flushMs ?? FLUSH_MS_DEFAULT;
    this.#maxBytes = options.maxBufferBytes ?? MAX_BUFFER_BYTES_DEFAULT;
    this.#sweepMs = options.sweepMs ?? SWEEP_MS_DEFAULT;
  }

  start(): void {
    this.#timer = setInterval(() => this.#kick(), this.#flushMs);
    this.#timer.unref();
    this.swept = this.#sweep();
    this.#sweeper = setInterval(() => (this.swept = this.#sweep()), this.#sweepMs);
    this.#sweeper.unref();
  }

  /** Queues one line (with its newline) of `customer`'s file for the hour of `timeMs`; never waits. */
  add(customer: string, timeMs: number, line: string): void {
    if (this.#held + line.length > this.#maxBytes) {
      this.dropped += 1;
      if (!this.#dropping) {
        this.#dropping = true;
        this.#log.warn({ dir: this.#dir, bufferBytes: this.#maxBytes }, 'access log: the disk does not keep up, dropping lines (counted in cdn_edge_access_log_dropped_total)');
      }
      return;
    }
    if (timeMs < this.#hourStart || timeMs >= this.#hourStart + HOUR_MS) {
      this.#hourStart = timeMs - (timeMs % HOUR_MS);
      this.#hourFile = fileName(timeMs, this.#edge);
    }
    const file = this.#hourFile;
    const key = `${customer}/${file}`;
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = { customer, file, lines: [] };
      this.#pending.set(key, pending);
    }
    pending.lines.push(line);
    this.#held += line.length;
    if (this.#held >= this.#maxBytes / 4) this.#kick();
  }

  /** Writes what is buffered (waiting at most 2 s for the disk) and stops. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    clearInterval(this.#sweeper);
    let timer: NodeJS.Timeout | undefined;
    const done = (async () => {
      await this.#flushing;
      await this.#flush();
    })();
    const finished = await Promise.race([done.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    if (!finished) {
      // The disk did not take them in time: lost, and counted (a write still in flight may yet land).
      let left = 0;
      for (const p of this.#pending.values()) left += p.lines.length;
      this.#pending.clear();
      this.dropped += left;
      this.#log.warn({ dir: this.#dir, lines: left }, 'access log: stopping before the disk took every line; those are dropped');
    }
    await this.swept;
  }

  /** Starts a flush unless one is running (the next tick picks up what arrives meanwhile). */
  #kick(): void {
    if (this.#flushing !== undefined || this.#pending.size === 0) return;
    this.#flushing = this.#flush().finally(() => (this.#flushing = undefined));
  }

  async #flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    await Promise.all([...batch.values()].map((p) => this.#write(p)));
    if (this.#dropping && this.#held < this.#maxBytes / 2) {
      this.#dropping = false;
      this.#log.info({ dir: this.#dir, dropped: this.dropped }, 'access log: writing every line again');
    }
  }

  async #write(p: Pending): Promise<void> {
    const chunk = p.lines.join('');
    try {
      const dir = path.join(this.#dir, p.customer);
      if (!this.#dirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.#dirs.add(dir);
      }
      await appendFile(path.join(dir, p.file), chunk);
      this.written += p.lines.length;
      if (this.#failing) {
        this.#failing = false;
        this.#log.info({ dir: this.#dir }, 'access log: writing again');
      }
    } catch (err) {
      // A customer's folder removed behind the edge's back is made again next time.
      this.#dirs.clear();
      this.dropped += p.lines.length;
      if (!this.#failing) {
        this.#failing = true;
        this.#log.warn({ dir: this.#dir, err: err instanceof Error ? err.message : String(err) }, 'access log: cannot write, dropping lines (counted in cdn_edge_access_log_dropped_total)');
      }
    } finally {
      this.#held -= chunk.length;
    }
  }

  /** Deletes the files of hours that ended more than the retention ago. */
  async #sweep(): Promise<void> {
    const oldestKept = this.#now() - this.#retentionMs;
    let customers: string[];
    try {
      customers = await readdir(this.#dir);
    } catch {
      return;
    }
    for (const customer of customers) {
      let files: string[];
      try {
        files = await readdir(path.join(this.#dir, customer));
      } catch {
        continue;
      }
      for (const file of files) {
        const hour = FILE_NAME.exec(file)?.[1];
        if (hour === undefined) continue;
        const hourEnd = Date.parse(`${hour}:00:00.000Z`) + HOUR_MS;
        if (!(hourEnd <= oldestKept)) continue;
        // Another process of this edge may have deleted it first.
        await unlink(path.join(this.#dir, customer, file)).catch(() => {});
      }
    }
  }
}

/** `<YYYY-MM-DDTHH>Z.<edge>.ndjson` for the UTC hour of `timeMs`. */
export function fileName(timeMs: number, edge: string): string {
  return `${new Date(timeMs).toISOString().slice(0, 13)}Z.${edge}.ndjson`;
}
