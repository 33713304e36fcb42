#!/usr/bin/env node
// `npm run bench:connections`: one edge holding 100,000 open keep-alive client connections
// while 64 active clients fetch cache hits (issue 17). See docs/BENCHMARKS.md, "Many
// connections", for what is measured and why.
//
// The edge is a black box (`cdn edge --config <customers.json>` from the compiled build, through
// bench/edge.js on the node running the bench; one process by default) in front of
// bench/origin.js. The idle crowd comes from bench/idle-clients.js processes, each connection
// from a loopback source address 127.0.0.2-254 (each address has its own ephemeral ports), each
// having sent one request and read its answer. The active clients are wrk (-c 64) with
// bench/random-paths.lua over 1,000 cached objects, measured with and without the crowd, round
// after round. Everything runs on 127.0.0.x; every process started here is killed on exit,
// error, Ctrl-C or SIGTERM (bench/children.js).
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const children = require('./children');
const { edgeEnv, pinned, startReportingPort } = require('./servers');
const { ensureBuild, nodeNote } = require('./build');
const { treeCpuMs, treeRssBytes, treeOpenFds, nofileLimit, sysctl } = require('./proc');
const { startProcess, stopProcess, exited, runToEnd, which, sleep, freePort, httpGet } = children;

const ROOT = path.resolve(__dirname, '..');
const HOST_HEADER = 'bench.local';
const OBJECTS = 1000;
const IDLE_PATH = '/obj/idle-crowd?size=64';
/** What the issue asks of the active clients while the crowd is there. */
const TARGET_P95_MS = 100;
const TARGET_THROUGHPUT = 0.8;
/** Descriptors the edge needs beside its client connections (src/edge/limits.check.ts NOFILE_MARGIN). */
const EDGE_FD_MARGIN = 4096;
/** Connections per idle-client process at most: Node holds these comfortably. */
const PER_CLIENT = 25_000;
/** Source addresses 127.0.0.2 .. 127.0.0.254 (127.0.0.1 is wrk's). */
const ADDRESSES = Array.from({ length: 253 }, (_, i) => i + 2);

const HELP = `Usage: npm run bench:connections [-- options]

One edge holds N idle keep-alive connections (each served one request first) while
--active clients (wrk) fetch cache hits; the same measurement with and without the idle
crowd, round after round. Reports the time to open and serve the N connections, the edge's
memory per idle connection, the active clients' req/s, p95 and p99 with and without the
crowd, and pass/fail against p95 < ${TARGET_P95_MS} ms and throughput >= ${TARGET_THROUGHPUT}x.

Options:
  --connections <n>   idle connections (default 100000; --quick 10000)
  --active <n>        active wrk connections (default 64)
  --duration <s>      seconds per wrk run (default 10; --quick 3)
  --runs <n>          rounds of (without crowd, with crowd) (default 3; --quick 2)
  --quick             10,000 connections, short runs: a smoke test, writes nothing
  --workers <n>       CDN_EDGE_WORKERS of the edge (default 1: one process on --server-cpu;
                      more run on every core)
  --size <bytes>      size of the active clients' objects (default 1024)
  --clients <n>       idle-client processes (default: one per ${PER_CLIENT.toLocaleString('en-US')} connections, or
                      fewer per process when the open files limit is lower)
  --concurrency <n>   connections being opened at once per idle-client process (default 200)
  --beyond            after the rounds, keep adding connections (with a 2 s wrk probe after
                      each step) until something fails, and report what broke first
  --beyond-step <n>   connections added per step (default: a tenth of --connections)
  --beyond-max <n>    stop adding there (default 1,000,000)
  --beyond-seconds <s>  stop adding after this long (default 300)
  --server-cpu <n>    core for the edge (default 0); --client-cpu <n> for wrk, the idle
                      clients and the origin (default 1)
  --no-build          use dist/ as it is
  --write / --no-write  record the results in docs/BENCHMARKS.md (default: a full run
                      writes, --quick does not)
  --keep-tmp          keep the temporary folder (edge log, configuration)
Environment: CDN_* variables you set are passed to the edge; the bench sets its own ports and
folders, CDN_EDGE_KEEPALIVE_TIMEOUT_MS=600000 (idle connections must outlive the run),
CDN_EDGE_MAX_CONNECTIONS (unless you set it) above the crowd, and raises RLIMIT_NOFILE for
itself and everything it starts where it may (prlimit; as root up to fs.nr_open).
`;

function parseOptions(argv) {
  const o = {
    quick: false,
    connections: undefined,
    active: 64,
    duration: undefined,
    runs: undefined,
    workers: 1,
    size: 1024,
    clients: undefined,
    concurrency: 200,
    beyond: false,
    beyondStep: undefined,
    beyondMax: 1_000_000,
    beyondSeconds: 300,
    serverCpu: 0,
    clientCpu: 1,
    build: true,
    write: undefined,
    keepTmp: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (min = 0) => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < min) fail(`${a} needs a number (at least ${min})`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--connections') o.connections = num(1);
    else if (a === '--active') o.active = num(1);
    else if (a === '--duration') o.duration = num(1);
    else if (a === '--runs') o.runs = num(1);
    else if (a === '--workers') o.workers = num(1);
    else if (a === '--size') o.size = num(0);
    else if (a === '--clients') o.clients = num(1);
    else if (a === '--concurrency') o.concurrency = num(1);
    else if (a === '--beyond') o.beyond = true;
    else if (a === '--beyond-step') o.beyondStep = num(1);
    else if (a === '--beyond-max') o.beyondMax = num(1);
    else if (a === '--beyond-seconds') o.beyondSeconds = num(1);
    else if (a === '--server-cpu') o.serverCpu = num(0);
    else if (a === '--client-cpu') o.clientCpu = num(0);
    else if (a === '--no-build') o.build = false;
    else if (a === '--write') o.write = true;
    else if (a === '--no-write') o.write = false;
    else if (a === '--keep-tmp') o.keepTmp = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      process.exit(0);
    } else fail(`unknown option ${a}\n\n${HELP}`);
  }
  o.connections ??= o.quick ? 10_000 : 100_000;
  o.duration ??= o.quick ? 3 : 10;
  o.runs ??= o.quick ? 2 : 3;
  o.beyondStep ??= Math.max(1000, Math.round(o.connections / 10));
  o.write ??= !o.quick;
  o.argv = argv;
  return o;
}

