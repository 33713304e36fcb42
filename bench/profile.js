#!/usr/bin/env node
// Where the edge's CPU goes: the measurements behind docs/BENCHMARKS.md "Where a hit's and a
// miss's CPU goes". Not a comparison with nginx (that is bench/run.js): the edge on core 0, its
// clients and the origin on core 1, CPU read from /proc like bench/run.js, and with --profile
// V8 CPU profiles of the server(s), summarised per request.
//
//   npm run bench:profile -- hits   [--size 1024] [--conns 64] [--seconds 5] [--runs 5] [--profile] [--cache-fields] [--browser-fields]
//     the edge and the Node floor (bench/floor.js) alternately under wrk (random paths over 1,000
//     cached objects, as bench/run.js): CPU ms per 1,000 hits of each and their ratio; with
//     --profile, per-request self time of the functions where the two differ most; with
//     --cache-fields, a third server: the floor sending the fields a cache owes its clients and
//     the edge sends (bench/floor.js --cache-fields: Last-Modified, Age, Via). Each run's CPU is
//     also split by thread kind (as for misses, below) and its minor page faults counted. With
//     --browser-fields, wrk sends the request fields a browser sends for an image (User-Agent,
//     Accept, Accept-Language, Referer, Sec-Fetch-*, Sec-CH-UA-*, a Cookie) instead of Host alone.
//   npm run bench:profile -- misses [--size 1024] [--runs 5] [--profile] [--floor]
//     rounds of 1,000 distinct cold misses, 32 at a time (an unmeasured round first), CPU per
//     round, split by thread kind (the main thread, V8's helpers, the thread pool: file writes and
//     LMDB's commits), and the minor page faults of the round; with --profile, per-request self
//     time of the edge's busiest functions; with --floor, the Node floor (bench/floor.js: fetch
//     from the origin with node:http, keep the body in a Map, no disk, no index, no freshness)
//     answers rounds of its own, alternating with the edge's: the least a Node cache can spend
//     per miss.
//   Either mode, --baseline DIR: a second edge, started from DIR (another checkout of this
//     repository, built: DIR/bench/edge.js and DIR/dist/; its node_modules may be a symlink to
//     this one's), answers the same runs or rounds in alternation, and each run's CPU is also
//     given as a ratio to the baseline's: how to tell whether a change helps on a machine whose
//     minutes differ by more than the change (git worktree add /tmp/base HEAD~1, then build it).
//
// A profile's times include the profiler's own overhead (the CPU figures of a --profile run are
// higher than without); compare functions within a run, not with the CPU figures of another.
// Needs wrk (hits) and dist/ (npm run build). Only 127.0.0.1 is contacted.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const children = require('./children');
const { edgeEnv, pinned, startReportingPort } = require('./servers');
const { threadCpuMs, treeCpuMs, treeMinorFaults } = require('./proc');

const { startProcess, stopProcess, runToEnd, freePort, httpGet, sleep, which } = children;
const ROOT = path.resolve(__dirname, '..');
const HOST = 'bench.local';
const OBJECTS = 1000;

function parseArgs(argv) {
  const o = { mode: argv[0], size: 1024, conns: 64, seconds: 5, runs: 5, profile: false, cacheFields: false, browserFields: false, floor: false, baseline: undefined, top: 25 };
  for (let i = 1; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--profile') o.profile = true;
    else if (k === '--cache-fields') o.cacheFields = true;
    else if (k === '--floor') o.floor = true;
    else if (k === '--browser-fields') o.browserFields = true;
    else if (k === '--baseline') o.baseline = path.resolve(argv[++i] ?? '');
    else if (['--size', '--conns', '--seconds', '--runs', '--top'].includes(k)) o[k.slice(2)] = Number(argv[++i]);
    else throw new Error(`unknown option ${k} (see the top of bench/profile.js)`);
  }
  if (o.mode !== 'hits' && o.mode !== 'misses') throw new Error('usage: node bench/profile.js hits|misses [options] (see the top of bench/profile.js)');
  for (const k of ['size', 'conns', 'seconds', 'runs', 'top']) if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`--${k} must be a positive integer`);
  if (o.baseline !== undefined && !(fs.existsSync(path.join(o.baseline, 'bench', 'edge.js')) && fs.existsSync(path.join(o.baseline, 'dist', 'src', 'bin', 'cdn.js')))) {
    throw new Error(`--baseline ${o.baseline}: not a built checkout of this repository (needs bench/edge.js and dist/: run npm run build there)`);
  }
  return o;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** What a browser sends with a request for an image (--browser-fields), besides Host. */
