/**
 * The disk cache across processes: a writer killed with SIGKILL in the middle of many
 * writes leaves nothing that is served partially, and the next start removes what it left;
 * two processes writing at once keep the byte totals exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { cacheKey } from '../../src/edge/cache/cache-key';
import { DiskTier } from '../../src/edge/cache/disk.tier';
import { objectFiles, readAll, tempDir } from '../support/cache-store.fixtures';
import { expectedChunks, objectPath, WRITER_INDEX_BODY_MAX } from '../support/cache-writer.child';

const CHILD = path.join(__dirname, '..', 'support', 'cache-writer.child.ts');

function startWriter(dir: string, customer: string, count: number, delayMs: number, first = 0): { child: ChildProcess; stored: number[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--require', '@swc-node/register', CHILD, dir, customer, String(count), String(delayMs), String(first)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SWC_NODE_PROJECT: process.env.SWC_NODE_PROJECT ?? 'tsconfig.json' },
  });
  const stored: number[] = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) if (line.startsWith('stored ')) stored.push(Number(line.slice(7)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stored, exited };
}

/** Bodies in the index's body table (their parts counted once), whatever entries name them. */
function bodyRows(store: DiskTier): number {
  const files = new Set<string>();
  for (const key of store.index.table<Buffer, [string, string, number]>('.bodies').getKeys()) files.add(`${String(key[0])}\n${String(key[1])}`);
  return files.size;
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('kill -9 in the middle of writes: after a restart only complete objects are served and leftovers are removed', async () => {
  const tmp = await tempDir();
  try {
    // 20 ms between chunks: bodies of 4+ chunks stream for 60+ ms, so a kill finds some mid-stream.
    const writer = startWriter(tmp.dir, 'customer-a', 400, 20);
    await until(() => writer.stored.length >= 30, 60_000);
    writer.child.kill('SIGKILL');
    await writer.exited;
    const before = await objectFiles(tmp.dir);
    const temps = before.filter((f) => f.endsWith('.tmp'));
    assert.ok(temps.length > 0, 'killed while bodies were streaming');

    const store = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1024 * 1024, orphanGraceMs: 0 });
    try {
      const report = await store.recovered;
      assert.ok(report && !report.skipped);
      assert.equal(report.tempFiles, temps.length);
      // Everything the writer reported stored is served whole; nothing is served partially.
      let served = 0;
      let rows = 0;
      for (let i = 0; i < 400; i += 1) {
        const p = objectPath(i);
        const got = await store.get(cacheKey('customer-a', p, ''));
        if (got === undefined) {
          assert.ok(!writer.stored.includes(i), `object ${i} was reported stored`);
          continue;
        }
        served += 1;
        if (got.meta.size <= WRITER_INDEX_BODY_MAX) rows += 1;
        assert.equal(await readAll(got), expectedChunks(p).join(''), `object ${i} is complete`);
      }
      assert.ok(served >= writer.stored.length);
      assert.ok(rows > 0 && rows < served, 'bodies in the index and in files were both written');
      // No temp file, no orphan: every file and every body row left is named by an index entry.
      const after = await objectFiles(tmp.dir);
      assert.equal(after.filter((f) => f.endsWith('.tmp')).length, 0);
      assert.equal(after.length, served - rows);
      assert.equal(bodyRows(store), rows);
      const stats = store.stats();
      assert.equal(stats.objects, served);
      assert.equal(stats.customers['customer-a']?.objects, served);
    } finally {
      await store.close();
    }
  } finally {
    await tmp.remove();
  }
});

test('two processes writing the same cache at once (overlapping keys) keep exact byte totals', async () => {
  const tmp = await tempDir();
  try {
    const one = startWriter(tmp.dir, 'customer-a', 60, 0, 0);
    const two = startWriter(tmp.dir, 'customer-a', 60, 0, 30);
    assert.equal(await one.exited, 0);
    assert.equal(await two.exited, 0);
    const store = new DiskTier({ dir: tmp.dir, maxObjectBytes: 1024 * 1024, orphanGraceMs: 0 });
    try {
      await store.recovered;
      let bytes = 0;
      let rows = 0;
      for (let i = 0; i < 90; i += 1) {
        const p = objectPath(i);
        const got = await store.get(cacheKey('customer-a', p, ''));
        assert.ok(got, `object ${i}`);
        assert.equal(await readAll(got), expectedChunks(p).join(''));
        bytes += got.meta.size;
        if (got.meta.size <= WRITER_INDEX_BODY_MAX) rows += 1;
      }
      assert.ok(rows > 0);
      const stats = store.stats();
      assert.equal(stats.objects, 90);
      assert.equal(stats.bytes, bytes);
      assert.deepEqual(stats.customers, { 'customer-a': { objects: 90, bytes } });
      assert.equal((await objectFiles(tmp.dir)).length, 90 - rows, 'replaced files were removed');
      assert.equal(bodyRows(store), rows, 'replaced body rows were removed');
    } finally {
      await store.close();
    }
  } finally {
    await tmp.remove();
  }
});
