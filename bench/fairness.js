#!/usr/bin/env node
// `npm run bench:fairness`: the noisy-neighbour measurement of issue 15. One edge, two customers
// on one origin: `quiet` is served cache hits (wrk, 64 connections) and asks for a few new
// objects (misses), first alone, then while `noisy`'s clients flood the edge with misses the
// origin answers after 2 s (bench/flood.js: C loops of new objects) and hold slow connections
// that never finish their request head. The edge's isolation (per-customer origin slots and
// queue, docs/EDGE.md "Origins"; client timeouts) must keep quiet's hit p99 within 1.2x of its
// value alone, and quiet's misses undelayed. Round after round, alone and flooded interleaved.
//
// The edge is a black box (`cdn edge --config <customers.json>` from the compiled build through
// bench/edge.js, one process, on --server-cpu); wrk, the flood and the origin on --client-cpu.
// Everything runs on 127.0.0.1, bounded in time; every process started is killed on exit, error,
// Ctrl-C or SIGTERM (bench/children.js).
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const children = require('./children');
const { ensureBuild, nodeNote } = require('./build');
const { treeCpuMs } = require('./proc');
const { edgeEnv, pinned, startReportingPort } = require('./servers');
const { startProcess, exited, runToEnd, which, sleep, freePort, httpGet } = children;

const ROOT = path.resolve(__dirname, '..');
const QUIET = 'quiet.bench.local';
const NOISY = 'noisy.bench.local';
const OBJECTS = 1000;
const TARGET_P99 = 1.2;
const START = '<!-- bench:fairness:start -->';
const END = '<!-- bench:fairness:end -->';

const HELP = `Usage: npm run bench:fairness [-- options]

Customer "quiet" gets cache hits (wrk) and a few misses, alone and while customer "noisy" floods
the same edge with misses for a 2 s origin and holds slow connections. Reports quiet's hit req/s,
p50 and p99 and its misses' time, alone and flooded, the ratio of the p99s (target <= ${TARGET_P99}x),
and what the flood got (its misses queued or refused: 503 origin_busy).

Options:
  --duration <s>      seconds per measured wrk run (default 10; --quick 3)
  --runs <n>          rounds of (alone, flooded) (default 3; --quick 2)
  --flood <n>         concurrent flood loops (default 256)
  --slow <n>          slow connections held by the flood (default 1000)
  --delay <ms>        the origin's answer time for the flood (default 2000)
  --quick             short runs: a smoke test, writes nothing
  --server-cpu <n>    core for the edge (default 0); --client-cpu <n> for the rest (default 1)
  --no-build          use dist/ as it is
  --write / --no-write  record the results in docs/BENCHMARKS.md (default: a full run writes)
Needs wrk (Debian: apt-get install -y wrk).
`;

function parseOptions(argv) {
  const o = { duration: undefined, runs: undefined, flood: 256, slow: 1000, delay: 2000, quick: false, serverCpu: 0, clientCpu: 1, build: true, write: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) fail(`${a} needs a number`);
      return v;
    };
    if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      process.exit(0);
    } else if (a === '--duration') o.duration = num();
    else if (a === '--runs') o.runs = num();
    else if (a === '--flood') o.flood = num();
    else if (a === '--slow') o.slow = num();
    else if (a === '--delay') o.delay = num();
    else if (a === '--quick') o.quick = true;
    else if (a === '--server-cpu') o.serverCpu = num();
    else if (a === '--client-cpu') o.clientCpu = num();
    else if (a === '--no-build') o.build = false;
    else if (a === '--write') o.write = true;
    else if (a === '--no-write') o.write = false;
    else fail(`unknown option ${a} (see --help)`);
  }
  o.duration ??= o.quick ? 3 : 10;
  o.runs ??= o.quick ? 2 : 3;
  o.write ??= !o.quick;
  const ncpu = os.availableParallelism();
  o.serverCpuOrNull = ncpu > 1 ? o.serverCpu : null;
  o.clientCpuOrNull = ncpu > 1 ? o.clientCpu : null;
  return o;
}

function fail(message) {
  process.stderr.write(`bench:fairness: ${message}\n`);
  process.exit(2);
}

const log = (line) => process.stdout.write(`${line}\n`);