function fail(message) {
  process.stderr.write(`bench:connections: ${message}\n`);
  process.exit(2);
}

const log = (msg) => process.stdout.write(`${msg}\n`);
const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const fmtMiB = (b) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
const fmtKiB = (b) => `${(b / 1024).toFixed(1)} KiB`;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

children.install({ name: 'bench:connections' });
let tmpDir;


// ---------------------------------------------------------------------------------------------
// host limits

/**
 * Raises RLIMIT_NOFILE of this process (so of everything it starts) to `want` where it may:
 * as root up to fs.nr_open, otherwise only the soft limit up to the hard one (Node did that
 * already at start). Returns what it got and how.
 */
function raiseNofile(want) {
  const before = nofileLimit();
  if (before.soft >= want) return { ...before, how: `already ${before.soft}` };
  const nrOpen = Number(sysctl('fs.nr_open') ?? want);
  const target = Math.min(want, nrOpen);
  const notes = [];
  if (which('prlimit') === null) notes.push('prlimit (util-linux) is missing');
  else {
    const r = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${target}:${Math.max(target, before.hard)}`], { encoding: 'utf8' });
    if (r.status !== 0) {
      notes.push(`prlimit --nofile=${target}: ${(r.stderr || '').trim() || `exit ${r.status}`}`);
      if (before.soft < before.hard) spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${before.hard}:${before.hard}`]);
    }
  }
  const after = nofileLimit();
  const how = after.soft >= want ? `raised to ${after.soft} (prlimit)` : `${after.soft}, below the ${want} wanted${target < want ? ` (fs.nr_open is ${nrOpen})` : ''}${notes.length ? `: ${notes.join('; ')}` : ''}`;
  return { ...after, how };
}

/** Kernel slab memory of the whole host (sockets, their files and epoll entries live there). */
function slabBytes() {
  const m = /^Slab:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : undefined;
}

function conntrack() {
  const count = sysctl('net.netfilter.nf_conntrack_count');
  const max = sysctl('net.netfilter.nf_conntrack_max');
  return count === undefined || max === undefined ? undefined : { count: Number(count), max: Number(max) };
}

function memAvailableBytes() {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : os.freemem();
}

// ---------------------------------------------------------------------------------------------
// processes


async function startEdge(opts, env, dirs) {
  const port = await freePort();
  const adminPort = await freePort();
  const logFile = path.join(tmpDir, 'edge.log');
  const out = fs.openSync(logFile, 'a');
  const environment = edgeEnv(env, { port, adminPort, dataDir: dirs.data, cacheDir: dirs.cache, workers: opts.workers });
  const cpus = opts.workers > 1 ? opts.allCpus : opts.serverCpuOrNull;
  const [cmd, args] = pinned(cpus, process.execPath, [path.join(__dirname, 'edge.js'), 'edge', '--config', dirs.customers]);
  const cp = startProcess(cmd, args, { cwd: ROOT, env: environment, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited(cp)) throw new Error(`the edge exited with ${cp.exitCode ?? cp.signalCode}:\n${tail(logFile)}`);
    try {
      if ((await httpGet(adminPort, '/readyz')).status === 200 && (await httpGet(port, '/__bench_probe', { host: HOST_HEADER })).status < 500) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`the edge did not become ready in 60 s:\n${tail(logFile)}`);
    await sleep(100);
  }
  return { cp, port, adminPort, logFile, env: environment };
}

function tail(file, lines = 25) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Warnings (pino level 40+) the edge logged, message and fields. */
function edgeWarnings(logFile) {
  const out = [];
  for (const line of tail(logFile, 100_000).split('\n')) {
    try {
      const j = JSON.parse(line);
      if (j.level >= 40) out.push(j);
    } catch {
      // not JSON
    }
  }
  return out;
}

/** An idle-client process (bench/idle-clients.js) and a way to talk to it. */
async function startIdleClient(opts, edgePort, addresses) {
  const [cmd, args] = pinned(opts.clientCpuOrNull, process.execPath, [
    path.join(__dirname, 'idle-clients.js'),
    '--port', String(edgePort),
    '--host', HOST_HEADER,
    '--path', IDLE_PATH,
    '--addresses', addresses.join(','),
    '--concurrency', String(opts.concurrency),
  ]);
  const cp = startProcess(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = [];
  const client = {
    cp,
    addresses,
    held: 0,
    progress: { ok: 0, failed: 0 },
    /** Sends a command; resolves with the first answer of type `ev`. */
    ask(cmd, ev) {
      return new Promise((resolve, reject) => {
        if (exited(cp)) return reject(new Error(`idle client ${cp.pid} has exited`));
        waiting.push({ ev, resolve, reject });
        cp.stdin.write(JSON.stringify(cmd) + '\n');
      });
    },
  };
  const ready = new Promise((resolve, reject) => {
    waiting.push({ ev: 'ready', resolve, reject });
  });
  readline.createInterface({ input: cp.stdout }).on('line', (line) => {
    let m;
    try {
      m = JSON.parse(line);
    } catch {
      return;
    }
    if (m.ev === 'progress') client.progress = m;
    const i = waiting.findIndex((w) => w.ev === m.ev);
    if (i >= 0) waiting.splice(i, 1)[0].resolve(m);
  });
  cp.once('exit', (code, signal) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`idle client ${cp.pid} exited (${code ?? signal})`));
  });
  await ready;
  return client;
}