const BROWSER_FIELDS = [
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Accept: image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8',
  'Accept-Language: en-GB,en;q=0.9',
  'Referer: https://www.example.com/page',
  'Sec-Fetch-Dest: image',
  'Sec-Fetch-Mode: no-cors',
  'Sec-Fetch-Site: cross-site',
  'Sec-CH-UA-Platform: "Linux"',
  'Sec-CH-UA-Mobile: ?0',
  'Cookie: session=abc123; theme=dark',
];

/** Each run's CPU over the baseline's in the same run: "0.93 1.02 …, median 0.97". */
function perRunRatios(xs, base) {
  const r = xs.map((x, i) => x / base[i]);
  return `${r.map((x) => x.toFixed(2)).join(' ')}, median ${median(r).toFixed(2)}`;
}

async function startEdge(tmp, originPort, nodeFlags, { name = 'edge', root = ROOT } = {}) {
  fs.mkdirSync(tmp, { recursive: true });
  const customers = path.join(tmp, 'customers.json');
  fs.writeFileSync(customers, JSON.stringify([{ id: 'bench', name: 'Bench', originUrl: `http://127.0.0.1:${originPort}`, domains: [HOST], cacheTtl: 3600 }]));
  const [port, adminPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const base = { ...process.env, CDN_LOG_LEVEL: process.env.CDN_LOG_LEVEL ?? 'error', CDN_SECRET_KEY: crypto.randomBytes(32).toString('hex') };
  const env = edgeEnv(base, { port, adminPort, tlsPort, dataDir: path.join(tmp, 'data'), cacheDir: path.join(tmp, 'cache') });
  const [cmd, args] = pinned(0, process.execPath, [...nodeFlags, path.join(root, 'bench', 'edge.js'), 'edge', '--config', customers]);
  const cp = startProcess(cmd, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
  const until = Date.now() + 60_000;
  for (;;) {
    if (cp.exitCode !== null) throw new Error(`the ${name} exited with ${cp.exitCode}`);
    if (Date.now() > until) throw new Error(`the ${name} was not ready within 60 s`);
    try {
      if ((await httpGet(adminPort, '/readyz')).status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  return { name, cp, port };
}

/** bench/client.js fetch-all: each path once, 32 at a time, on core 1. */
async function fetchAll(tmp, port, paths) {
  const file = path.join(tmp, `paths-${crypto.randomBytes(4).toString('hex')}.txt`);
  fs.writeFileSync(file, paths.join('\n') + '\n');
  const [cmd, args] = pinned(1, process.execPath, [path.join(__dirname, 'client.js'), 'fetch-all', '--port', String(port), '--host', HOST, '--concurrency', '32', '--paths-file', file]);
  const r = await runToEnd(cmd, args);
  fs.rmSync(file, { force: true });
  if (r.code !== 0) throw new Error(`client.js failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function wrk(o, port, seed) {
  const [cmd, args] = pinned(1, 'wrk', ['-t', '1', '-c', String(o.conns), '-d', `${o.seconds}s`, '--timeout', '10s', '-s', path.join(__dirname, 'random-paths.lua'), '-H', `Host: ${HOST}`, ...(o.browserFields ? BROWSER_FIELDS.flatMap((f) => ['-H', f]) : []), `http://127.0.0.1:${port}/`]);
  const r = await runToEnd(cmd, args, { env: { ...process.env, BENCH_SIZE: String(o.size), BENCH_OBJECTS: String(OBJECTS), BENCH_SEED: String(seed) } });
  const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (r.code !== 0 || line === undefined) throw new Error(`wrk failed (${r.code}): ${r.stderr || r.stdout}`);
  return JSON.parse(line.slice('BENCH_JSON '.length));
}

async function hits(o, tmp, origin, flags) {
  const edge = await startEdge(path.join(tmp, 'edge'), origin.port, flags('edge'));
  const floor = async (name, extra) => {
    const { cp, port } = await startReportingPort(name, ...pinned(0, process.execPath, [...flags(name), path.join(__dirname, 'floor.js'), '--port', '0', '--origin-port', String(origin.port), ...extra]));
    return { name, cp, port };
  };
  const servers = [edge];
  if (o.baseline !== undefined) servers.push(await startEdge(path.join(tmp, 'baseline'), origin.port, flags('baseline'), { name: 'baseline', root: o.baseline }));
  servers.push(await floor('floor', []));
  if (o.cacheFields) servers.push(await floor('floor+', ['--cache-fields']));
  const paths = Array.from({ length: OBJECTS }, (_, i) => `/obj/${i}?size=${o.size}`);
  for (const s of servers) for (let k = 0; k < 2; k++) await fetchAll(tmp, s.port, paths);
  const cpu = Object.fromEntries(servers.map((s) => [s.name, []]));
  const requests = Object.fromEntries(servers.map((s) => [s.name, 0]));
  // Run 0 is a warm-up (the JIT), not counted in the medians; the profiles hold it too.
  for (let run = 0; run <= o.runs; run++) {
    for (const s of servers) {
      const before = { cpu: treeCpuMs(s.cp.pid), faults: treeMinorFaults(s.cp.pid), threads: threadCpuMs(s.cp.pid) };
      const j = await wrk(o, s.port, run + 1);
      const perK = ((treeCpuMs(s.cp.pid) - before.cpu) / j.requests) * 1000;
      const faultsPerK = ((treeMinorFaults(s.cp.pid) - before.faults) / j.requests) * 1000;
      const threads = threadSplit(before.threads, threadCpuMs(s.cp.pid), 1000 / j.requests);
      requests[s.name] += j.requests;
      if (run > 0) cpu[s.name].push(perK);
      const errors = Object.values(j.errors ?? {}).reduce((a, b) => a + b, 0);
      console.log(`${run === 0 ? 'warm-up' : `run ${run}/${o.runs}`}  ${s.name.padEnd(6)} ${Math.round(j.requests / o.seconds).toLocaleString('en-US').padStart(7)} req/s  CPU ${perK.toFixed(1).padStart(5)} ms per 1,000 hits (${threads})  ${faultsPerK.toFixed(1)} page faults per 1,000${errors ? `  ${errors} errors` : ''}`);
    }
  }
  const e = median(cpu.edge);
  const f = median(cpu.floor);
  console.log(`\n${o.size} B hits, ${o.conns} connections, medians of ${o.runs}: CPU per 1,000 hits edge ${e.toFixed(1)} ms, floor ${f.toFixed(1)} ms: edge/floor ${(e / f).toFixed(2)}×`);
  if (o.cacheFields) {
    const g = median(cpu['floor+']);
    console.log(`floor with Last-Modified, Age and Via (floor+) ${g.toFixed(1)} ms: floor+/floor ${(g / f).toFixed(2)}×, edge/floor+ ${(e / g).toFixed(2)}×`);
  }
  if (o.baseline !== undefined) console.log(`baseline (${o.baseline}) ${median(cpu.baseline).toFixed(1)} ms: baseline/floor ${(median(cpu.baseline) / f).toFixed(2)}×; edge/baseline per run ${perRunRatios(cpu.edge, cpu.baseline)}`);
  for (const s of servers) {
    if (s.name.startsWith('floor')) s.cp.stdin.end();
    await stopProcess(s.cp, 20_000);
  }
  if (o.profile) {
    // Every request each server answered: the two warm-up passes, the warm-up run and the runs.
    const a = summarise(profileIn(path.join(tmp, 'prof-edge')), requests.edge + 2 * OBJECTS);
    const b = summarise(profileIn(path.join(tmp, 'prof-floor')), requests.floor + 2 * OBJECTS);
    console.log(`\nSelf time per hit (µs, profiled; the profiler adds its own): edge ${a.busy.toFixed(1)}, floor ${b.busy.toFixed(1)}; where they differ most:`);
    console.log(`${'edge − floor'.padStart(12)} ${'edge'.padStart(7)} ${'floor'.padStart(7)}  function`);
    const keys = new Set([...a.self.keys(), ...b.self.keys()]);
    const rows = [...keys].filter((k) => !k.startsWith('(idle)')).map((k) => [k, a.self.get(k) ?? 0, b.self.get(k) ?? 0]);
    rows.sort((x, y) => Math.abs(y[1] - y[2]) - Math.abs(x[1] - x[2]));
    for (const [k, x, y] of rows.slice(0, o.top)) console.log(`${(x - y).toFixed(2).padStart(12)} ${x.toFixed(2).padStart(7)} ${y.toFixed(2).padStart(7)}  ${k}`);
  }
}

async function misses(o, tmp, origin, flags) {
  const servers = [await startEdge(path.join(tmp, 'edge'), origin.port, flags('edge'))];
  if (o.baseline !== undefined) servers.push(await startEdge(path.join(tmp, 'baseline'), origin.port, flags('baseline'), { name: 'baseline', root: o.baseline }));
  if (o.floor) {
    const { cp, port } = await startReportingPort('floor', ...pinned(0, process.execPath, [path.join(__dirname, 'floor.js'), '--port', '0', '--origin-port', String(origin.port)]));
    servers.push({ name: 'floor', cp, port });
  }
  const stamp = Date.now();
  const cpu = Object.fromEntries(servers.map((s) => [s.name, []]));
  let requests = 0;
  for (let round = 0; round <= o.runs; round++) {
    // Alternating which goes first, so that neither always follows the other's round.
    for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
      const paths = Array.from({ length: OBJECTS }, (_, i) => `/obj/profile-${stamp}-${s.name}-${round}-${i}?size=${o.size}`);
      const before = { cpu: treeCpuMs(s.cp.pid), faults: treeMinorFaults(s.cp.pid), threads: threadCpuMs(s.cp.pid) };
      const r = await fetchAll(tmp, s.port, paths);
      const used = treeCpuMs(s.cp.pid) - before.cpu;
      const faults = treeMinorFaults(s.cp.pid) - before.faults;
      const threads = threadSplit(before.threads, threadCpuMs(s.cp.pid));
      if (s.name === 'edge') requests += OBJECTS;
      if (round > 0) cpu[s.name].push(used);
      console.log(`${round === 0 ? 'warm-up' : `round ${round}/${o.runs}`}  ${s.name.padEnd(8)} ${String(Math.round(r.ms)).padStart(5)} ms  CPU ${String(Math.round(used)).padStart(5)} ms (${threads})  ${faults} page faults  statuses ${JSON.stringify(r.statuses)}`);
      await sleep(300);
    }
  }
  const e = median(cpu.edge);
  console.log(`\n1,000 cold misses of ${o.size} B, 32 at a time, median of ${o.runs}: CPU ${Math.round(e)} ms (${Math.round(e)} µs per miss)`);
  if (o.floor) {
    const f = median(cpu.floor);
    console.log(`the Node floor: ${Math.round(f)} ms (${Math.round(f)} µs per miss): edge/floor ${(e / f).toFixed(2)}×`);
  }
  if (o.baseline !== undefined) console.log(`baseline (${o.baseline}): ${Math.round(median(cpu.baseline))} ms; edge/baseline per round ${perRunRatios(cpu.edge, cpu.baseline)}`);
  for (const s of servers) {
    if (s.name === 'floor') s.cp.stdin.end();
    await stopProcess(s.cp, 20_000);
  }
  if (o.profile) {
    const a = summarise(profileIn(path.join(tmp, 'prof-edge')), requests);
    console.log(`\nSelf time per miss (µs, profiled; the profiler adds its own, and start-up is spread over the misses): busy ${a.busy.toFixed(1)}; busiest:`);
    for (const [k, t] of [...a.self].filter(([k]) => !k.startsWith('(idle)')).sort((x, y) => y[1] - x[1]).slice(0, o.top)) console.log(`${t.toFixed(1).padStart(8)}  ${k}`);
    console.log('\nby file:');
    for (const [k, t] of [...a.files].filter(([k]) => k !== '(idle)').sort((x, y) => y[1] - x[1]).slice(0, o.top)) console.log(`${t.toFixed(1).padStart(8)}  ${k}`);
  }
}

/** CPU ms per thread kind between two threadCpuMs samples, times `scale`: "main 380+100, V8Worker 120+0, …" (user+sys). */
function threadSplit(before, after, scale = 1) {
  const parts = [];
  const fmt = (ms) => (scale === 1 ? String(Math.round(ms)) : ms.toFixed(1));
  for (const [kind, t] of Object.entries(after)) {
    const b = before[kind] ?? { user: 0, sys: 0 };
    const user = (t.user - b.user) * scale;
    const sys = (t.sys - b.sys) * scale;
    if (user + sys > 0) parts.push(`${kind} ${fmt(user)}+${fmt(sys)}`);
  }
  return parts.join(', ');
}

function profileIn(dir) {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length !== 1) throw new Error(`expected one CPU profile in ${dir}, found ${files.length} (did the server exit cleanly?)`);
  return JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8'));
}

/** Self time per request (µs) by function and by file. */
function summarise(profile, requests) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const files = new Map();
  let busy = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const { callFrame } = nodes.get(profile.samples[i]);
    const us = (profile.timeDeltas[i] ?? 0) / requests;
    const url = callFrame.url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, '').replace(`${ROOT}/`, '');
    const fn = `${callFrame.functionName || '(anonymous)'}${url ? ` ${url.replace(/^.*\//, '')}:${callFrame.lineNumber + 1}` : ''}`;
    self.set(fn, (self.get(fn) ?? 0) + us);
    const file = url || callFrame.functionName;
    files.set(file, (files.get(file) ?? 0) + us);
    if (callFrame.functionName !== '(idle)') busy += us;
  }
  return { self, files, busy };
}

async function main() {
  children.install({ name: 'bench:profile' });
  const o = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'bin', 'cdn.js'))) throw new Error('dist/ is missing: npm run build first');
  if (o.mode === 'hits' && which('wrk') === null) throw new Error('wrk is not installed (Debian: apt-get install -y wrk)');
  const tmp = children.useTmpDir(fs.mkdtempSync(path.join(os.tmpdir(), 'edgeplane-profile-')), false);
  const flags = (name) => (o.profile ? ['--cpu-prof', '--cpu-prof-dir', path.join(tmp, `prof-${name}`)] : []);
  const origin = await startReportingPort('origin', ...pinned(1, process.execPath, [path.join(__dirname, 'origin.js'), '--port', '0']));
  console.log(`bench:profile ${o.mode}: node ${process.version}; the server(s) on core 0, the clients and the origin on core 1`);
  try {
    await (o.mode === 'hits' ? hits(o, tmp, origin, flags) : misses(o, tmp, origin, flags));
  } finally {
    origin.cp.stdin.end();
    await children.cleanup();
  }
}

main().catch(async (err) => {
  console.error(`bench:profile: ${err.message}`);
  await children.cleanup();
  process.exit(1);
});
