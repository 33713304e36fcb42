/**
 * Processes for test/integration/edge.client-rates.cluster.test.ts:
 *   node --require @swc-node/register client-rates.child.ts <mode> '<job JSON>'
 * `shared`: the edge's real cluster primary (edge/cluster/edge.primary.ts, configured from the
 * environment) with 2 workers; `silent`: a bare node:cluster primary with 2 workers that never
 * answers a rate-take; `alone`: one process without an IPC channel. Each worker (or the lone
 * process) takes from one key with ClusterClientRates in batches, all takes of a batch at once,
 * the batches one after the other; the primary prints `RESULT <JSON>` with what each worker got.
 */
import cluster, { type Worker } from 'node:cluster';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import type { RateLimitAction } from '../../src/core/delivery-rules.types';
import type { RateVerdict } from '../../src/edge/access/client-rates';
import { ClusterClientRates } from '../../src/edge/cluster/cluster-client-rates';
import { isDrain } from '../../src/edge/cluster/cluster.messages';
import { startEdgePrimary } from '../../src/edge/cluster/edge.primary';
import { loadEdgeConfig } from '../../src/edge/config';
import { createLogger } from '../../src/obs/logger.factory';

export interface RatesJob {
  key: string;
  limit: RateLimitAction;
  /** Takes per batch. */
  batches: number[];
}

export interface BatchResult {
  allowed: number;
  /** Retry-After of each refused take. */
  retryAfterMs: number[];
  /** Takes answered synchronously (no promise). */
  sync: number;
  elapsedMs: number;
}

export interface WorkerResult {
  pid: number;
  batches: BatchResult[];
  /** Takes answered from the process's own table (ClusterClientRates.localAnswers). */
  localAnswers: number;
}

const WORKERS = 2;

async function runJob(rates: ClusterClientRates, job: RatesJob): Promise<WorkerResult> {
  const batches: BatchResult[] = [];
  for (const count of job.batches) {
    const started = performance.now();
    const answers = Array.from({ length: count }, () => rates.take(job.key, job.limit));
    const sync = answers.filter((a) => !(a instanceof Promise)).length;
    const verdicts: RateVerdict[] = await Promise.all(answers);
    batches.push({
      allowed: verdicts.filter((v) => v.allowed).length,
      retryAfterMs: verdicts.filter((v) => !v.allowed).map((v) => v.retryAfterMs),
      sync,
      elapsedMs: performance.now() - started,
    });
  }
  return { pid: process.pid, batches, localAnswers: rates.localAnswers };
}

function worker(): void {
  const rates = new ClusterClientRates();
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: unknown) => {
    if (isDrain(message)) process.exit(0);
    const m = message as { type?: string; job?: RatesJob };
    if (m.type === 'fixture:take' && m.job !== undefined) {
      void runJob(rates, m.job).then((result) => process.send!({ type: 'fixture:taken', result }));
    }
  });
  // What the edge's primary waits for before it forks the next worker (port: none is bound here).
  process.send!({ type: 'cdn-edge:listening', port: 1 });
}

/** Sends the job to every worker at once; resolves with their results. */
function runOnWorkers(workers: Worker[], job: RatesJob): Promise<WorkerResult[]> {
  return new Promise((resolve) => {
    const results: WorkerResult[] = [];
    cluster.on('message', (_worker, message: { type?: string; result?: WorkerResult }) => {
      if (message.type !== 'fixture:taken') return;
      results.push(message.result!);
      if (results.length === workers.length) resolve(results);
    });
    for (const w of workers) w.send({ type: 'fixture:take', job });
  });
}

async function shared(job: RatesJob): Promise<void> {
  const logger = createLogger({ name: 'edge', level: 'warn', destination: pino.destination(2) });
  const edge = await startEdgePrimary(loadEdgeConfig({ ...process.env, CDN_EDGE_WORKERS: String(WORKERS) }), { logger, graceMs: 5_000 });
  const results = await runOnWorkers(Object.values(cluster.workers!) as Worker[], job);
  process.stdout.write(`RESULT ${JSON.stringify(results)}\n`);
  process.exitCode = await edge.stop();
}

async function silent(job: RatesJob): Promise<void> {
  const workers = Array.from({ length: WORKERS }, () => cluster.fork());
  await Promise.all(workers.map((w) => new Promise<void>((resolve) => w.once('message', () => resolve()))));
  const results = await runOnWorkers(workers, job);
  process.stdout.write(`RESULT ${JSON.stringify(results)}\n`);
  for (const w of workers) w.disconnect();
}

async function alone(job: RatesJob): Promise<void> {
  const result = await runJob(new ClusterClientRates(), job);
  process.stdout.write(`RESULT ${JSON.stringify([result])}\n`);
}

if (cluster.isWorker) worker();
else {
  const [mode, jobArg] = process.argv.slice(2);
  const job = JSON.parse(jobArg!) as RatesJob;
  const run = mode === 'shared' ? shared : mode === 'silent' ? silent : mode === 'alone' ? alone : undefined;
  if (run === undefined) throw new Error(`unknown mode ${mode}: shared, silent or alone`);
  run(job).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