// ---------------------------------------------------------------------------------------------
// measurements

async function wrkRun(opts, edge, duration) {
  const [cmd, args] = pinned(opts.clientCpuOrNull, 'wrk', [
    '-t', '1',
    '-c', String(opts.active),
    '-d', `${duration}s`,
    '--timeout', '10s',
    '-s', path.join(__dirname, 'random-paths.lua'),
    '-H', `Host: ${HOST_HEADER}`,
    `http://127.0.0.1:${edge.port}/`,
  ]);
  const c0 = treeCpuMs(edge.cp.pid);
  const r = await runToEnd(cmd, args, { env: { ...process.env, BENCH_SIZE: String(opts.size), BENCH_OBJECTS: String(OBJECTS), BENCH_SEED: String(Date.now() % 100000) } });
  const cpuMs = treeCpuMs(edge.cp.pid) - c0;
  const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (r.code !== 0 || line === undefined) throw new Error(`wrk failed (${r.code}): ${r.stderr || r.stdout}`);
  const j = JSON.parse(line.slice('BENCH_JSON '.length));
  return {
    rps: j.requests / (j.duration_us / 1e6),
    p50: j.p50_us / 1000,
    p95: j.p95_us / 1000,
    p99: j.p99_us / 1000,
    errors: j.err_connect + j.err_read + j.err_write + j.err_timeout,
    non2xx: j.err_status,
    cpu1k: j.requests > 0 ? (cpuMs / j.requests) * 1000 : NaN,
  };
}

/**
 * Waits until the edge is quiet (under 10 % of a core over half a second, at most 15 s): after
 * opening or resetting a crowd it is still collecting garbage and closing sockets, and a run
 * measured then would measure that.
 */
async function waitQuiet(edge) {
  const deadline = performance.now() + 15_000;
  while (performance.now() < deadline) {
    const c0 = treeCpuMs(edge.cp.pid);
    await sleep(500);
    if (treeCpuMs(edge.cp.pid) - c0 < 50) return;
  }
}

function describeRun(r) {
  const extra = [];
  if (r.errors) extra.push(`${r.errors} socket errors`);
  if (r.non2xx) extra.push(`${r.non2xx} non-2xx`);
  return `${fmtInt(r.rps).padStart(7)} req/s  p50 ${fmtMs(r.p50).padStart(6)} ms  p95 ${fmtMs(r.p95).padStart(6)} ms  p99 ${fmtMs(r.p99).padStart(6)} ms  edge CPU ${Number.isFinite(r.cpu1k) ? r.cpu1k.toFixed(1) : '?'} ms/1k req${extra.length ? `  [${extra.join(', ')}]` : ''}`;
}

/** Splits `count` over the clients in proportion (the first ones get the remainder). */
function shares(count, n) {
  return Array.from({ length: n }, (_, i) => Math.floor(count / n) + (i < count % n ? 1 : 0));
}

/**
 * Opens `count` more idle connections over `clients`, printing progress; returns the time
 * taken, how many were served, the errors, and the edge's CPU time spent meanwhile.
 */
async function openCrowd(clients, edge, count, label) {
  const t0 = performance.now();
  const c0 = treeCpuMs(edge.cp.pid);
  for (const c of clients) c.progress = { ok: 0, failed: 0 };
  const ticker = setInterval(() => {
    const ok = clients.reduce((a, c) => a + c.progress.ok, 0);
    const failed = clients.reduce((a, c) => a + c.progress.failed, 0);
    const s = (performance.now() - t0) / 1000;
    log(`    ${label}: ${fmtInt(ok)}/${fmtInt(count)} served${failed ? `, ${fmtInt(failed)} failed` : ''} (${fmtInt(ok / s)}/s)`);
  }, 5000);
  try {
    const results = await Promise.all(clients.map((c, i) => c.ask({ cmd: 'open', count: shares(count, clients.length)[i] }, 'opened')));
    const ms = performance.now() - t0;
    const cpuMs = treeCpuMs(edge.cp.pid) - c0;
    const errors = {};
    let ok = 0;
    let failed = 0;
    for (const [i, r] of results.entries()) {
      ok += r.ok;
      failed += r.failed;
      clients[i].held += r.ok;
      for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] || 0) + v;
    }
    return { ms, ok, failed, errors, cpuMs };
  } finally {
    clearInterval(ticker);
  }
}

async function crowdStatus(clients) {
  const all = await Promise.all(clients.map((c) => c.ask({ cmd: 'status' }, 'status')));
  const dropCodes = {};
  for (const s of all) for (const [k, v] of Object.entries(s.dropCodes)) dropCodes[k] = (dropCodes[k] || 0) + v;
  return { open: all.reduce((a, s) => a + s.open, 0), dropped: all.reduce((a, s) => a + s.dropped, 0), dropCodes };
}

/** Resets every idle connection, then waits until the edge has let go of them. */
async function closeCrowd(clients, edge, fdsBaseline) {
  await Promise.all(clients.map((c) => c.ask({ cmd: 'close' }, 'closed')));
  for (const c of clients) c.held = 0;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (treeOpenFds(edge.cp.pid) <= fdsBaseline + 64) return true;
    await sleep(250);
  }
  return false;
}

