/**
 * The disk tier: one file per object at `<cacheDir>/<customerId>/<aa>/<sha256(key)>`
 * (named by the key's hash, never by the URL). File layout:
 *
 *   "EPC1" | u32 BE json length | f64 BE body size | json metadata | body
 *
 * The body size is written last (after the body), and a reader checks it against the
 * file size, so the layout detects truncation. Objects are written to a unique temp file
 * in the same directory and renamed on completion: a crash or an aborted body never
 * leaves a partial object that could be served.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { CacheStore, ObjectMeta, PutOutcome, StoredObject } from './cache-store.port';
import { customerOfKey } from './cache-key';

const MAGIC = Buffer.from('EPC1');
const PREFIX_BYTES = 16;
/** One read usually covers the prefix and the metadata of a typical object. */
const FIRST_READ_BYTES = 4096;
const META_MAX_BYTES = 1024 * 1024;
const TRASH_DIR = '.trash';

export interface DiskStoreOptions {
  dir: string;
  /** Larger bodies are not stored. */
  maxObjectBytes: number;
  onError?: (err: unknown, what: string) => void;
}

export class DiskStore implements CacheStore {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #onError: (err: unknown, what: string) => void;
  readonly #background = new Set<Promise<unknown>>();

  constructor(options: DiskStoreOptions) {
    this.#dir = path.resolve(options.dir);
    this.#maxBytes = options.maxObjectBytes;
    this.#onError = options.onError ?? (() => {});
  }

  /** Where the object for `key` lives (exported for tests and tools). */
  pathOf(key: string): string {
    const hash = createHash('sha256').update(key).digest('hex');
    return path.join(this.#dir, customerOfKey(key), hash.slice(0, 2), hash);
  }

  customerDir(customerId: string): string {
    return path.join(this.#dir, customerId);
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const file = this.pathOf(key);
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#onError(err, 'open cached object');
      return undefined;
    }
    try {
      const meta = await readMeta(fh, key);
      if (meta !== undefined) return new DiskObject(fh, meta.meta, meta.bodyStart);
    } catch (err) {
      this.#onError(err, 'read cached object');
    }
    await fh.close().catch(() => {});
    // Unreadable, truncated or another key's object: drop it so it is refetched.
    await unlink(file).catch(() => {});
    return undefined;
  }

  async put(key: string, meta: Omit<ObjectMeta, 'size' | 'key'>, body: Readable): Promise<PutOutcome> {
    const file = this.pathOf(key);
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    let fh: FileHandle | undefined;
    let size = 0;
    let tooLarge = false;
    try {
      await mkdir(path.dirname(file), { recursive: true });
      const out = await open(tmp, 'wx');
      fh = out;
      const json = Buffer.from(JSON.stringify({ ...meta, key }));
      const prefix = Buffer.alloc(PREFIX_BYTES);
      MAGIC.copy(prefix, 0);
      prefix.writeUInt32BE(json.length, 4);
      prefix.writeDoubleBE(-1, 8);
      await out.write(Buffer.concat([prefix, json]));
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (tooLarge) continue; // keep draining: the client still gets the body
        if (size > this.#maxBytes) {
          tooLarge = true;
          await out.close();
          fh = undefined;
          await unlink(tmp).catch(() => {});
          continue;
        }
        await out.write(chunk);
      }
      if (tooLarge) return 'too_large';
      const sizeField = Buffer.alloc(8);
      sizeField.writeDoubleBE(size, 0);
      await out.write(sizeField, 0, 8, 8);
      await out.close();
      fh = undefined;
      await rename(tmp, file);
      return 'stored';
    } catch (err) {
      if (fh !== undefined) await fh.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      // Never leave the other reader of a teed body waiting on us.
      body.destroy();
      if (!isAbort(err)) this.#onError(err, 'store object');
      return 'aborted';
    }
  }

  /** Rewrites the object with the new metadata and the old body (temp file + rename, like put). */
  async updateMeta(key: string, meta: Omit<ObjectMeta, 'size' | 'key'>): Promise<boolean> {
    const current = await this.get(key);
    if (current === undefined) return false;
    const outcome = await this.put(key, meta, current.openBody());
    return outcome === 'stored';
  }

  async delete(key: string): Promise<void> {
    await unlink(this.pathOf(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /**
   * Moves the customer's folder aside at once (so a customer recreated with the same id
   * starts empty) and removes it in the background.
   */
  async deleteCustomer(customerId: string): Promise<void> {
    const from = this.customerDir(customerId);
    const to = path.join(this.#dir, TRASH_DIR, `${customerId}.${Date.now()}.${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(path.dirname(to), { recursive: true });
      await rename(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const removal = rm(to, { recursive: true, force: true }).catch((err: unknown) => this.#onError(err, 'remove cache folder'));
    this.#background.add(removal);
    void removal.finally(() => this.#background.delete(removal));
  }

  async idle(): Promise<void> {
    await Promise.all([...this.#background]);
  }
}

class DiskObject implements StoredObject {
  readonly meta: ObjectMeta;
  readonly #fh: FileHandle;
  readonly #start: number;
  #taken = false;

  constructor(fh: FileHandle, meta: ObjectMeta, start: number) {
    this.#fh = fh;
    this.meta = meta;
    this.#start = start;
  }

  openBody(): Readable {
    this.#taken = true;
    return this.#fh.createReadStream({ start: this.#start, autoClose: true });
  }

  async release(): Promise<void> {
    if (this.#taken) return;
    this.#taken = true;
    await this.#fh.close().catch(() => {});
  }
}

async function readMeta(fh: FileHandle, key: string): Promise<{ meta: ObjectMeta; bodyStart: number } | undefined> {
  const first = Buffer.allocUnsafe(FIRST_READ_BYTES);
  const { bytesRead } = await fh.read(first, 0, FIRST_READ_BYTES, 0);
  if (bytesRead < PREFIX_BYTES || !first.subarray(0, 4).equals(MAGIC)) return undefined;
  const jsonLength = first.readUInt32BE(4);
  const size = first.readDoubleBE(8);
  if (jsonLength > META_MAX_BYTES || !(size >= 0)) return undefined;
  let json: Buffer;
  if (PREFIX_BYTES + jsonLength <= bytesRead) {
    json = first.subarray(PREFIX_BYTES, PREFIX_BYTES + jsonLength);
  } else {
    json = Buffer.allocUnsafe(jsonLength);
    const r = await fh.read(json, 0, jsonLength, PREFIX_BYTES);
    if (r.bytesRead < jsonLength) return undefined;
  }
  const bodyStart = PREFIX_BYTES + jsonLength;
  const stat = await fh.stat();
  if (stat.size !== bodyStart + size) return undefined;
  const parsed = JSON.parse(json.toString('utf8')) as Omit<ObjectMeta, 'size'>;
  if (parsed.key !== key) return undefined;
  return { meta: { ...parsed, size }, bodyStart };
}

function isAbort(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'ABORT_ERR' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'UND_ERR_ABORTED' || code === 'ECONNRESET' || (err as Error)?.name === 'AbortError' || code === 'EDGE_BODY_ABORTED';
}
