/**
 * Helpers for the cache store tests: metadata, bodies (streamed, slow, failing), reading
 * a stored object back, temp folders.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ObjectMeta, StoredObject } from '../../src/edge/cache/cache-store.port';

export type PutMeta = Omit<ObjectMeta, 'size' | 'key'>;

export function meta(extra: Partial<PutMeta> = {}): PutMeta {
  return {
    status: 200,
    headers: { 'content-type': 'text/plain', etag: '"v1"', 'set-by': ['a', 'b'] },
    storedAt: 1_700_000_000_000,
    ttl: 60,
    policy: { v: 1, resh: { 'cache-control': 'max-age=60' }, epoch: 'e1' },
    tags: ['product-1', 'all'],
    ...extra,
  };
}

/** A body in several chunks, optionally with a pause between them. */
export function body(chunks: Array<string | Buffer>, delayMs = 0): Readable {
  return Readable.from(
    (async function* () {
      for (const c of chunks) {
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        yield Buffer.isBuffer(c) ? c : Buffer.from(c);
      }
    })(),
    { objectMode: false },
  );
}

/** A body that fails after its first chunks (an origin connection cut mid-body). */
export function failingBody(chunks: string[]): Readable {
  return Readable.from(
    (async function* () {
      for (const c of chunks) yield Buffer.from(c);
      await new Promise((r) => setTimeout(r, 5));
      throw Object.assign(new Error('the origin body ended early'), { code: 'EDGE_BODY_ABORTED' });
    })(),
    { objectMode: false },
  );
}

export async function readAll(stored: StoredObject): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of stored.openBody() as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts).toString();
}

export async function tempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-store-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Object and temp files under a cache folder (not the index). */
export async function objectFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .filter((f) => !path.relative(dir, f).split(path.sep).some((part) => part === '.index'))
    .sort();
}