async function snapshot(edge) {
  return { rss: treeRssBytes(edge.cp.pid), heap: await heapUsed(edge), fds: treeOpenFds(edge.cp.pid), slab: slabBytes(), ct: conntrack() };
}

/** The edge's JS heap in use (all its processes), from its /metrics; undefined if unreadable. */
async function heapUsed(edge) {
  try {
    const r = await httpGet(edge.adminPort, '/metrics', {}, 10_000);
    const values = [...r.body.matchAll(/^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)/gm)].map((m) => Number(m[1]));
    return values.length ? values.reduce((a, b) => a + b, 0) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// beyond: keep adding until something breaks

async function beyond(opts, edge, clients, spawnClient, info) {
  const steps = [];
  const started = Date.now();
  const memBudget = Math.floor(info.memAvailableStart * 0.6);
  let total = 0;
  let stop;
  const add = async (count) => {
    // Fresh client processes as the crowd grows: none holds more than its descriptors allow.
    while (clients.reduce((a, c) => a + (opts.perClient - c.held), 0) < count) clients.push(await spawnClient(clients.length));
    const room = clients.map((c) => Math.max(0, opts.perClient - c.held));
    const plan = room.map(() => 0);
    let left = count;
    for (let i = 0; left > 0; i = (i + 1) % clients.length) {
      if (plan[i] < room[i]) {
        plan[i] += 1;
        left -= 1;
      }
    }
    const t0 = performance.now();
    const results = await Promise.all(clients.map((c, i) => (plan[i] ? c.ask({ cmd: 'open', count: plan[i] }, 'opened') : { ok: 0, failed: 0, errors: {} })));
    const errors = {};
    let ok = 0;
    let failed = 0;
    for (const [i, r] of results.entries()) {
      ok += r.ok;
      failed += r.failed;
      clients[i].held += r.ok;
      for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] || 0) + v;
    }
    return { ok, failed, errors, ms: performance.now() - t0 };
  };
  log(`\n== beyond: adding ${fmtInt(opts.beyondStep)} connections a step (a ${2} s wrk probe after each) until something fails; at most ${fmtInt(opts.beyondMax)} or ${opts.beyondSeconds} s`);
  const first = await add(opts.connections);
  total = first.ok;
  if (first.failed) stop = { what: `opening the first ${fmtInt(opts.connections)} already failed`, errors: first.errors };
  while (stop === undefined) {
    const ct = conntrack();
    if (ct !== undefined && ct.count + opts.beyondStep > ct.max * 0.9) {
      stop = { what: `the connection-tracking table would be full: nf_conntrack_count ${fmtInt(ct.count)} of nf_conntrack_max ${fmtInt(ct.max)} (every tracked connection of this host, both ends of loopback ones: past it the kernel drops new connections of every program here, so the bench stops first)` };
      break;
    }
    if (total + opts.beyondStep > opts.beyondMax) {
      stop = { what: `--beyond-max ${fmtInt(opts.beyondMax)} reached without a failure` };
      break;
    }
    if ((Date.now() - started) / 1000 > opts.beyondSeconds) {
      stop = { what: `--beyond-seconds ${opts.beyondSeconds} s reached without a failure` };
      break;
    }
    const used = info.memAvailableStart - memAvailableBytes();
    if (used > memBudget) {
      stop = { what: `host memory: ${fmtMiB(used)} of the ${fmtMiB(info.memAvailableStart)} available at start are in use (the bench stops at 60 %)` };
      break;
    }
    const r = await add(opts.beyondStep);
    total += r.ok;
    if (exited(edge.cp)) {
      stop = { what: `the edge exited (${edge.cp.exitCode ?? edge.cp.signalCode}) at about ${fmtInt(total)} connections`, log: tail(edge.logFile, 10) };
      break;
    }
    const probe = await wrkRun(opts, edge, 2);
    const snap = await snapshot(edge);
    const status = await crowdStatus(clients);
    const step = { total, added: r.ok, failed: r.failed, errors: r.errors, rate: r.ok / (r.ms / 1000), probe, rss: snap.rss, fds: snap.fds, ct: snap.ct, dropped: status.dropped, dropCodes: status.dropCodes };
    steps.push(step);
    log(`  ${fmtInt(total).padStart(9)} open  +${fmtInt(r.ok)} in ${(r.ms / 1000).toFixed(1)} s${r.failed ? `  ${fmtInt(r.failed)} FAILED ${JSON.stringify(r.errors)}` : ''}  edge RSS ${fmtMiB(snap.rss)}, ${fmtInt(snap.fds)} fds${snap.ct ? `, conntrack ${fmtInt(snap.ct.count)}/${fmtInt(snap.ct.max)}` : ''}  probe ${describeRun(probe)}${status.dropped ? `  ${status.dropped} dropped ${JSON.stringify(status.dropCodes)}` : ''}`);
    if (r.failed) {
      stop = { what: `new connections failed at about ${fmtInt(total)} open: ${Object.entries(r.errors).map(([k, v]) => `${fmtInt(v)} × ${k}`).join(', ')}. ${diagnose(r.errors, snap, info, edge)}` };
      break;
    }
    if (status.dropped) {
      stop = { what: `open connections were closed by the edge at about ${fmtInt(total)}: ${JSON.stringify(status.dropCodes)}` };
      break;
    }
  }
  const firstSlow = steps.find((s) => s.probe.p95 >= TARGET_P95_MS);
  return { steps, stop, total, firstSlow };
}