async function startEdge(opts, dirs, originPort) {
  const port = await freePort();
  const adminPort = await freePort();
  const logFile = path.join(dirs.tmp, 'edge.log');
  fs.writeFileSync(
    dirs.customers,
    JSON.stringify([QUIET, NOISY].map((host) => ({ id: host.split('.')[0], name: host, originUrl: `http://127.0.0.1:${originPort}`, domains: [host], cacheTtl: 3600 }))),
  );
  const out = fs.openSync(logFile, 'a');
  const base = { ...process.env, CDN_LOG_LEVEL: process.env.CDN_LOG_LEVEL ?? 'warn', CDN_SECRET_KEY: crypto.randomBytes(32).toString('hex'), CDN_EDGE_TLS_PORT: 'off' };
  const env = edgeEnv(base, { port, adminPort, dataDir: path.join(dirs.tmp, 'data'), cacheDir: path.join(dirs.tmp, 'cache') });
  delete env.REDIS_URL;
  const [cmd, args] = pinned(opts.serverCpuOrNull, process.execPath, [path.join(__dirname, 'edge.js'), 'edge', '--config', dirs.customers]);
  const cp = startProcess(cmd, args, { cwd: ROOT, env, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited(cp)) throw new Error(`the edge exited with ${cp.exitCode ?? cp.signalCode}:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
    try {
      if ((await httpGet(adminPort, '/readyz')).status === 200) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error('the edge did not become ready in 60 s');
    await sleep(100);
  }
  return { cp, port, adminPort };
}

async function client(opts, args) {
  const [cmd, argv] = pinned(opts.clientCpuOrNull, process.execPath, [path.join(__dirname, 'client.js'), ...args]);
  const r = await runToEnd(cmd, argv);
  if (r.code !== 0) throw new Error(`client failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** Fetches `paths` of quiet once each (concurrency 16): the time for all of them, their statuses and cache results. */
async function fetchQuiet(opts, edge, paths) {
  const file = path.join(os.tmpdir(), `edgeplane-fairness-${crypto.randomBytes(4).toString('hex')}.txt`);
  fs.writeFileSync(file, `${paths.join('\n')}\n`);
  try {
    return await client(opts, ['fetch-all', '--port', String(edge.port), '--host', QUIET, '--concurrency', '16', '--paths-file', file]);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

async function wrkQuiet(opts, edge) {
  const [cmd, args] = pinned(opts.clientCpuOrNull, 'wrk', ['-t', '1', '-c', '64', '-d', `${opts.duration}s`, '--timeout', '10s', '-s', path.join(__dirname, 'random-paths.lua'), '-H', `Host: ${QUIET}`, `http://127.0.0.1:${edge.port}/`]);
  const c0 = treeCpuMs(edge.cp.pid);
  const r = await runToEnd(cmd, args, { env: { ...process.env, BENCH_SIZE: '1024', BENCH_OBJECTS: String(OBJECTS), BENCH_SEED: String(Date.now() % 100000) } });
  const cpuMs = treeCpuMs(edge.cp.pid) - c0;
  const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (r.code !== 0 || line === undefined) throw new Error(`wrk failed (${r.code}): ${r.stderr || r.stdout}`);
  const j = JSON.parse(line.slice('BENCH_JSON '.length));
  return { rps: j.requests / (j.duration_us / 1e6), p50: j.p50_us / 1000, p99: j.p99_us / 1000, errors: j.err_connect + j.err_read + j.err_write + j.err_timeout + j.err_status, cpuMs };
}

function startFlood(opts, edge, seconds) {
  const [cmd, args] = pinned(opts.clientCpuOrNull, process.execPath, [
    path.join(__dirname, 'flood.js'),
    '--port', String(edge.port), '--host', NOISY,
    '--concurrency', String(opts.flood), '--delay', String(opts.delay), '--slow', String(opts.slow), '--seconds', String(seconds),
  ]);
  return runToEnd(cmd, args).then((r) => {
    if (r.code !== 0) throw new Error(`flood failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop());
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '?');
const fmtInt = (n) => Math.round(n).toLocaleString('en-US');

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  children.install({ name: 'bench:fairness' });
  if (which('wrk') === undefined) fail('wrk is not installed (Debian: apt-get install -y wrk)');
  if (opts.build) await ensureBuild(opts, { log, fail });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeplane-fairness-'));
  children.useTmpDir(tmp, false);
  const [ocmd, oargs] = pinned(opts.clientCpuOrNull, process.execPath, [path.join(__dirname, 'origin.js'), '--port', '0']);
  const origin = await startReportingPort('origin', ocmd, oargs);
  const edge = await startEdge(opts, { tmp, customers: path.join(tmp, 'customers.json') }, origin.port);
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  log(`bench:fairness: edge on 127.0.0.1:${edge.port} (core ${opts.serverCpu}), origin ${origin.port}; load average ${load}${nodeNote() ? `; ${nodeNote()}` : ''}`);

  const objects = Array.from({ length: OBJECTS }, (_, i) => `/obj/${i}?size=1024`);
  await fetchQuiet(opts, edge, objects);
  const check = await fetchQuiet(opts, edge, objects);
  log(`  quiet warmed: ${check.xcache.HIT ?? 0}/${OBJECTS} hits on the second pass`);
  // An unmeasured run: the JIT compiles the hit path first.
  await wrkQuiet({ ...opts, duration: Math.min(3, opts.duration) }, edge);

  const rounds = [];
  for (let round = 0; round < opts.runs; round++) {
    const alone = await wrkQuiet(opts, edge);
    const missesAlone = await fetchQuiet(opts, edge, Array.from({ length: 100 }, (_, i) => `/obj/miss-alone-${round}-${i}?size=1024`));
    log(`  round ${round + 1} alone:   quiet hits ${fmtInt(alone.rps)} req/s, p50 ${fmt(alone.p50, 2)} ms, p99 ${fmt(alone.p99, 2)} ms; 100 misses in ${fmt(missesAlone.ms, 0)} ms`);
    const floodSeconds = opts.duration + 12;
    const flood = startFlood(opts, edge, floodSeconds);
    // Let the flood fill the noisy customer's origin slots and queue first.
    await sleep(4000);
    const flooded = await wrkQuiet(opts, edge);
    const missesFlooded = await fetchQuiet(opts, edge, Array.from({ length: 100 }, (_, i) => `/obj/miss-flood-${round}-${i}?size=1024`));
    const f = await flood;
    log(`  round ${round + 1} flooded: quiet hits ${fmtInt(flooded.rps)} req/s, p50 ${fmt(flooded.p50, 2)} ms, p99 ${fmt(flooded.p99, 2)} ms; 100 misses in ${fmt(missesFlooded.ms, 0)} ms; flood: ${f.requests} answered ${JSON.stringify(f.statuses)}, ${f.errors} errors, ${f.slowOpened} slow connections opened`);
    rounds.push({ alone, flooded, missesAlone, missesFlooded, flood: f });
    await sleep(opts.delay + 1000);
  }

  const p99Alone = median(rounds.map((r) => r.alone.p99));
  const p99Flooded = median(rounds.map((r) => r.flooded.p99));
  const ratio = p99Flooded / p99Alone;
  const L = [];
  L.push(`Run ${new Date().toISOString().slice(0, 16)}Z, node ${process.version}, ${os.availableParallelism()} CPUs, load average at start ${load}; ${opts.runs} rounds of ${opts.duration} s wrk runs (64 connections, 1,000 cached 1 KB objects of quiet); flood: ${opts.flood} loops of new objects of noisy (origin answer after ${opts.delay} ms) and ${opts.slow} slow connections; edge on core ${opts.serverCpu}, wrk, flood and origin on core ${opts.clientCpu}.`);
  L.push('');
  L.push('| quiet, medians of the rounds | alone | with noisy\'s flood | flooded / alone |');
  L.push('| --- | ---: | ---: | ---: |');
  const row = (name, a, b, d = 2) => L.push(`| ${name} | ${fmt(a, d)} | ${fmt(b, d)} | ${fmt(b / a, 2)}× |`);
  row('hits req/s', median(rounds.map((r) => r.alone.rps)), median(rounds.map((r) => r.flooded.rps)), 0);
  row('hit p50 ms', median(rounds.map((r) => r.alone.p50)), median(rounds.map((r) => r.flooded.p50)));
  row('hit p99 ms', p99Alone, p99Flooded);
  row('100 misses, ms (16 at a time)', median(rounds.map((r) => r.missesAlone.ms)), median(rounds.map((r) => r.missesFlooded.ms)), 0);
  L.push('');
  const answered = rounds.reduce((acc, r) => {
    for (const [k, v] of Object.entries(r.flood.statuses)) acc[k] = (acc[k] ?? 0) + v;
    return acc;
  }, {});
  L.push(`What the flood got, all rounds: ${JSON.stringify(answered)} (503: refused after the queue wait, \`origin_busy\`), ${rounds.reduce((a, r) => a + r.flood.errors, 0)} errors.`);
  L.push(`Target: quiet's hit p99 with the flood within ${TARGET_P99}× of alone: ${ratio <= TARGET_P99 ? 'met' : 'NOT met'} (${fmt(ratio, 2)}×); quiet's misses not delayed: ${fmt(median(rounds.map((r) => r.missesFlooded.ms / r.missesAlone.ms)), 2)}× the time alone.`);
  const report = L.join('\n');
  log(`\n${report}`);
  if (opts.write) {
    const file = path.join(ROOT, 'docs', 'BENCHMARKS.md');
    let doc = fs.readFileSync(file, 'utf8');
    const a = doc.indexOf(START);
    const b = doc.indexOf(END);
    doc = a >= 0 && b > a ? `${doc.slice(0, a + START.length)}\n${report}\n${doc.slice(b)}` : `${doc.trimEnd()}\n\n## Fairness (\`npm run bench:fairness\`)\n\n${START}\n${report}\n${END}\n`;
    fs.writeFileSync(file, doc);
    log('bench:fairness: results written to docs/BENCHMARKS.md');
  } else log('bench:fairness: docs/BENCHMARKS.md not changed (--quick or --no-write)');
}

main()
  .then(() => children.cleanup())
  .then(() => process.exit(0))
  .catch(async (err) => {
    if (children.cleaningUp()) return;
    process.stderr.write(`bench:fairness: ${err.stack || err.message}\n`);
    await children.cleanup();
    process.exit(1);
  });
