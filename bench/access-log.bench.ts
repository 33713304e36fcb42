/**
 * `node --require @swc-node/register bench/access-log.bench.ts`: what one access log line costs
 * the request path, without a server around it (docs/BENCHMARKS.md, "Access logs"): building the
 * record, its NDJSON line, and handing it to the file buffer (AccessLogFiles.add, the flushes
 * running as they do on an edge), per line, on a request shaped like a hit-lane hit with a
 * browser's User-Agent. Alternates rounds with and without the files so machine noise hits both.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AccessLogFiles } from '../src/edge/logs/access-log.files';
import { AccessLog } from '../src/edge/logs/access-log';
import type { ClientRequest } from '../src/edge/pipeline/transaction';
import { createLogger } from '../src/obs/logger.factory';

const N = 20_000;
const ROUNDS = 9;
const dir = mkdtempSync(path.join(tmpdir(), 'edgeplane-access-bench-'));
const logger = createLogger({ name: 'bench', level: 'silent' });
const req = {
  method: 'GET',
  socket: { remoteAddress: '::ffff:203.0.113.9' },
  rawHeaders: ['Host', 'cdn.customer-a.com', 'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 'Accept', '*/*', 'Accept-Encoding', 'gzip, deflate, br', 'Referer', 'https://www.customer-a.com/products/42'],
} as unknown as ClientRequest;
const facts = { customer: 'customer-a', host: 'cdn.customer-a.com', path: '/static/img/logo-1234.png', status: 200, bytes: 1024, cache: 'HIT' as const, originMs: undefined, startedAt: 0, transport: 'http' as const, aborted: false };

async function main(): Promise<void> {
  const withFiles: number[] = [];
  const inRequest: number[] = [];
  const without: number[] = [];
  let written = 0;
  let dropped = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    // A fresh writer per round; its close() writes what is buffered, so the round's CPU holds the disk writes too.
    const files = new AccessLogFiles({ dir, edgeId: `bench-${round}`, retentionHours: 168, now: Date.now, logger, maxBufferBytes: 256 * 1024 * 1024, flushMs: 60_000 });
    const log = new AccessLog({ files, edgeId: 'bench', now: Date.now });
    let t = process.cpuUsage();
    for (let i = 0; i < N; i += 1) if (log.wants('customer-a')) log.record(req, { ...facts, startedAt: performance.now() });
    const r = process.cpuUsage(t);
    inRequest.push(((r.user + r.system) / N) * 1000);
    await files.close();
    const u = process.cpuUsage(t);
    withFiles.push(((u.user + u.system) / N) * 1000);
    written += files.written;
    dropped += files.dropped;
    t = process.cpuUsage();
    let sink = 0;
    for (let i = 0; i < N; i += 1) sink += performance.now() - facts.startedAt;
    const v = process.cpuUsage(t);
    without.push(((v.user + v.system) / N) * 1000);
    if (sink < 0) console.log(sink);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const runs = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(' ');
  console.log(`lines written ${written}, dropped ${dropped}`);
  console.log(`CPU ns per request on the request path (record, line, buffer): ${median(inRequest).toFixed(0)} (runs ${runs(inRequest)})`);
  console.log(`CPU ns per request with the disk writes: ${median(withFiles).toFixed(0)} (runs ${runs(withFiles)}); the loop alone: ${median(without).toFixed(0)} (runs ${runs(without)})`);
  rmSync(dir, { recursive: true, force: true });
}

void main();
