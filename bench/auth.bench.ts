/**
 * `npm run bench:auth`: what authentication adds to each api request, with real parts —
 * PostgreSQL (a temporary database), Redis (a private key prefix; in-process if Redis is not
 * reachable), the api's own TokenVerifier and Authenticator.
 *
 *   1. L1 hits: 1,000 live tokens, each already decided once; 200,000 checks with a skewed
 *      (Zipf-like) choice of token. Target: p99 under 50 µs.
 *   2. A small L1 (250 entries) under the same traffic: the hit ratio and what misses cost
 *      (signature, Redis, PostgreSQL).
 *   3. Revocation: a second "api process" (its own verifier and Redis connection) refuses a
 *      revoked token after how long (target: under one second).
 *
 * Options: --checks <n> (default 200000), --write (record the table in docs/BENCHMARKS.md).
 */
import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import Redis from 'ioredis';
import { createDataSource, migrate } from '../src/api/db/data-source';
import { Database } from '../src/api/db/database';
import { Authenticator, type Principal } from '../src/api/services/auth.service';
import { tokenSigningKey } from '../src/api/services/token-signing';
import { TokenService } from '../src/api/services/token.service';
import { TokenVerifier } from '../src/api/services/token-verifier';
import { MemoryRevocations } from '../src/bus/memory-revocations';
import { createRedisRevocations } from '../src/bus/redis-revocations';
import type { RevocationChannel } from '../src/core/revocation.port';
import { createLogger } from '../src/obs/logger.factory';