/** Which limit the failures point at, from what the clients saw and the edge's state. */
function diagnose(errors, snap, info, edge) {
  const codes = Object.keys(errors).join(' ');
  const causes = [];
  if (snap.fds >= info.edgeNofile - 16) {
    causes.push(`the edge holds ${fmtInt(snap.fds)} descriptors, its open files limit (${fmtInt(info.edgeNofile)}): accept() fails with EMFILE and libuv closes each new connection at once, so clients see it closed or reset before any answer (nothing in the edge's log)`);
  }
  const refusals = edgeWarnings(edge.logFile).filter((w) => String(w.msg).startsWith('new client connections closed at once'));
  if (refusals.length) causes.push(`the edge reached CDN_EDGE_MAX_CONNECTIONS (${info.edgeCap}) and closes new connections ("${refusals.at(-1).msg}")`);
  if (/EADDRNOTAVAIL|EADDRINUSE/.test(codes)) causes.push('the clients ran out of ephemeral ports on their source addresses');
  if (/EMFILE|ENFILE/.test(codes)) causes.push('a client process reached its own open files limit');
  if (/ENOBUFS|ENOMEM/.test(codes)) causes.push('the kernel ran out of socket memory');
  if (/ETIMEDOUT/.test(codes)) causes.push('connections were not accepted in time (accept queue full: SYNs dropped, or the edge too busy to accept)');
  return causes.length ? `Cause: ${causes.join('; ')}` : 'Cause not identified: see the edge log (--keep-tmp)';
}

// ---------------------------------------------------------------------------------------------
// report

function buildReport(info, data, opts) {
  const L = [];
  const cmd = `npm run bench:connections${opts.argv.length ? ` -- ${opts.argv.join(' ')}` : ''}`;
  L.push(`Run ${info.date} — \`${cmd}\`${opts.quick ? ' (--quick: a smoke test, not a measurement)' : ''}.`);
  L.push('');
  L.push(`- machine: ${info.nproc} CPUs, ${info.cpu}, ${info.kernel}, ${fmtMiB(info.memTotal)} RAM; load average at start ${info.load}`);
  L.push(`- node ${info.node} (${info.nodePath}: the bench, the edge and the clients), ${info.wrk}; edge commit ${info.commit}, ${info.build}`);
  L.push(`- edge: CDN_EDGE_WORKERS=${opts.workers} on core${opts.workers > 1 ? 's' : ''} ${opts.workers > 1 ? opts.allCpus : opts.serverCpu}, CDN_EDGE_MAX_CONNECTIONS=${info.edgeCap}, CDN_EDGE_KEEPALIVE_TIMEOUT_MS=${info.keepAlive}; open files limit ${info.edgeNofile} (${info.nofileHow})`);
  L.push(`- host: net.core.somaxconn ${info.somaxconn}, net.ipv4.ip_local_port_range ${info.portRange} (${fmtInt(info.portsPerAddress)} ports per source address), nf_conntrack_max ${info.conntrackMax ?? 'n/a (no conntrack)'}`);
  L.push(`- idle crowd: ${fmtInt(opts.connections)} connections from ${info.clients} processes on core ${opts.clientCpu}, source addresses 127.0.0.2–254, ${opts.concurrency} being opened at once per process; each sent \`GET ${IDLE_PATH}\` and read the answer, then stayed open. Active: wrk, 1 thread, ${opts.active} connections, ${opts.duration} s runs, random hits over ${fmtInt(OBJECTS)} cached ${opts.size}-byte objects`);
  L.push(`- edge start-up warnings: ${info.warnings.length ? info.warnings.map((w) => `"${w}"`).join('; ') : 'none'}`);
  L.push('');
  L.push('| round | opened | time to open and serve | rate | edge CPU per 1,000 opened | edge RSS before → after | RSS per idle connection | JS heap in use per connection | host kernel slab per connection (both ends) | still open after the run |');
  L.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [i, r] of data.rounds.entries()) {
    const o = r.open;
    L.push(`| ${i + 1} | ${fmtInt(o.ok)}${o.failed ? ` (${fmtInt(o.failed)} failed: ${JSON.stringify(o.errors)})` : ''} | ${(o.ms / 1000).toFixed(1)} s | ${fmtInt(o.ok / (o.ms / 1000))}/s | ${((o.cpuMs / o.ok) * 1000).toFixed(0)} ms | ${fmtMiB(r.before.rss)} → ${fmtMiB(r.after.rss)} | ${fmtKiB((r.after.rss - r.before.rss) / o.ok)} | ${r.before.heap !== undefined && r.after.heap !== undefined ? fmtKiB((r.after.heap - r.before.heap) / o.ok) : '?'} | ${r.before.slab !== undefined && r.after.slab !== undefined ? fmtKiB((r.after.slab - r.before.slab) / o.ok) : '?'} | ${fmtInt(r.status.open)}${r.status.dropped ? ` (${r.status.dropped} dropped ${JSON.stringify(r.status.dropCodes)})` : ''} |`);
  }
  L.push('');
  L.push(`Active clients (${opts.active} connections, wrk), each round without the crowd and then with it:`);
  L.push('');
  L.push('| round | without: req/s | p95 / p99 (ms) | edge CPU ms per 1,000 req | with the crowd: req/s | p95 / p99 (ms) | edge CPU ms per 1,000 req |');
  L.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [i, r] of data.rounds.entries()) {
    const a = r.without;
    const b = r.with;
    L.push(`| ${i + 1} | ${fmtInt(a.rps)} | ${fmtMs(a.p95)} / ${fmtMs(a.p99)} | ${a.cpu1k.toFixed(1)} | ${fmtInt(b.rps)} | ${fmtMs(b.p95)} / ${fmtMs(b.p99)} | ${b.cpu1k.toFixed(1)} |${a.errors + b.errors + a.non2xx + b.non2xx ? ` errors: ${a.errors + a.non2xx} / ${b.errors + b.non2xx}` : ''}`);
  }
  const s = data.summary;
  L.push('');
  L.push(`**Targets** (medians over the rounds): with ${fmtInt(opts.connections)} idle connections open, the active clients' p95 ${fmtMs(s.p95With)} ms — < ${TARGET_P95_MS} ms **${s.p95Met ? 'met' : 'not met'}**; throughput ${fmtInt(s.rpsWith)} req/s, ${s.ratio.toFixed(2)}× of ${fmtInt(s.rpsWithout)} without the crowd — ≥ ${TARGET_THROUGHPUT}× **${s.ratioMet ? 'met' : 'not met'}**; every idle connection served and still open: **${s.allHeld ? 'yes' : 'no'}**. Memory per idle connection: **${fmtKiB(s.perConnection)}** of edge RSS the first time (round 1, the heap's growth included)${s.perConnectionAgain === undefined ? '' : `, ${fmtKiB(s.perConnectionAgain)} when the crowd comes back (later rounds, median)`}${s.heapPerConnection === undefined ? '' : `, of which ${fmtKiB(s.heapPerConnection)} JS heap in use`}; time to open and serve ${fmtInt(opts.connections)}: **${(s.openMs / 1000).toFixed(1)} s** (round 1).`);
  if (data.beyond !== undefined) {
    const b = data.beyond;
    L.push('');
    L.push(`**Beyond** (\`--beyond\`, steps of ${fmtInt(opts.beyondStep)}, a 2 s wrk probe after each): reached ${fmtInt(b.total)} open connections; stopped because ${b.stop.what}.${b.firstSlow ? ` The active clients' p95 first reached ${TARGET_P95_MS} ms at ${fmtInt(b.firstSlow.total)} connections (${fmtMs(b.firstSlow.probe.p95)} ms).` : ` The active clients' p95 stayed under ${TARGET_P95_MS} ms at every step.`}`);
    if (b.steps.length) {
      L.push('');
      L.push('| open connections | added per s | edge RSS | edge fds | conntrack | probe req/s | probe p95 (ms) | failed new connections | probe errors |');
      L.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |');
      for (const st of b.steps) {
        L.push(`| ${fmtInt(st.total)} | ${fmtInt(st.rate)} | ${fmtMiB(st.rss)} | ${fmtInt(st.fds)} | ${st.ct ? fmtInt(st.ct.count) : '—'} | ${fmtInt(st.probe.rps)} | ${st.probe.rps > 0 ? fmtMs(st.probe.p95) : '—'} | ${st.failed ? `${fmtInt(st.failed)}: ${JSON.stringify(st.errors)}` : ''} | ${st.probe.errors + st.probe.non2xx || ''} |`);
      }
    }
  }
  return L.join('\n');
}

