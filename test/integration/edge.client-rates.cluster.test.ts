/**
 * Client rates across the real processes of a cluster edge (edge/cluster/cluster-client-rates.ts,
 * rate-coordinator.ts): the workers of an edge spend one budget per key, kept by the primary;
 * a worker whose primary does not answer, or that has no channel at all, answers from its own
 * table, never leaving a request waiting for long. The processes: test/support/client-rates.child.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RatesJob, WorkerResult } from '../support/client-rates.child';

const CHILD = path.join(__dirname, '..', 'support', 'client-rates.child.ts');
/** One request per 100 s: nothing refills while a test runs, so "at once" is exact however slow the machine. */
const SLOW = 0.01;

async function run(mode: 'shared' | 'silent' | 'alone', job: RatesJob): Promise<WorkerResult[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-rates-'));
  try {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('NODE_TEST') && k !== 'NODE_OPTIONS') env[k] = v;
    Object.assign(env, {
      SWC_NODE_PROJECT: process.env.SWC_NODE_PROJECT ?? 'tsconfig.json',
      CDN_SECRET_KEY: 'rates-secret-key-0123456789abcdef',
      CDN_DATA_DIR: dir,
      CDN_EDGE_HOST: '127.0.0.1',
      CDN_EDGE_PORT: '0',
      CDN_EDGE_ADMIN_PORT: '0',
      CDN_EDGE_TLS_PORT: 'off',
    });
    // 'alone' has no IPC channel: stdio pipes only.
    const child = spawn(process.execPath, ['--require', '@swc-node/register', CHILD, mode, JSON.stringify(job)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    assert.equal(code, 0, `the ${mode} processes exited with ${code}:\n${out}`);
    const line = out.split('\n').find((l) => l.startsWith('RESULT '));
    assert.ok(line, `no result:\n${out}`);
    return JSON.parse(line.slice('RESULT '.length)) as WorkerResult[];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sum = (results: WorkerResult[], batch: number): number => results.reduce((n, r) => n + r.batches[batch]!.allowed, 0);

test('the workers of a cluster edge share one budget per key: together they get the burst, not a burst each', async () => {
  const burst = 10;
  const results = await run('shared', { key: 'customer-a|rule-1|192.0.2.7', limit: { perSecond: SLOW, burst }, batches: [burst, burst] });
  assert.equal(results.length, 2);
  assert.notEqual(results[0]!.pid, results[1]!.pid, 'two worker processes');
  for (const r of results) assert.equal(r.localAnswers, 0, `worker ${r.pid} was answered by the primary every time`);
  assert.equal(sum(results, 0), burst, 'both workers at once: the burst in all');
  assert.equal(sum(results, 1), 0, 'then nothing more, on either worker');
  const refused = results.flatMap((r) => r.batches.flatMap((b) => b.retryAfterMs));
  assert.equal(refused.length, 3 * burst);
  // Retry-After: the next request is due 100 s after the burst, less the little time since.
  for (const ms of refused) assert.ok(ms > 95_000 && ms <= 100_000, `Retry-After ${ms} ms`);
  for (const r of results) for (const b of r.batches) assert.ok(b.elapsedMs < 2_000, `a batch took ${b.elapsedMs} ms`);
});

test('a worker whose primary does not answer falls back to its own table after a short wait: the limit is then per worker', async () => {
  const burst = 3;
  const results = await run('silent', { key: 'customer-a|rule-1|192.0.2.7', limit: { perSecond: SLOW, burst }, batches: [5, 5] });
  assert.equal(results.length, 2);
  for (const r of results) {
    const [first, second] = r.batches as [BatchLike, BatchLike];
    // Each worker holds the whole limit alone.
    assert.equal(first.allowed, burst, `worker ${r.pid}: its own burst`);
    assert.equal(first.sync, 0, 'the first takes asked the primary');
    assert.ok(first.elapsedMs >= 200 && first.elapsedMs < 2_000, `the first takes waited for the answer timeout (~250 ms), not longer: ${first.elapsedMs} ms`);
    // The next ones do not wait for a silent primary again: answered at once, from the same table.
    assert.equal(second.sync, 5, 'answered synchronously while the primary is silent');
    assert.equal(second.allowed, 0, 'the worker’s own budget is spent');
    assert.equal(r.localAnswers, 10);
  }
  assert.equal(sum(results, 0), 2 * burst, 'a silent primary makes the limit per worker');
});

type BatchLike = WorkerResult['batches'][number];

test('a process without a cluster channel answers every take at once, from its own table', async () => {
  const [r] = await run('alone', { key: 'k', limit: { perSecond: SLOW, burst: 3 }, batches: [5] });
  assert.deepEqual({ allowed: r!.batches[0]!.allowed, sync: r!.batches[0]!.sync, localAnswers: r!.localAnswers }, { allowed: 3, sync: 5, localAnswers: 5 });
  assert.deepEqual(r!.batches[0]!.retryAfterMs.length, 2);
});