const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const TOKENS = 1_000;
const argv = process.argv.slice(2);
const CHECKS = Number(argv[argv.indexOf('--checks') + 1] ?? 0) || 200_000;
const WRITE = argv.includes('--write');
const log = (line: string): void => void process.stdout.write(`${line}\n`);
const logger = createLogger({ name: 'bench-auth', level: 'warn' });
const ADMIN: Principal = { kind: 'admin', role: 'admin' };

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Skewed choice: a few tokens are most of the traffic (rank^-1.1, like many API clients). */
function zipfPicker(n: number): () => number {
  const weights = Array.from({ length: n }, (_, i) => 1 / Math.pow(i + 1, 1.1));
  const total = weights.reduce((a, b) => a + b, 0);
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i += 1) cdf[i] = acc += weights[i]! / total;
  let seed = 42;
  const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
  return () => {
    const r = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

async function redisReachable(): Promise<boolean> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1_000, retryStrategy: () => null });
  try {
    await r.connect();
    await r.ping();
    return true;
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

async function main(): Promise<void> {
  const dbName = `edgeplane_bench_auth_${process.pid}`;
  const admin = new Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${dbName}`;
  const ds = createDataSource({ databaseUrl: url.toString(), dataDir: '/nonexistent' });
  const useRedis = await redisReachable();
  const prefix = `edgeplane_bench_auth_${process.pid}:`;
  const channels: RevocationChannel[] = [];
  const channel = (): RevocationChannel => {
    const c = useRedis ? createRedisRevocations({ url: REDIS_URL, prefix }) : (channels[0] ?? new MemoryRevocations());
    if (!channels.includes(c)) channels.push(c);
    return c;
  };
  const verifiers: TokenVerifier[] = [];
  try {
    await ds.initialize();
    await migrate(ds);
    const db = new Database(ds);
    await db.transaction((m) => m.query(`INSERT INTO customer (id, name, origin_url, cache_ttl) SELECT 'c' || i, 'C' || i, 'https://c' || i || '.example', 60 FROM generate_series(1, 50) i`));
    const key = tokenSigningKey('bench-secret-key-0123456789abcdef0123456789');
    const counts = { l1Hit: 0, l1Miss: 0, l2Hit: 0 };
    const processOf = (l1Max: number) => {
      let tokens: TokenService | undefined;
      const revocations = channel();
      const verifier = new TokenVerifier({
        key,
        revocations,
        lookup: (id) => tokens!.lookup(id),
        logger,
        l1Max,
        counters: { l1Hit: () => void counts.l1Hit++, l1Miss: () => void counts.l1Miss++, l2Hit: () => void counts.l2Hit++ },
      });
      verifiers.push(verifier);
      tokens = new TokenService({ db, key, revocations, verifier, logger });
      verifier.start();
      return { tokens, verifier, auth: new Authenticator('bench-bootstrap-admin-token-0123', verifier) };
    };

    log(`bench:auth: PostgreSQL ${url.host}, revocations on ${useRedis ? `Redis ${new URL(REDIS_URL).host}` : 'the in-process channel (Redis not reachable)'}, node ${process.version}`);
    const big = processOf(10_000);
    await new Promise((r) => setTimeout(r, 200));
    const headers: string[] = [];
    for (let i = 0; i < TOKENS; i += 1) {
      const customer = i % 5 === 0 ? undefined : `c${(i % 50) + 1}`;
      const { secret } = await big.tokens.create(ADMIN, { name: `t${i}`, role: customer === undefined ? 'viewer' : 'customer-purger', customerId: customer, expiresIn: '1d' });
      headers.push(`Bearer ${secret}`);
      if ((i + 1) % 250 === 0) log(`  created ${i + 1}/${TOKENS} tokens`);
    }

    // 1. Every token decided once (misses), then L1 hits.
    const missTimes: number[] = [];
    for (const h of headers) {
      const t0 = performance.now();
      await big.auth.authenticate(h);
      missTimes.push(performance.now() - t0);
    }
    const pick = zipfPicker(TOKENS);
    const hitTimes = new Float64Array(CHECKS);
    let sink = 0;
    for (let i = 0; i < CHECKS; i += 1) {
      const h = headers[pick()]!;
      const t0 = performance.now();
      const p = big.auth.authenticate(h);
      hitTimes[i] = performance.now() - t0;
      if (p instanceof Promise) throw new Error('an L1 hit was expected to answer synchronously');
      sink += p.role.length;
    }
    hitTimes.sort();
    const us = (ms: number): string => (ms * 1000).toFixed(1);
    missTimes.sort((a, b) => a - b);
    const missSorted = Float64Array.from(missTimes);

    // 2. A small L1: hit ratio and the cost of misses under the same traffic.
    const small = processOf(250);
    await new Promise((r) => setTimeout(r, 200));
    counts.l1Hit = 0;
    counts.l1Miss = 0;
    const mixed = new Float64Array(Math.min(CHECKS, 50_000));
    for (let i = 0; i < mixed.length; i += 1) {
      const h = headers[pick()]!;
      const t0 = performance.now();
      await small.auth.authenticate(h);
      mixed[i] = performance.now() - t0;
    }
    mixed.sort();
    const ratio = counts.l1Hit / (counts.l1Hit + counts.l1Miss);

    // 3. Revocation seen by another process.
    const other = processOf(10_000);
    await new Promise((r) => setTimeout(r, 200));
    const victim = headers[0]!;
    await other.auth.authenticate(victim);
    const id = (await big.tokens.list(ADMIN)).find((t) => t.name === 't0')!.id;
    const t0 = performance.now();
    await big.tokens.revoke(ADMIN, id);
    let seenMs = Number.NaN;
    while (performance.now() - t0 < 5_000) {
      try {
        await other.auth.authenticate(victim);
      } catch {
        seenMs = performance.now() - t0;
        break;
      }
      await new Promise((r) => setImmediate(r));
    }

    const rows = [
      `| L1 hit (${CHECKS.toLocaleString('en-US')} checks, 1,000 tokens, skewed) | ${us(percentile(hitTimes, 50))} µs | ${us(percentile(hitTimes, 99))} µs | ${us(hitTimes[hitTimes.length - 1]!)} µs | p99 < 50 µs: ${percentile(hitTimes, 99) * 1000 < 50 ? 'met' : 'MISSED'} |`,
      `| first check of a token (signature, Redis, PostgreSQL) | ${percentile(missSorted, 50).toFixed(2)} ms | ${percentile(missSorted, 99).toFixed(2)} ms | ${missSorted[missSorted.length - 1]!.toFixed(2)} ms | — |`,
      `| L1 of 250 entries, same traffic: hit ratio ${(ratio * 100).toFixed(1)} % | ${us(percentile(mixed, 50))} µs | ${us(percentile(mixed, 99))} µs | ${us(mixed[mixed.length - 1]!)} µs | — |`,
      `| revoked on one api, refused by another after | ${seenMs.toFixed(1)} ms | | | < 1 s: ${seenMs < 1_000 ? 'met' : 'MISSED'} |`,
    ];
    const table = ['| what | p50 | p99 | max | target |', '| --- | ---: | ---: | ---: | --- |', ...rows].join('\n');
    log('');
    log(table);
    log(`(checksum ${sink})`);
    if (WRITE) {
      const file = path.join(__dirname, '..', 'docs', 'BENCHMARKS.md');
      const doc = readFileSync(file, 'utf8');
      const start = '<!-- bench:auth start -->';
      const end = '<!-- bench:auth end -->';
      const section = `${start}\n## Authentication (\`npm run bench:auth\`)\n\nRun ${new Date().toISOString().slice(0, 16)}Z, node ${process.version}, revocations on ${useRedis ? 'Redis' : 'the in-process channel'}, load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}. Time of \`Authenticator.authenticate\` per request, in process (what a request waits for before its resolvers run).\n\n${table}\n${end}`;
      const next = doc.includes(start) ? doc.slice(0, doc.indexOf(start)) + section + doc.slice(doc.indexOf(end) + end.length) : `${doc.trimEnd()}\n\n${section}\n`;
      writeFileSync(file, next);
      log('written to docs/BENCHMARKS.md');
    }
  } finally {
    for (const v of verifiers) v.close();
    for (const c of channels) await c.close().catch(() => {});
    if (useRedis) {
      const r = new Redis(REDIS_URL);
      const keys = await r.keys(`${prefix}*`);
      if (keys.length > 0) await r.del(...keys);
      r.disconnect();
    }
    if (ds.isInitialized) await ds.destroy();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
    await admin.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:auth: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