const START = '<!-- bench:connections:start -->';
const END = '<!-- bench:connections:end -->';

function writeDocs(report) {
  const file = path.join(ROOT, 'docs', 'BENCHMARKS.md');
  let doc = fs.readFileSync(file, 'utf8');
  if (doc.indexOf(START) < 0 || doc.indexOf(END) < doc.indexOf(START)) doc = `${doc.trimEnd()}\n\n## Many connections: latest results\n\n${START}\n${END}\n`;
  doc = `${doc.slice(0, doc.indexOf(START) + START.length)}\n${report}\n${doc.slice(doc.indexOf(END))}`;
  fs.writeFileSync(file, doc);
  return file;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  for (const tool of ['wrk', 'taskset']) if (which(tool) === null) fail(`${tool} is missing: apt-get install -y ${tool === 'wrk' ? 'wrk' : 'util-linux'}`);
  const ncpu = os.availableParallelism();
  opts.serverCpuOrNull = ncpu < 2 ? null : opts.serverCpu;
  opts.clientCpuOrNull = ncpu < 2 ? null : opts.clientCpu;
  opts.allCpus = ncpu < 2 ? null : `0-${ncpu - 1}`;
  if (ncpu >= 2 && (opts.serverCpu >= ncpu || opts.clientCpu >= ncpu)) fail(`--server-cpu/--client-cpu must be below ${ncpu}`);

  // Descriptors: the edge holds every connection (plus its own files); each client process its share.
  const wantNofile = opts.beyond ? Number(sysctl('fs.nr_open') ?? 1_048_576) : Math.max(opts.connections * 2, opts.connections + 65_536);
  const nofile = raiseNofile(wantNofile);
  // Each idle-client process needs a descriptor per connection it holds, too.
  opts.perClient = Math.max(1000, Math.min(PER_CLIENT, nofile.soft - 1024));
  opts.clients ??= Math.max(1, Math.ceil(opts.connections / opts.perClient));
  if (opts.connections / opts.clients > nofile.soft - 256) fail(`--clients ${opts.clients}: ${fmtInt(Math.ceil(opts.connections / opts.clients))} connections per idle-client process do not fit its open files limit (${nofile.soft})`);
  // The edge needs a descriptor per connection plus its own (each worker holds its share, unevenly).
  const edgeRoom = (nofile.soft - EDGE_FD_MARGIN) * opts.workers;
  if (!opts.beyond && edgeRoom < opts.connections + opts.active) {
    fail(
      `the open files limit is ${nofile.soft} per process (${nofile.how}): an edge of ${opts.workers} process(es) can hold about ${fmtInt(Math.max(0, edgeRoom))} connections, not ${fmtInt(opts.connections + opts.active)}. ` +
        `Raise the hard limit first (as root with CAP_SYS_RESOURCE the bench does it itself; or ulimit -Hn / LimitNOFILE= / docker --ulimit nofile=), ` +
        `or measure what fits: --connections ${fmtInt(Math.max(1000, edgeRoom - opts.active - 1000)).replaceAll(',', '')}, or --workers ${Math.ceil((opts.connections + opts.active) / Math.max(1, nofile.soft - EDGE_FD_MARGIN))}; --beyond shows what happens past the limit.`,
    );
  }
  const buildNote = await ensureBuild(opts, { log, fail });

  tmpDir = children.useTmpDir(fs.mkdtempSync(path.join(os.tmpdir(), 'edgeplane-conns-')), opts.keepTmp);
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src'], { cwd: ROOT, encoding: 'utf8' });
  const wrkV = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  const portRange = (sysctl('net.ipv4.ip_local_port_range') ?? '32768 60999').split(/\s+/).map(Number);
  const info = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: String(ncpu),
    cpu: ((cpuinfo.match(/^model name\s*:\s*(.+)$/m) ?? [])[1] ?? 'unknown').trim(),
    kernel: `${os.type()} ${os.release()}`,
    memTotal: os.totalmem(),
    memAvailableStart: memAvailableBytes(),
    load: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    node: process.version,
    nodePath: process.execPath,
    wrk: (wrkV.stdout || wrkV.stderr).split('\n')[0].replace(/\s*Copyright.*$/, '').trim(),
    commit: `${(git.stdout || '?').trim()}${dirty.stdout && dirty.stdout.trim() ? ' + uncommitted changes in src/' : ''}`,
    build: buildNote,
    somaxconn: sysctl('net.core.somaxconn') ?? '?',
    portRange: portRange.join('–'),
    portsPerAddress: portRange[1] - portRange[0] + 1,
    conntrackMax: conntrack()?.max,
    nofileHow: nofile.how,
    clients: opts.clients,
  };
  log(`bench:connections: ${info.nproc} CPUs (${info.cpu}), node ${info.node} (${info.nodePath}), load ${info.load}; temporary folder ${tmpDir}`);
  log(`bench:connections: open files limit ${nofile.how}`);
  if (Number(info.load.split(' ')[0]) > 0.5) log('bench:connections: WARNING: the machine is not idle (load average above 0.5): timings will be noisy');
  if (nodeNote() !== undefined) log(`bench:connections: note: ${nodeNote()}`);
  const ct0 = conntrack();
  if (ct0 !== undefined && ct0.count + opts.connections + 10_000 > ct0.max * 0.9) {
    fail(`${fmtInt(opts.connections)} connections would fill the connection-tracking table (nf_conntrack_count ${fmtInt(ct0.count)} of nf_conntrack_max ${fmtInt(ct0.max)}); past it the kernel drops every new connection on this host. Raise it first: sysctl -w net.netfilter.nf_conntrack_max=${Math.ceil((ct0.count + opts.connections * 1.5) / 65536) * 65536}`);
  }
  const perAddress = Math.ceil(opts.connections / ADDRESSES.length);
  if (perAddress > info.portsPerAddress * 0.8) fail(`${fmtInt(perAddress)} connections per source address would nearly exhaust its ${fmtInt(info.portsPerAddress)} ephemeral ports`);

  // The origin (bench/origin.js) on the client core; one customer, every object cacheable.
  const [ocmd, oargs] = pinned(opts.clientCpuOrNull, process.execPath, [path.join(__dirname, 'origin.js'), '--port', '0']);
  const origin = await startReportingPort('origin', ocmd, oargs);
  const dirs = { data: path.join(tmpDir, 'edge-data'), cache: path.join(tmpDir, 'edge-cache'), customers: path.join(tmpDir, 'customers.json') };
  fs.mkdirSync(dirs.data, { recursive: true });
  fs.writeFileSync(dirs.customers, JSON.stringify([{ id: 'bench', name: 'Bench', originUrl: `http://127.0.0.1:${origin.port}`, domains: [HOST_HEADER], cacheTtl: 3600 }], null, 2));
  // The edge's default cap (100,000), or above the crowd and the active clients; with --beyond
  // as high as the open files limit lets it go, so that a real limit is found, not the cap.
  const edgeCap = process.env.CDN_EDGE_MAX_CONNECTIONS ?? String(Math.max(100_000, opts.connections + opts.active + 1000, opts.beyond ? nofile.soft - EDGE_FD_MARGIN : 0));
  const env = {
    ...process.env,
    CDN_LOG_LEVEL: process.env.CDN_LOG_LEVEL ?? 'warn',
    CDN_SECRET_KEY: process.env.CDN_SECRET_KEY ?? crypto.randomBytes(32).toString('hex'),
    // Idle connections must outlive the run: the edge's default (15 s) would close them.
    CDN_EDGE_KEEPALIVE_TIMEOUT_MS: '600000',
    CDN_EDGE_MAX_CONNECTIONS: edgeCap,
  };
  delete env.REDIS_URL;
  const edge = await startEdge(opts, env, dirs);
  info.edgeCap = edgeCap;
  info.keepAlive = env.CDN_EDGE_KEEPALIVE_TIMEOUT_MS;
  info.edgeNofile = nofileLimit(edge.cp.pid).soft;
  info.warnings = edgeWarnings(edge.logFile).map((w) => w.msg);
  log(`bench:connections: origin 127.0.0.1:${origin.port}, edge 127.0.0.1:${edge.port} (CDN_EDGE_WORKERS=${opts.workers}, CDN_EDGE_MAX_CONNECTIONS=${edgeCap}, open files limit ${info.edgeNofile})`);
  for (const w of info.warnings) log(`bench:connections: the edge warned at start: ${w}`);

  // Every object cached before measuring; the crowd's one object too.
  const paths = [...Array.from({ length: OBJECTS }, (_, i) => `/obj/${i}?size=${opts.size}`), IDLE_PATH];
  const pathsFile = path.join(tmpDir, 'paths.txt');
  fs.writeFileSync(pathsFile, paths.join('\n') + '\n');
  for (let pass = 0; pass < 2; pass++) {
    const r = await runToEnd(process.execPath, [path.join(__dirname, 'client.js'), 'fetch-all', '--port', String(edge.port), '--host', HOST_HEADER, '--concurrency', '32', '--paths-file', pathsFile]);
    if (r.code !== 0) throw new Error(`warm-up failed: ${r.stderr}`);
    if (pass === 1) {
      const j = JSON.parse(r.stdout.trim().split('\n').pop());
      log(`bench:connections: warm-up check pass: ${j.xcache.HIT ?? 0}/${paths.length} hits`);
    }
  }

  // Idle-client processes, each on its own share of the source addresses.
  const spawnClient = (i, n = opts.clients) => startIdleClient(opts, edge.port, ADDRESSES.filter((_, k) => k % Math.min(n, ADDRESSES.length) === i % Math.min(n, ADDRESSES.length)));
  const clients = [];
  for (let i = 0; i < opts.clients; i++) clients.push(await spawnClient(i));

  const data = { rounds: [] };
  log(`\n== ${opts.runs} rounds: active clients without the crowd, then ${fmtInt(opts.connections)} idle connections opened, active clients with them, crowd reset`);
  let fdsBaseline = treeOpenFds(edge.cp.pid);
  for (let round = 0; round < opts.runs; round++) {
    const without = await wrkRun(opts, edge, opts.duration);
    log(`  round ${round + 1}/${opts.runs} without the crowd   ${describeRun(without)}`);
    await sleep(500);
    const before = await snapshot(edge);
    fdsBaseline = Math.min(fdsBaseline, before.fds);
    const open = await openCrowd(clients, edge, opts.connections, `round ${round + 1}`);
    await waitQuiet(edge);
    const after = await snapshot(edge);
    log(`  round ${round + 1}/${opts.runs} opened ${fmtInt(open.ok)} in ${(open.ms / 1000).toFixed(1)} s (${fmtInt(open.ok / (open.ms / 1000))}/s)${open.failed ? `, ${fmtInt(open.failed)} FAILED ${JSON.stringify(open.errors)}` : ''}; edge RSS ${fmtMiB(before.rss)} → ${fmtMiB(after.rss)} (${fmtKiB((after.rss - before.rss) / Math.max(1, open.ok))} per connection), JS heap in use ${before.heap === undefined ? '?' : fmtMiB(before.heap)} → ${after.heap === undefined ? '?' : fmtMiB(after.heap)}, fds ${fmtInt(before.fds)} → ${fmtInt(after.fds)}`);
    const withCrowd = await wrkRun(opts, edge, opts.duration);
    const status = await crowdStatus(clients);
    log(`  round ${round + 1}/${opts.runs} with the crowd      ${describeRun(withCrowd)}; crowd still open ${fmtInt(status.open)}${status.dropped ? `, ${status.dropped} dropped ${JSON.stringify(status.dropCodes)}` : ''}`);
    data.rounds.push({ without, with: withCrowd, open, before, after, status });
    if (exited(edge.cp)) throw new Error(`the edge exited (${edge.cp.exitCode ?? edge.cp.signalCode}):\n${tail(edge.logFile)}`);
    if (round < opts.runs - 1 || opts.beyond) {
      if (!(await closeCrowd(clients, edge, fdsBaseline))) log(`  WARNING: the edge still holds ${fmtInt(treeOpenFds(edge.cp.pid))} descriptors 120 s after the crowd was reset`);
      await waitQuiet(edge);
    }
  }
  const r1 = data.rounds[0];
  const rpsWith = median(data.rounds.map((r) => r.with.rps));
  const rpsWithout = median(data.rounds.map((r) => r.without.rps));
  const p95With = median(data.rounds.map((r) => r.with.p95));
  data.summary = {
    rpsWith,
    rpsWithout,
    ratio: rpsWith / rpsWithout,
    p95With,
    p95Met: p95With < TARGET_P95_MS,
    ratioMet: rpsWith / rpsWithout >= TARGET_THROUGHPUT,
    allHeld: data.rounds.every((r) => r.open.failed === 0 && r.status.open === opts.connections && r.status.dropped === 0),
    perConnection: (r1.after.rss - r1.before.rss) / Math.max(1, r1.open.ok),
    perConnectionAgain: data.rounds.length > 1 ? median(data.rounds.slice(1).map((r) => (r.after.rss - r.before.rss) / Math.max(1, r.open.ok))) : undefined,
    heapPerConnection: r1.after.heap !== undefined && r1.before.heap !== undefined ? (r1.after.heap - r1.before.heap) / Math.max(1, r1.open.ok) : undefined,
    openMs: r1.open.ms,
  };
  if (opts.beyond) data.beyond = await beyond(opts, edge, clients, (i) => spawnClient(i, Math.max(opts.clients, i + 1)), info);

  const report = buildReport(info, data, opts);
  log(`\n${report}`);
  if (opts.write) log(`bench:connections: results written to ${path.relative(process.cwd(), writeDocs(report))}`);
  else log('bench:connections: docs/BENCHMARKS.md not changed (--quick or --no-write; --write to record)');
  await stopProcess(edge.cp);
  await stopProcess(origin.cp);
}

main()
  .then(() => children.cleanup())
  .then(() => process.exit(0))
  .catch(async (err) => {
    if (children.cleaningUp()) return;
    process.stderr.write(`bench:connections: ${err.stack || err.message}\n`);
    await children.cleanup();
    process.exit(1);
  });
