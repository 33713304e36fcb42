#!/usr/bin/env node
// `npm run bench`: the edge and Debian's nginx (proxy_cache) side by side, in front of the same
// origin, on 127.0.0.1 only. See docs/BENCHMARKS.md for what is measured and why: req/s and
// latency from wrk, and each server's CPU time per 1,000 requests (bench/proc.js).
//
// The edge is a black box: `cdn edge --config <customers.json>` from the compiled build (after
// `npm run build` when dist/ is older than src/), started by bench/edge.js on the node running
// the bench, as every other Node process here. Every process started here (origin, edge,
// nginx, wrk, the small client) runs in its own process group and is killed on exit, error,
// Ctrl-C or SIGTERM; everything written goes to one temporary folder, removed at the end.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const children = require('./children');
const { edgeEnv, pinned, startReportingPort } = require('./servers');
const { CLK_TCK, treeCpuMs } = require('./proc');
const { ensureBuild: ensureBuildShared, nodeNote } = require('./build');
const tlsBench = require('./tls');
const compressionBench = require('./compression');
const rulesBench = require('./rules');
const { startProcess, stopProcess, exited, runToEnd, which, sleep, freePort, httpGet } = children;

const ROOT = path.resolve(__dirname, '..');
const HOST_HEADER = 'bench.local';
const OBJECTS = 1000;
const KB = 1024;

const HELP = `Usage: npm run bench [-- options]

Measures the edge against nginx (proxy_cache), interleaved, one server core each:
cache hits on 1,000 random objects (1 KB and 100 KB) at 64 and 1,000 connections,
cold misses, and request collapsing; then the TLS rows (h2load: 1 KB hits over HTTP/1.1 and h2
over TLS, and new TLS handshakes per second, against nginx with TLS on the same core and the
same ECDSA P-256 certificate); then an extra row with CDN_EDGE_WORKERS=2.
The hit cases also measure the "Node floor" (bench/floor.js: a Map-backed caching proxy on
bare node:http, the least a Node cache can do) to show which part of the gap is the runtime's.
Every measured run also records each server's CPU time (all its processes, /proc/<pid>/stat)
per 1,000 requests: it compares servers even when wrk, not the server, is the limit.
Servers and clients run on the node that runs the bench (${process.execPath}).

Options:
  --quick             ~2 s runs and fewer cases (a smoke test, not a measurement)
  --duration <s>      seconds per wrk run (default 10; --quick 2)
  --runs <n>          runs per server and case, interleaved, at least 3 (default 3)
  --no-workers2       skip the CDN_EDGE_WORKERS=2 rows
  --no-floor          skip the Node floor (bench/floor.js) in the hit cases
  --no-build          use dist/ as it is (default: npm run build when src/ is newer)
  --write / --no-write
                      write the results into docs/BENCHMARKS.md (default: write on a full
                      run, not with --quick)
  --server-cpu <n>    core for the servers (default 0); --client-cpu <n> for wrk (default 1)
  --wrk-threads <n>   wrk threads (default 1: wrk has one core)
  --keep-tmp          keep the temporary folder (logs, configs, caches)
  --cold-only         only the collapsing and cold-miss measurements (never written)
  --cold-warmups <n>  unmeasured rounds of 1,000 cold misses per server and size before the
                      measured ones (default 3; --quick 1)
  --only tls          only the TLS rows (~10 min; --quick ~1.5 min); writes only their section
  --only plain        the plain hit, miss and collapsing rows (no TLS, no compression)
  --only compression  only the compression rows: compressed hits (text, 10 KB and 100 KB; gzip,
                      br, and identity for reference) against nginx serving the same bodies
                      pre-compressed (gzip_static, brotli_static with Debian's
                      libnginx-mod-http-brotli-static); ~6 min; writes only their section
  --only rules        only the delivery-rules rows: 1 KB hits of a customer with 50 rules
                      against one with none, on the same edge (path-only rules, and rules
                      three of which read headers); ~3 min; writes only their section
  --no-tls            skip the TLS rows
  --no-compression    skip the compression rows
  --handshake-concurrency <n>
                      handshakes in flight in the TLS handshake rows (default 16)
The TLS rows need h2load (Debian: apt-get install -y nghttp2-client; installed by the bench
when it runs as root).
Environment: CDN_* variables you set are passed to the edge (e.g. CDN_EDGE_MEMORY_BYTES);
the bench sets its own ports, folders, CDN_SECRET_KEY, CDN_EDGE_WORKERS and
CDN_ALLOW_PRIVATE_ORIGINS=true, and CDN_LOG_LEVEL=warn unless you set it.
`;

// ---------------------------------------------------------------------------------------------
// options

function parseOptions(argv) {
  const o = {
    quick: false,
    duration: undefined,
    runs: 3,
    workers2: true,
    floor: true,
    build: true,
    write: undefined,
    serverCpu: 0,
    clientCpu: 1,
    wrkThreads: 1,
    keepTmp: false,
    only: undefined,
    handshakeConcurrency: 16,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) fail(`${a} needs a number`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--duration') o.duration = num();
    else if (a === '--runs') o.runs = num();
    else if (a === '--no-workers2') o.workers2 = false;
    else if (a === '--no-floor') o.floor = false;
    else if (a === '--no-build') o.build = false;
    else if (a === '--write') o.write = true;
    else if (a === '--no-write') o.write = false;
    else if (a === '--server-cpu') o.serverCpu = num();
    else if (a === '--client-cpu') o.clientCpu = num();
    else if (a === '--wrk-threads') o.wrkThreads = Math.max(1, num());
    else if (a === '--keep-tmp') o.keepTmp = true;
    else if (a === '--cold-only') o.coldOnly = true;
    else if (a === '--cold-warmups') o.coldWarmups = Math.max(1, num());
    else if (a === '--only') {
      o.only = argv[++i];
      if (o.only !== 'tls' && o.only !== 'plain' && o.only !== 'compression' && o.only !== 'rules') fail('--only takes "tls", "plain", "compression" or "rules"');
    } else if (a === '--no-tls') o.noTls = true;
    else if (a === '--no-compression') o.noCompression = true;
    else if (a === '--handshake-concurrency') o.handshakeConcurrency = Math.max(1, num());
    else if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      process.exit(0);
    } else fail(`unknown option ${a}\n\n${HELP}`);
  }
  if (o.runs < 3) fail('--runs must be at least 3 (medians of at least 3 runs)');
  if (o.duration === undefined) o.duration = o.quick ? 2 : 10;
  if (o.write === undefined) o.write = !o.quick && !o.coldOnly;
  const all = [
    { size: KB, conns: 64 },
    { size: KB, conns: 1000 },
    { size: 100 * KB, conns: 64 },
    { size: 100 * KB, conns: 1000 },
  ];
  o.cases = o.quick ? [all[0], all[1], all[2]] : all;
  o.workers2Cases = !o.workers2 ? [] : o.quick ? [all[0]] : all;
  o.coldSizes = o.quick ? [KB] : [KB, 100 * KB];
  o.coldConcurrency = 32;
  // Unmeasured rounds of cold misses per server before the measured ones (see coldMisses).
  if (o.coldWarmups === undefined) o.coldWarmups = o.quick ? 1 : 3;
  o.burstCount = 1000;
  o.burstDelayMs = 500;
  o.plain = o.only === undefined || o.only === 'plain';
  o.tls = (o.only === undefined || o.only === 'tls') && !o.noTls && !o.coldOnly;
  o.compression = (o.only === undefined || o.only === 'compression') && !o.noCompression && !o.coldOnly;
  // The TLS rows (bench/tls.js): 1 KB hits through h2load, 64 requests in flight in each.
  const tlsAll = [
    { key: 'plain-h1', label: 'HTTP/1.1, no TLS (reference)', proto: 'h1', tls: false, conns: 64, streams: 1 },
    { key: 'h1', label: 'HTTP/1.1 over TLS', proto: 'h1', tls: true, conns: 64, streams: 1 },
    { key: 'h2', label: 'h2 over TLS, 64 conns × 1 stream', proto: 'h2', tls: true, conns: 64, streams: 1 },
    { key: 'h2m', label: 'h2 over TLS, 8 conns × 8 streams', proto: 'h2', tls: true, conns: 8, streams: 8 },
  ];
  o.tlsCases = !o.tls ? [] : o.quick ? tlsAll.filter((c) => c.key === 'h1' || c.key === 'h2') : tlsAll;
  o.tlsSize = KB;
  return o;
}

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

const log = (msg) => process.stdout.write(`${msg}\n`);

// ---------------------------------------------------------------------------------------------
// processes: bench/children.js starts each child in its own process group and kills them all on
// the way out (exit, error, Ctrl-C, SIGTERM), then removes the temporary folder

children.install({ name: 'bench' });
let tmpDir; // set in main(), removed at the end unless --keep-tmp

async function waitFor(what, check, cp, timeoutMs, logFile) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (cp !== undefined && exited(cp)) break;
    try {
      if (await check()) return;
    } catch (err) {
      last = err.message;
    }
    await sleep(100);
  }
  const tail = logFile !== undefined && fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-25).join('\n') : '';
  throw new Error(`${what} did not become ready${cp && exited(cp) ? ` (exited with ${cp.exitCode ?? cp.signalCode})` : ''}${last ? `: ${last}` : ''}${tail ? `\n--- ${logFile} ---\n${tail}` : ''}`);
}


/** Child processes of `pid` (for counting cluster workers). */
function childPids(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// tools and build

function findNginx() {
  return which('nginx') ?? (fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : null);
}

function ensureTools(opts) {
  const missing = [];
  if (findNginx() === null) missing.push('nginx-light');
  if (which('wrk') === null) missing.push('wrk');
  if (which('taskset') === null) missing.push('util-linux');
  if (opts.tls && which('h2load') === null) missing.push('nghttp2-client');
  if (missing.length === 0) return;
  const cmd = `apt-get install -y ${missing.join(' ')}`;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || which('apt-get') === null) {
    fail(`missing ${missing.join(', ')}. Install them (Debian) with:\n  sudo apt-get update && sudo ${cmd}`);
  }
  log(`bench: missing ${missing.join(', ')}; running as root, so installing: apt-get update && ${cmd}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const up = spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  const inst = spawnSync('apt-get', ['install', '-y', ...missing], { stdio: 'inherit', env });
  if (up.status !== 0 || inst.status !== 0 || findNginx() === null || which('wrk') === null || (opts.tls && which('h2load') === null)) {
    fail(`could not install ${missing.join(', ')}; install them by hand: apt-get update && ${cmd}`);
  }
  // Debian's package may start a system nginx on port 80: it does not matter to us (own port).
}

/** npm run build when src/ is newer than dist/ (bench/build.js). */
function ensureBuild(opts) {
  return ensureBuildShared(opts, { log, fail });
}

// ---------------------------------------------------------------------------------------------
// the servers

async function startOrigin(opts, clientCpu) {
  const [cmd, args] = pinned(clientCpu, process.execPath, [path.join(__dirname, 'origin.js'), '--port', '0']);
  const { cp, port } = await startReportingPort('origin', cmd, args);
  return {
    cp,
    port,
    count: async (p) => JSON.parse((await httpGet(port, p === undefined ? '/__count' : `/__count?path=${encodeURIComponent(p)}`)).body),
  };
}

/**
 * The Node floor (bench/floor.js) on the server core, in front of the same origin; with `tls`
 * (the certificate files and the edge's TLS settings) it also serves HTTPS as the edge does.
 */
async function startFloor(originPort, cpus, tls) {
  const tlsArgs = tls === undefined ? [] : ['--tls-port', '0', '--tls-cert', tls.files.chain, '--tls-key', tls.files.key, '--tls-settings', JSON.stringify(tls.settings.options)];
  const [cmd, args] = pinned(cpus, process.execPath, [path.join(__dirname, 'floor.js'), '--port', '0', '--origin-port', String(originPort), ...tlsArgs]);
  const { cp, port, tlsPort } = await startReportingPort('floor', cmd, args);
  return { name: 'floor', cp, port, tlsPort, processes: 1 };
}


async function startEdge(env, workers, cpus, dirs, tls) {
  const port = await freePort();
  const adminPort = await freePort();
  // Always a port of its own (the default, 8443, may be anyone's); HTTPS is served when the
  // customers file gives bench.local a certificate (the TLS rows).
  const tlsPort = await freePort();
  const logFile = path.join(tmpDir, `edge-w${workers}.log`);
  const out = fs.openSync(logFile, 'a');
  const environment = edgeEnv(env, { port, adminPort, tlsPort, dataDir: dirs.data, cacheDir: dirs.cache, workers });
  const [cmd, args] = pinned(cpus, process.execPath, [path.join(__dirname, 'edge.js'), 'edge', '--config', dirs.customers]);
  const cp = startProcess(cmd, args, { cwd: ROOT, env: environment, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  await waitFor(
    `the edge (CDN_EDGE_WORKERS=${workers})`,
    async () =>
      (await httpGet(adminPort, '/readyz')).status === 200 &&
      (await httpGet(port, '/__bench_probe', { host: HOST_HEADER })).status < 500 &&
      (tls === undefined || (await tlsProbe(tlsPort, tls.files.ca))),
    cp,
    60_000,
    logFile,
  );
  await sleep(300);
  const seen = childPids(cp.pid).length;
  return { name: 'edge', cp, port, adminPort, tlsPort: tls === undefined ? undefined : tlsPort, logFile, workers, processes: seen === 0 ? 1 : seen };
}

/** True once `port` completes a TLS handshake for bench.local with a chain `caFile` vouches for. */
function tlsProbe(port, caFile) {
  return new Promise((resolve, reject) => {
    const socket = require('node:tls').connect({ host: '127.0.0.1', port, servername: HOST_HEADER, ca: fs.readFileSync(caFile), timeout: 2000 });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => socket.destroy(new Error('TLS handshake timed out')));
    socket.once('error', reject);
  });
}

async function startNginx(nginxBin, originPort, cpus, tls) {
  const dir = path.join(tmpDir, 'nginx');
  fs.mkdirSync(dir, { recursive: true });
  // As root, nginx's worker runs as nobody: it must be able to reach its folders.
  fs.chmodSync(tmpDir, 0o755);
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const tlsPort = tls === undefined ? undefined : await freePort();
  const nginxVersion = (spawnSync(nginxBin, ['-v'], { encoding: 'utf8' }).stderr || '').trim();
  const conf = fs
    .readFileSync(path.join(__dirname, 'nginx.conf.template'), 'utf8')
    .replaceAll('{{TMP}}', dir)
    .replaceAll('{{PORT}}', String(port))
    .replaceAll('{{ORIGIN_PORT}}', String(originPort))
    .replaceAll('{{TLS}}', tls === undefined ? '' : tlsBench.nginxTlsDirectives(tlsPort, tls.files, tls.settings, nginxVersion));
  const confFile = path.join(dir, 'nginx.conf');
  fs.writeFileSync(confFile, conf);
  const errLog = path.join(dir, 'nginx-error.log');
  const base = ['-p', `${dir}/`, '-c', confFile, '-e', errLog];
  const test = await runToEnd(nginxBin, ['-t', '-q', ...base]);
  if (test.code !== 0) throw new Error(`nginx -t rejected ${confFile}:\n${test.stderr}`);
  const [cmd, args] = pinned(cpus, nginxBin, base);
  const cp = startProcess(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor('nginx', async () => (await httpGet(port, '/__bench_probe', { host: HOST_HEADER })).status > 0 && (tls === undefined || (await tlsProbe(tlsPort, tls.files.ca))), cp, 20_000, errLog);
  return { name: 'nginx', cp, port, tlsPort, logFile: errLog, processes: 1 };
}

// ---------------------------------------------------------------------------------------------
// load

function objectPath(i, size) {
  return `/obj/${i}?size=${size}`;
}

async function client(opts, mode, args) {
  const [cmd, argv] = pinned(opts.clientCpuOrNull, process.execPath, [path.join(__dirname, 'client.js'), mode, ...args]);
  const r = await runToEnd(cmd, argv);
  if (r.code !== 0) throw new Error(`client ${mode} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

async function fetchAll(opts, server, paths, concurrency, headers = [], host = HOST_HEADER) {
  const file = path.join(tmpDir, `paths-${crypto.randomBytes(4).toString('hex')}.txt`);
  fs.writeFileSync(file, paths.join('\n') + '\n');
  try {
    return await client(opts, 'fetch-all', ['--port', String(server.port), '--host', host, '--concurrency', String(concurrency), '--paths-file', file, ...headers.flatMap((h) => ['--header', h])]);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Fetches all 1,000 objects of `size` through `server`, then checks a second pass is all hits. */
async function warm(opts, server, size) {
  const paths = Array.from({ length: OBJECTS }, (_, i) => objectPath(i, size));
  await fetchAll(opts, server, paths, 32);
  const check = await fetchAll(opts, server, paths, 32);
  const hits = check.xcache.HIT ?? 0;
  const ok = check.statuses['200'] ?? 0;
  return { hits, ok, total: OBJECTS, detail: check };
}

/** `extra`: more request fields for wrk (`headers`: ['Accept-Encoding: br']), another Host (`host`) and variables for random-paths.lua (`env`). */
async function wrkRun(opts, server, size, conns, origin, extra = {}) {
  const before = (await origin.count()).total;
  const [cmd, args] = pinned(opts.clientCpuOrNull, 'wrk', [
    '-t', String(Math.min(opts.wrkThreads, conns)),
    '-c', String(conns),
    '-d', `${opts.duration}s`,
    '--timeout', '10s',
    '-s', path.join(__dirname, 'random-paths.lua'),
    '-H', `Host: ${extra.host ?? HOST_HEADER}`,
    ...(extra.headers ?? []).flatMap((h) => ['-H', h]),
    `http://127.0.0.1:${server.port}/`,
  ]);
  // The server's CPU time (all its processes) right before and right after wrk: per request,
  // it tells servers apart even when wrk, not the server, limits the req/s.
  const cpu = cpuMeter(server);
  const r = await runToEnd(cmd, args, { env: { ...process.env, BENCH_SIZE: String(size), BENCH_OBJECTS: String(OBJECTS), BENCH_SEED: String(Date.now() % 100000), ...extra.env } });
  const used = cpu.stop();
  const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (r.code !== 0 || line === undefined) throw new Error(`wrk failed (${r.code}): ${r.stderr || r.stdout}`);
  const j = JSON.parse(line.slice('BENCH_JSON '.length));
  const after = (await origin.count()).total;
  const errors = j.err_connect + j.err_read + j.err_write + j.err_timeout;
  return {
    requests: j.requests,
    cpuMs: used.cpuMs,
    cpu1k: j.requests > 0 ? (used.cpuMs / j.requests) * 1000 : NaN,
    busy: used.busy,
    rps: j.requests / (j.duration_us / 1e6),
    p50: j.p50_us / 1000,
    p99: j.p99_us / 1000,
    max: j.max_us / 1000,
    mbps: j.bytes / (j.duration_us / 1e6) / 1e6,
    bytesPerResponse: j.requests > 0 ? j.bytes / j.requests : NaN,
    errors,
    timeouts: j.err_timeout,
    non2xx: j.err_status,
    originRequests: after - before,
  };
}

/**
 * Starts measuring a server's CPU time: stop() gives the milliseconds used by the server's
 * processes (the edge's primary and workers, nginx's master and worker, the floor) since,
 * and `busy`, that time over the wall time (1 = one core fully used).
 */
function cpuMeter(server) {
  const t0 = performance.now();
  const c0 = treeCpuMs(server.cp.pid);
  return {
    stop() {
      const cpuMs = treeCpuMs(server.cp.pid) - c0;
      return { cpuMs, busy: cpuMs / (performance.now() - t0) };
    },
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function summarise(runs) {
  return {
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    originRequests: runs.reduce((a, r) => a + r.originRequests, 0),
    all: runs.map((r) => r.rps),
    cpu1k: median(runs.map((r) => r.cpu1k)),
    cpuAll: runs.map((r) => r.cpu1k),
    busy: median(runs.map((r) => r.busy)),
  };
}

const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const fmtSize = (s) => (s >= KB ? `${s / KB} KB` : `${s} B`);
const fmtK = (n) => `${(n / 1000).toFixed(1)}k`;
const fmtCpu = (n) => (Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)) : '?');
const fmtPct = (n) => `${Math.round(n * 100)} %`;
const fmtX = (a, b) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '?');

function describeRun(r) {
  const extra = [];
  if (r.errors) extra.push(`${r.errors} socket errors (${r.timeouts} timeouts)`);
  if (r.non2xx) extra.push(`${r.non2xx} non-2xx`);
  if (r.originRequests) extra.push(`${r.originRequests} origin requests`);
  return `${fmtInt(r.rps).padStart(7)} req/s  p50 ${fmtMs(r.p50).padStart(6)} ms  p99 ${fmtMs(r.p99).padStart(6)} ms  ${r.mbps.toFixed(0)} MB/s  CPU ${fmtCpu(r.cpu1k).padStart(5)} ms/1k req (busy ${fmtPct(r.busy)})${extra.length ? `  [${extra.join(', ')}]` : ''}`;
}

/** Interleaved: edge, nginx[, floor], edge, nginx[, floor], ... `runs` each. */
async function hitCase(opts, edge, nginx, origin, c, label, floor) {
  const results = { edge: [], nginx: [], floor: [] };
  for (let i = 0; i < opts.runs; i++) {
    for (const server of floor === undefined ? [edge, nginx] : [edge, nginx, floor]) {
      const r = await wrkRun(opts, server, c.size, c.conns, origin);
      results[server.name].push(r);
      log(`  ${label.padEnd(44)} run ${i + 1}/${opts.runs} ${server.name.padEnd(5)} ${describeRun(r)}`);
      await sleep(opts.quick ? 300 : 1000);
    }
  }
  return { ...c, label, edge: summarise(results.edge), nginx: summarise(results.nginx), floor: floor === undefined ? undefined : summarise(results.floor) };
}

/**
 * System CPU per new file on the filesystem of both caches (µs): 2,000 empty files made and closed
 * in a row, then removed. nginx makes a file for every response it caches, the edge for every
 * body over 256 KiB (smaller ones live in the index), and on some VMs this one cost moves several
 * fold between minutes (docs/BENCHMARKS.md "What the reference pays for a file"), taking
 * nginx's cold-miss time with it.
 */
function fileCreateUs() {
  const dir = fs.mkdtempSync(path.join(tmpDir, 'create-probe-'));
  const files = 2000;
  const before = process.cpuUsage();
  for (let i = 0; i < files; i++) fs.closeSync(fs.openSync(path.join(dir, `f${i}`), 'wx'));
  const used = process.cpuUsage(before);
  fs.rmSync(dir, { recursive: true, force: true });
  return used.system / files;
}

async function coldMisses(opts, edge, nginx, origin, size, stamp) {
  const results = { edge: [], nginx: [] };
  const createUs = [fileCreateUs()];
  // Unmeasured rounds first (--cold-warmups, default 3): the edge's miss path is JavaScript that
  // the JIT compiles in tiers over its first thousands of misses, and its heap and index grow to
  // their working size meanwhile; nginx's is compiled C. A long-running edge is measured, not
  // its first seconds (docs/BENCHMARKS.md "Small misses answered whole": one warm-up round left
  // the edge at ~1.6-2x the CPU per miss of its later rounds).
  for (let w = 0; w < opts.coldWarmups; w++) {
    const warmPaths = Array.from({ length: OBJECTS }, (_, i) => `/obj/cold-warmup-${stamp}-${size}-${w}-${i}?size=${size}`);
    for (const server of [edge, nginx]) {
      const cpu = cpuMeter(server);
      const r = await fetchAll(opts, server, warmPaths, opts.coldConcurrency);
      const cpu1k = (cpu.stop().cpuMs / warmPaths.length) * 1000;
      log(`  cold misses ${fmtSize(size).padEnd(7)} warm-up ${w + 1}/${opts.coldWarmups} (not counted) ${server.name.padEnd(5)} ${r.ms.toFixed(0).padStart(6)} ms  CPU ${fmtCpu(cpu1k).padStart(5)} ms/1k req`);
      await sleep(300);
    }
  }
  for (let round = 0; round < opts.runs; round++) {
    const paths = Array.from({ length: OBJECTS }, (_, i) => `/obj/cold-${stamp}-${size}-${round}-${i}?size=${size}`);
    for (const server of [edge, nginx]) {
      const before = (await origin.count()).total;
      const cpu = cpuMeter(server);
      const r = await fetchAll(opts, server, paths, opts.coldConcurrency);
      const used = cpu.stop();
      const originRequests = (await origin.count()).total - before;
      const ok = r.statuses['200'] ?? 0;
      // 1,000 requests a round: the round's CPU time is the CPU per 1,000 requests.
      const cpu1k = (used.cpuMs / paths.length) * 1000;
      results[server.name].push({ ms: r.ms, originRequests, ok, errors: r.errors, cpu1k });
      log(`  cold misses ${fmtSize(size).padEnd(7)} round ${round + 1}/${opts.runs} ${server.name.padEnd(5)} ${r.ms.toFixed(0).padStart(6)} ms  CPU ${fmtCpu(cpu1k).padStart(5)} ms/1k req  ${ok}/${OBJECTS} ok  ${originRequests} origin requests${r.errors ? `  ${r.errors} errors ${JSON.stringify(r.errorSample)}` : ''}`);
      await sleep(300);
    }
  }
  createUs.push(fileCreateUs());
  log(`  cold misses ${fmtSize(size).padEnd(7)} file creation on the caches' filesystem: ${createUs.map((us) => us.toFixed(0)).join(' µs before, ')} µs after the rounds (system CPU per new file)`);
  const s = (xs) => ({ ms: median(xs.map((x) => x.ms)), cpu1k: median(xs.map((x) => x.cpu1k)), originRequests: xs.map((x) => x.originRequests), ok: Math.min(...xs.map((x) => x.ok)), errors: xs.reduce((a, x) => a + x.errors, 0) });
  return { size, edge: s(results.edge), nginx: s(results.nginx), createUs };
}

async function collapse(opts, server, origin, stamp) {
  const p = `/obj/collapse-${stamp}-${server.name}?size=${KB}&delay=${opts.burstDelayMs}`;
  const cpu = cpuMeter(server);
  const r = await client(opts, 'burst', ['--port', String(server.port), '--host', HOST_HEADER, '--count', String(opts.burstCount), '--path', p]);
  const { cpuMs } = cpu.stop();
  const c = await origin.count(p);
  log(`  ${opts.burstCount} concurrent requests for one missing key  ${server.name.padEnd(5)} origin requests: ${c.count}  statuses ${JSON.stringify(r.statuses)}  x-cache ${JSON.stringify(r.xcache)}  ${r.ms.toFixed(0)} ms  CPU ${cpuMs.toFixed(0)} ms${r.errors ? `  ${r.errors} errors ${JSON.stringify(r.errorSample)}` : ''}`);
  return { server: server.name, originRequests: c.count, statuses: r.statuses, xcache: r.xcache, ms: r.ms, cpuMs, errors: r.errors };
}

// ---------------------------------------------------------------------------------------------
// TLS rows (bench/tls.js)

/** Runs a command like runToEnd, killing its process group if it is still running after `ms`. */
async function runBounded(cmd, args, opts, ms) {
  let timer;
  const watchdog = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const run = runToEnd(cmd, args, opts);
  const first = await Promise.race([run, watchdog]);
  clearTimeout(timer);
  if (first !== 'timeout') return first;
  // The bench stops here; its cleanup stops this child with every other (bench/children.js).
  throw new Error(`${cmd} ${args.join(' ')} still running after ${Math.round(ms / 1000)} s`);
}

/** Fetches the 1,000 objects of `size` over HTTPS (HTTP/1.1) through `server`, then checks a second pass is all hits. */
async function warmTls(opts, server, size, caFile) {
  const file = path.join(tmpDir, `paths-tls-${crypto.randomBytes(4).toString('hex')}.txt`);
  fs.writeFileSync(file, Array.from({ length: OBJECTS }, (_, i) => objectPath(i, size)).join('\n') + '\n');
  try {
    const pass = () => client(opts, 'fetch-all', ['--tls', '--ca', caFile, '--port', String(server.tlsPort), '--host', HOST_HEADER, '--concurrency', '32', '--paths-file', file]);
    await pass();
    const check = await pass();
    return { hits: check.xcache.HIT ?? 0, ok: check.statuses['200'] ?? 0, total: OBJECTS, errors: check.errors, errorSample: check.errorSample };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** The 1,000 object URLs for h2load, shuffled once (the same order for every server and run). */
function h2loadUrlsFile(scheme, size) {
  const file = path.join(tmpDir, `h2load-${scheme}-${size}.txt`);
  if (!fs.existsSync(file)) {
    const idx = Array.from({ length: OBJECTS }, (_, i) => i);
    let seed = 12345;
    for (let i = idx.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const j = seed % (i + 1);
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    // The port in these URLs is only part of the authority h2load sends; --connect-to picks the server.
    fs.writeFileSync(file, idx.map((i) => `${scheme}://${HOST_HEADER}${objectPath(i, size)}`).join('\n') + '\n');
  }
  return file;
}

/** One h2load run of case `c` against `server`: req/s, latency (from its per-request log), CPU. */
async function h2loadRun(opts, server, c, origin) {
  const port = c.tls ? server.tlsPort : server.port;
  const logFile = path.join(tmpDir, `h2load-${server.name}-${c.key}.log`);
  fs.rmSync(logFile, { force: true });
  const before = (await origin.count()).total;
  const [cmd, args] = pinned(opts.clientCpuOrNull, 'h2load', [
    ...(c.proto === 'h1' ? ['--h1'] : []),
    '-t', '1',
    '-c', String(c.conns),
    '-m', String(c.streams),
    '-D', String(opts.duration),
    '--connect-to', `127.0.0.1:${port}`,
    '--log-file', logFile,
    '-i', h2loadUrlsFile(c.tls ? 'https' : 'http', opts.tlsSize),
  ]);
  const cpu = cpuMeter(server);
  const r = await runBounded(cmd, args, {}, (opts.duration + 60) * 1000);
  const used = cpu.stop();
  const h = tlsBench.parseH2load(r.stdout);
  if (r.code !== 0 || !Number.isFinite(h.rps)) throw new Error(`h2load failed (${r.code}): ${r.stderr || r.stdout}`);
  const lat = tlsBench.logPercentiles(logFile);
  fs.rmSync(logFile, { force: true });
  const after = (await origin.count()).total;
  return {
    requests: h.done,
    cpuMs: used.cpuMs,
    cpu1k: h.done > 0 ? (used.cpuMs / h.done) * 1000 : NaN,
    busy: used.busy,
    rps: h.rps,
    p50: lat.p50,
    p99: lat.p99,
    errors: (h.errored || 0) + (h.timeout || 0),
    non2xx: Number.isFinite(h.sOther) ? h.sOther : 0,
    failed: h.failed || 0,
    originRequests: after - before,
    negotiated: [h.tls, h.alpn].filter(Boolean).join(', '),
  };
}

/** One run of bench/handshakes.js against `server`'s TLS port: full handshakes per second, CPU per 1,000. */
async function handshakeRun(opts, server, caFile) {
  const [cmd, args] = pinned(opts.clientCpuOrNull, process.execPath, [
    path.join(__dirname, 'handshakes.js'),
    '--port', String(server.tlsPort),
    '--servername', HOST_HEADER,
    '--ca', caFile,
    '--concurrency', String(opts.handshakeConcurrency),
    '--duration', String(opts.duration),
  ]);
  const cpu = cpuMeter(server);
  const r = await runBounded(cmd, args, {}, (opts.duration + 60) * 1000);
  const used = cpu.stop();
  const line = r.stdout.trim().split('\n').pop();
  if (r.code !== 0 || !line) throw new Error(`handshakes.js failed (${r.code}): ${r.stderr || r.stdout}`);
  const j = JSON.parse(line);
  return {
    requests: j.handshakes,
    cpuMs: used.cpuMs,
    cpu1k: j.handshakes > 0 ? (used.cpuMs / j.handshakes) * 1000 : NaN,
    busy: used.busy,
    rps: j.rate,
    p50: j.p50_ms,
    p99: j.p99_ms,
    errors: j.failed,
    non2xx: 0,
    failed: j.failed,
    resumed: j.resumed,
    closeErrors: j.closeErrors,
    originRequests: 0,
    negotiated: [Object.keys(j.protocols).join('/'), Object.keys(j.ciphers).join('/'), `ALPN ${Object.keys(j.alpn).join('/')}`].join(', '),
    errorSample: j.errorSample,
  };
}

function describeTlsRun(r, unit) {
  const extra = [];
  if (r.errors) extra.push(`${r.errors} errors`);
  if (r.failed && r.failed !== r.errors) extra.push(`${r.failed} failed`);
  if (r.non2xx) extra.push(`${r.non2xx} non-2xx`);
  if (r.originRequests) extra.push(`${r.originRequests} origin requests`);
  if (r.resumed) extra.push(`${r.resumed} RESUMED`);
  if (r.errorSample && r.errorSample.length) extra.push(JSON.stringify(r.errorSample));
  return `${fmtInt(r.rps).padStart(7)} ${unit}/s  p50 ${fmtMs(r.p50).padStart(6)} ms  p99 ${fmtMs(r.p99).padStart(6)} ms  CPU ${fmtCpu(r.cpu1k).padStart(5)} ms/1k (busy ${fmtPct(r.busy)})${extra.length ? `  [${extra.join(', ')}]` : ''}`;
}

/** Interleaved edge, nginx[, floor] runs of one TLS case (`c`, or the handshakes when c.key === 'handshakes'). */
async function tlsCase(opts, servers, c, origin, caFile) {
  const results = {};
  const negotiated = {};
  for (const s of servers) results[s.name] = [];
  for (let i = 0; i < opts.runs; i++) {
    for (const server of servers) {
      const r = c.key === 'handshakes' ? await handshakeRun(opts, server, caFile) : await h2loadRun(opts, server, c, origin);
      results[server.name].push(r);
      negotiated[server.name] = r.negotiated;
      log(`  ${c.label.padEnd(40)} run ${i + 1}/${opts.runs} ${server.name.padEnd(5)} ${describeTlsRun(r, c.key === 'handshakes' ? 'hs' : 'req')}`);
      await sleep(opts.quick ? 300 : 1000);
    }
  }
  const out = { ...c, negotiated };
  for (const s of servers) {
    const xs = results[s.name];
    out[s.name] = { ...summarise(xs), failed: xs.reduce((a, r) => a + (r.failed || 0), 0), resumed: xs.reduce((a, r) => a + (r.resumed || 0), 0), requests: xs.reduce((a, r) => a + r.requests, 0) };
  }
  return out;
}

async function tlsRows(opts, servers, origin, caFile) {
  const out = { cases: [], warm: [] };
  log(`\n== TLS (${opts.duration} s per run; h2load and bench/handshakes.js on core ${opts.clientCpu}; ${servers.map((s) => s.name).join(', ')} interleaved)`);
  for (const s of servers) {
    const w = await warm(opts, s, opts.tlsSize);
    const wt = await warmTls(opts, s, opts.tlsSize, caFile);
    log(`  warm ${fmtSize(opts.tlsSize)} ${s.name}: second pass ${w.hits}/${w.total} hits over HTTP, ${wt.hits}/${wt.total} over HTTPS${wt.errors ? ` (${wt.errors} errors: ${JSON.stringify(wt.errorSample)})` : ''}`);
    if (w.hits < w.total || wt.hits < wt.total) out.warm.push(`${s.name} warm-up: ${w.hits}/${w.total} hits over HTTP, ${wt.hits}/${wt.total} over HTTPS on the check pass`);
  }
  // One unmeasured h2load run per server and protocol first: in earlier runs the first measured
  // round was slower for all three servers at once (nginx too, so not only the JIT), whatever
  // the row; a run right after the warm-up fetches is not what a busy server looks like.
  const warmSeconds = opts.quick ? 1 : 3;
  for (const c of opts.tlsCases.filter((x) => x.key === 'h1' || x.key === 'h2')) {
    for (const server of servers) {
      const r = await h2loadRun({ ...opts, duration: warmSeconds }, server, c, origin);
      log(`  warm-up (not counted) ${c.label.padEnd(26)} ${server.name.padEnd(5)} ${fmtInt(r.rps).padStart(7)} req/s`);
    }
  }
  for (const c of opts.tlsCases) {
    const r = await tlsCase(opts, servers, c, origin, caFile);
    out.cases.push(r);
    log(`  => ${c.label}: ${servers.map((s) => `${s.name} ${fmtInt(r[s.name].rps)} req/s, CPU ${fmtCpu(r[s.name].cpu1k)} ms/1k`).join('; ')}`);
  }
  const hs = { key: 'handshakes', label: `new TLS handshakes, ${opts.handshakeConcurrency} in flight` };
  const r = await tlsCase(opts, servers, hs, origin, caFile);
  out.handshakes = r;
  log(`  => ${hs.label}: ${servers.map((s) => `${s.name} ${fmtInt(r[s.name].rps)}/s, CPU ${fmtCpu(r[s.name].cpu1k)} ms/1k`).join('; ')}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// compression rows (bench/compression.js)

/** nginx serving the compression rows' pre-compressed files (gzip_static, brotli_static when installed). */
async function startNginxStatic(nginxBin, cpus, root, brotli) {
  const dir = path.join(tmpDir, 'nginx-static');
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(tmpDir, 0o755);
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const confFile = path.join(dir, 'nginx.conf');
  fs.writeFileSync(confFile, compressionBench.nginxStaticConf({ dir, port, root, brotli }));
  const errLog = path.join(dir, 'nginx-error.log');
  const base = ['-p', `${dir}/`, '-c', confFile, '-e', errLog];
  const test = await runToEnd(nginxBin, ['-t', '-q', ...base]);
  if (test.code !== 0) throw new Error(`nginx -t rejected ${confFile}:\n${test.stderr}`);
  const [cmd, args] = pinned(cpus, nginxBin, base);
  const cp = startProcess(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor('nginx (static)', async () => (await httpGet(port, '/__bench_probe', { host: HOST_HEADER })).status > 0, cp, 20_000, errLog);
  return { name: 'nginx', cp, port, logFile: errLog, processes: 1 };
}

/** The edge's counters of encoded copies made (cdn_edge_compressions_total), by encoding. */
async function edgeCompressions(edge) {
  const text = (await httpGet(edge.adminPort, '/metrics')).body;
  const out = {};
  for (const m of text.matchAll(/^cdn_edge_compressions_total\{encoding="(\w+)"\} (\d+)/gm)) out[m[1]] = Number(m[2]);
  return out;
}

/**
 * The delivery-rules rows: 1 KB hits (64 connections) of the customer without rules, of the one
 * with 50 path-only rules and of the one with 50 rules three of which read headers, interleaved
 * on one edge; req/s and CPU per 1,000 hits, and each rules customer as a ratio of the one without.
 */
async function rulesSection(opts, info, edge, origin) {
  const hosts = [
    { host: HOST_HEADER, label: 'no rules' },
    { host: rulesBench.RULES_HOST, label: '50 rules, path only' },
    { host: rulesBench.RULES_HEADERS_HOST, label: '50 rules, 3 read headers' },
  ];
  const size = KB;
  const conns = opts.quick ? 16 : 64;
  log(`\n== delivery rules: ${fmtSize(size)} hits, ${conns} conns (${opts.duration} s per run, interleaved)`);
  const paths = Array.from({ length: OBJECTS }, (_, i) => objectPath(i, size));
  for (const h of hosts) {
    await fetchAll(opts, edge, paths, 32, [], h.host);
    const check = await fetchAll(opts, edge, paths, 32, [], h.host);
    log(`  warm ${h.label}: second pass ${check.xcache.HIT ?? 0}/${OBJECTS} hits`);
  }
  // An unmeasured round first: the JIT compiles each customer's path (and its rules) before it counts.
  for (const h of hosts) {
    const r = await wrkRun({ ...opts, duration: Math.min(opts.duration, 3) }, edge, size, conns, origin, { host: h.host });
    log(`  ${h.label.padEnd(28)} warm-up (not counted) ${describeRun(r)}`);
  }
  const results = new Map(hosts.map((h) => [h.host, []]));
  for (let i = 0; i < opts.runs; i++) {
    for (const h of hosts) {
      const r = await wrkRun(opts, edge, size, conns, origin, { host: h.host });
      results.get(h.host).push(r);
      log(`  ${h.label.padEnd(28)} run ${i + 1}/${opts.runs} ${describeRun(r)}`);
      await sleep(opts.quick ? 300 : 1000);
    }
  }
  const rows = hosts.map((h) => ({ ...h, s: summarise(results.get(h.host)) }));
  const base = rows[0].s;
  const L = [];
  L.push(`Run ${info.date} on ${info.cpu} (${info.node}); ${opts.runs} runs of ${opts.duration} s per customer, interleaved; edge alone on core ${opts.serverCpu}, wrk on core ${opts.clientCpu}.`);
  L.push('');
  L.push('| customer | req/s (median) | vs no rules | CPU ms per 1,000 hits | vs no rules | p99 ms | errors |');
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    L.push(`| ${r.label} | ${fmtInt(r.s.rps)} | ${(r.s.rps / base.rps).toFixed(2)}× | ${fmtCpu(r.s.cpu1k)} | ${fmtX(r.s.cpu1k, base.cpu1k)} | ${fmtMs(r.s.p99)} | ${r.s.errors + r.s.non2xx} |`);
  }
  L.push('');
  L.push(`Target (issue 14): a customer with 50 rules keeps at least 0.9× the hit throughput of one with none. The rules: bench/rules.js (tracking parameters out of the key, three security headers on every answer, TTLs by type and section, redirects, address and Referer rules, a signed area, private paths; every answer here passes through \`tracking\`, \`security-headers\` and \`objects\`). Command: \`npm run bench -- --only rules\`.`);
  return L.join('\n');
}

async function compressionSection(opts, info, nginxBin, edge, origin) {
  const brotli = compressionBench.brotliModule();
  const cases = compressionBench.compressionCases(opts, brotli);
  const root = path.join(tmpDir, 'static');
  const sizes = {};
  for (const size of [...new Set(cases.map((c) => c.size))]) sizes[size] = compressionBench.writeStaticFiles(root, size, OBJECTS);
  fs.chmodSync(root, 0o755);
  fs.chmodSync(path.join(root, 'obj'), 0o755);
  const nginx = await startNginxStatic(nginxBin, opts.serverCpuOrNull, root, brotli);
  log(`\n== compression (${opts.duration} s per run; text objects; nginx on 127.0.0.1:${nginx.port} serving pre-compressed files: gzip_static${brotli === undefined ? ', no brotli_static (apt-get install libnginx-mod-http-brotli-static)' : ', brotli_static'})`);
  const field = (coding) => (coding === 'identity' ? [] : [`Accept-Encoding: ${coding === 'br' ? 'gzip, deflate, br' : 'gzip'}`]);
  const query = '&type=text';
  const rows = [];
  try {
    const warmed = new Set();
    for (const c of cases) {
      const paths = Array.from({ length: OBJECTS }, (_, i) => `${compressionBench.prefixFor(c.size)}${i}?size=${c.size}${query}`);
      const servers = c.nginxHas ? [edge, nginx] : [edge];
      const warmNotes = [];
      for (const s of servers) {
        const key = `${s.name}-${c.size}-${c.coding}`;
        if (warmed.has(key)) continue;
        warmed.add(key);
        // Twice, then a check pass: the first makes the edge's copies (a miss, then the copy in the background).
        await fetchAll(opts, s, paths, 32, field(c.coding));
        await fetchAll(opts, s, paths, 32, field(c.coding));
        const check = await fetchAll(opts, s, paths, 32, field(c.coding));
        log(`  warm ${fmtSize(c.size)} ${c.coding} ${s.name}: ${check.xcache.HIT ?? 0}/${OBJECTS} hits, codings ${JSON.stringify(check.encodings)}`);
        if ((check.xcache.HIT ?? 0) < OBJECTS || (check.encodings[c.coding] ?? 0) < OBJECTS) warmNotes.push(`${s.name} warm-up: ${check.xcache.HIT ?? 0}/${OBJECTS} hits, ${JSON.stringify(check.encodings)}`);
      }
      const results = { edge: [], nginx: [] };
      const extra = { headers: field(c.coding), env: { BENCH_PREFIX: compressionBench.prefixFor(c.size), BENCH_QUERY: query } };
      const label = `${fmtSize(c.size)} text, ${c.coding === 'identity' ? 'identity' : c.coding}, ${c.conns} conns`;
      for (let i = 0; i < opts.runs; i++) {
        for (const s of servers) {
          const r = await wrkRun(opts, s, c.size, c.conns, origin, extra);
          results[s.name].push(r);
          log(`  ${label.padEnd(34)} run ${i + 1}/${opts.runs} ${s.name.padEnd(5)} ${describeRun(r)}  ${r.bytesPerResponse.toFixed(0)} B/response`);
          await sleep(opts.quick ? 300 : 1000);
        }
      }
      const summary = (xs) => (xs.length === 0 ? undefined : { ...summarise(xs), bytesPerResponse: median(xs.map((x) => x.bytesPerResponse)) });
      rows.push({ ...c, label, body: sizes[c.size], edge: summary(results.edge), nginx: summary(results.nginx), warm: warmNotes });
    }
  } finally {
    await stopProcess(nginx.cp);
  }
  const made = await edgeCompressions(edge);
  return buildCompressionReport(info, opts, rows, { brotli, made, nginxVersion: info.nginx });
}

function buildCompressionReport(info, opts, rows, extra) {
  const L = [];
  L.push(`Run ${info.date} — \`${info.command}\`: ${info.mode}.`);
  L.push('');
  L.push(`- machine: ${info.nproc} CPUs, ${info.cpu}, ${info.kernel}; load average at start ${info.load}`);
  L.push(`- node ${info.node} (${info.nodePath}), ${info.nginx}, ${info.wrk}; edge: commit ${info.commit}; ${info.build}; CDN_EDGE_WORKERS=1${info.cdnEnv.length ? `; environment ${info.cdnEnv.join(' ')}` : ''}`);
  L.push(`- servers on core ${opts.serverCpu}, wrk and the origin on core ${opts.clientCpu}; medians of ${opts.runs} interleaved runs per server; 1,000 text objects (text/javascript) per size, random paths, 64 connections`);
  L.push(`- nginx: static files pre-compressed by the bench (gzip level ${compressionBench.GZIP_LEVEL}, brotli quality ${compressionBench.BROTLI_QUALITY}: the edge's defaults, so both send the same encoded bytes), \`gzip_static on\`${extra.brotli === undefined ? ' (no brotli_static: the br rows have the edge alone)' : ', `brotli_static on` (libnginx-mod-http-brotli-static)'}, \`gzip_vary on\`, sendfile, open_file_cache; the edge: its memory tier, the copies it made (one per object and coding: \`cdn_edge_compressions_total\` after the run: ${Object.entries(extra.made).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'})`);
  L.push(`- Accept-Encoding sent: \`gzip\` (gzip rows), \`gzip, deflate, br\` (br rows), none (identity rows)`);
  L.push('');
  L.push('| case | edge req/s | nginx req/s | edge/nginx | CPU ms per 1,000 req: edge \\| nginx | CPU edge/nginx | bytes per response on the wire (headers + body): edge \\| nginx | body: identity → gzip → br (one object) | p50 / p99 (ms): edge \\| nginx | runs req/s: edge \\| nginx | notes |');
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |');
  for (const r of rows) {
    const e = r.edge;
    const n = r.nginx;
    const notes = [];
    for (const [name, x] of [['edge', e], ['nginx', n]]) {
      if (x === undefined) continue;
      if (x.errors) notes.push(`${name}: ${x.errors} socket errors/timeouts`);
      if (x.non2xx) notes.push(`${name}: ${x.non2xx} non-2xx`);
      if (x.originRequests) notes.push(`${name}: ${x.originRequests} origin requests`);
    }
    notes.push(`server busy edge ${fmtPct(e.busy)}${n === undefined ? '' : `, nginx ${fmtPct(n.busy)}`}`);
    if (n === undefined) notes.push('nginx has no brotli here');
    notes.push(...r.warm);
    const cells = [
      r.label,
      fmtInt(e.rps),
      n === undefined ? '—' : fmtInt(n.rps),
      n === undefined ? '—' : `**${(e.rps / n.rps).toFixed(2)}×**`,
      `${fmtCpu(e.cpu1k)} \\| ${n === undefined ? '—' : fmtCpu(n.cpu1k)}`,
      n === undefined ? '—' : `**${fmtX(e.cpu1k, n.cpu1k)}**`,
      `${fmtInt(e.bytesPerResponse)} \\| ${n === undefined ? '—' : fmtInt(n.bytesPerResponse)}`,
      `${fmtInt(r.body.identity)} → ${fmtInt(r.body.gzip)} → ${fmtInt(r.body.br)}`,
      `${fmtMs(e.p50)} / ${fmtMs(e.p99)} \\| ${n === undefined ? '—' : `${fmtMs(n.p50)} / ${fmtMs(n.p99)}`}`,
      `${e.all.map(fmtK).join(' ')} \\| ${n === undefined ? '—' : n.all.map(fmtK).join(' ')}`,
      notes.join('; '),
    ];
    L.push(`| ${cells.join(' | ')} |`);
  }
  L.push('');
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------
// report

function machineInfo(nginxBin, buildNote, opts) {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = (cpuinfo.match(/^model name\s*:\s*(.+)$/m) ?? [])[1] ?? 'unknown';
  const nginxV = spawnSync(nginxBin, ['-v'], { encoding: 'utf8' });
  const nginxVV = spawnSync(nginxBin, ['-V'], { encoding: 'utf8' }).stderr || '';
  const nginxSsl = nginxVV.match(/running with (OpenSSL [^\s)]+)/) ?? nginxVV.match(/built with (OpenSSL [^\s)]+)/);
  const npmArgs = process.env.npm_lifecycle_event === 'bench';
  const argv = process.argv.slice(2).join(' ');
  const wrkV = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src'], { cwd: ROOT, encoding: 'utf8' });
  const nproc = spawnSync('nproc', [], { encoding: 'utf8' });
  const cdnEnv = Object.keys(process.env)
    .filter((k) => k.startsWith('CDN_') && !['CDN_SECRET_KEY', 'CDN_ADMIN_TOKEN'].includes(k))
    .map((k) => `${k}=${process.env[k]}`);
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: (nproc.stdout || String(os.availableParallelism())).trim(),
    cpu: model.trim(),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    nodePath: process.execPath,
    nginx: (nginxV.stderr || nginxV.stdout).trim().replace(/^nginx version:\s*/, ''),
    nginxOpenssl: nginxSsl ? `${nginxSsl[1]} at run time` : 'OpenSSL version unknown',
    command: npmArgs ? `npm run bench${argv ? ` -- ${argv}` : ''}` : `node bench/run.js${argv ? ` ${argv}` : ''}`,
    wrk: (wrkV.stdout || wrkV.stderr).split('\n')[0].replace(/\s*Copyright.*$/, '').trim(),
    commit: `${(git.stdout || '?').trim()}${dirty.stdout && dirty.stdout.trim() ? ' + uncommitted changes in src/' : ''}`,
    build: buildNote,
    load: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    mode: opts.quick ? `--quick (${opts.duration} s runs, ${opts.runs} each: a smoke test, not a measurement)` : `${opts.duration} s runs, ${opts.runs} each`,
    cdnEnv,
  };
}

/** The edge's CPU per hit over the Node floor's (issue 17). */
const CPU_TARGET_VS_FLOOR = 1.15;

function targetFor(c) {
  return c.size === KB ? 0.7 : 1.2;
}

function buildReport(info, data, opts) {
  const L = [];
  L.push(`Run ${info.date} — ${info.mode}.`);
  L.push('');
  L.push(`- machine: ${info.nproc} CPUs, ${info.cpu}, ${info.kernel}; load average at start ${info.load}`);
  L.push(`- node ${info.node} (${info.nodePath}: the bench and every Node server it starts), ${info.nginx}, ${info.wrk}`);
  L.push(`- edge: commit ${info.commit}; ${info.build}${info.cdnEnv.length ? `; environment ${info.cdnEnv.join(' ')}` : ''}`);
  L.push(`- servers on core ${opts.serverCpu} (\`taskset\`), wrk (${opts.wrkThreads} thread) and the origin on core ${opts.clientCpu}; medians of ${opts.runs} interleaved runs per server`);
  L.push(`- CPU: utime + stime of all the server's processes (/proc/<pid>/stat, ${CLK_TCK} ticks/s) from right before to right after each run, per 1,000 requests wrk counted`);
  L.push('');
  L.push('**Cache hits**, random paths over 1,000 objects (all cached before measuring):');
  L.push('');
  L.push('| case | edge req/s | nginx req/s | edge/nginx | target | Node floor req/s ² | floor/nginx | edge/floor | CPU ms per 1,000 req: edge \\| nginx \\| floor ³ | CPU edge/nginx | CPU edge/floor | CPU target | CPU floor/nginx | edge p50 / p99 (ms) | nginx p50 / p99 (ms) | floor p50 / p99 (ms) | runs req/s: edge \\| nginx \\| floor | runs CPU ms/1k: edge \\| nginx \\| floor | notes |');
  L.push('| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- | --- |');
  const row = (c, workersLabel) => {
    const ratio = c.edge.rps / c.nginx.rps;
    const t = targetFor(c);
    const notes = [];
    for (const s of ['edge', 'nginx', 'floor']) {
      const x = c[s];
      if (x === undefined) continue;
      if (x.errors) notes.push(`${s}: ${x.errors} socket errors/timeouts`);
      if (x.non2xx) notes.push(`${s}: ${x.non2xx} non-2xx`);
      if (x.originRequests) notes.push(`${s}: ${x.originRequests} origin requests (misses)`);
    }
    if (c.conns >= 1000) notes.push(`edge p99 ${c.edge.p99 < 100 ? 'under' : 'NOT under'} 100 ms`);
    // Below ~90 % the server waited for the client: its req/s is wrk's, its CPU per request still its own.
    notes.push(`server busy ${['edge', 'nginx', 'floor'].filter((s) => c[s] !== undefined).map((s) => `${s} ${fmtPct(c[s].busy)}`).join(', ')}`);
    if (c.warm) notes.push(...c.warm);
    const f = c.floor;
    const floorCells = f === undefined ? '— | — | —' : `${fmtInt(f.rps)} | ${(f.rps / c.nginx.rps).toFixed(2)}× | ${(c.edge.rps / f.rps).toFixed(2)}×`;
    const cpuEdgeFloor = f === undefined ? NaN : c.edge.cpu1k / f.cpu1k;
    const cpuCells = [
      `${fmtCpu(c.edge.cpu1k)} \\| ${fmtCpu(c.nginx.cpu1k)} \\| ${f === undefined ? '—' : fmtCpu(f.cpu1k)}`,
      `**${fmtX(c.edge.cpu1k, c.nginx.cpu1k)}**`,
      f === undefined ? '—' : `**${fmtX(c.edge.cpu1k, f.cpu1k)}**`,
      f === undefined ? '—' : `≤ ${CPU_TARGET_VS_FLOOR}× floor ${cpuEdgeFloor <= CPU_TARGET_VS_FLOOR ? 'met' : 'not met'}`,
      f === undefined ? '—' : fmtX(f.cpu1k, c.nginx.cpu1k),
    ].join(' | ');
    const floorLat = f === undefined ? '—' : `${fmtMs(f.p50)} / ${fmtMs(f.p99)}`;
    const floorRuns = f === undefined ? '' : ` \\| ${f.all.map(fmtK).join(' ')}`;
    const floorCpuRuns = f === undefined ? '' : ` \\| ${f.cpuAll.map(fmtCpu).join(' ')}`;
    return `| ${fmtSize(c.size)}, ${fmtInt(c.conns)} conns${workersLabel} | ${fmtInt(c.edge.rps)} | ${fmtInt(c.nginx.rps)} | **${ratio.toFixed(2)}×** | ≥ ${t}× ${ratio >= t ? 'met' : 'not met'} | ${floorCells} | ${cpuCells} | ${fmtMs(c.edge.p50)} / ${fmtMs(c.edge.p99)} | ${fmtMs(c.nginx.p50)} / ${fmtMs(c.nginx.p99)} | ${floorLat} | ${c.edge.all.map(fmtK).join(' ')} \\| ${c.nginx.all.map(fmtK).join(' ')}${floorRuns} | ${c.edge.cpuAll.map(fmtCpu).join(' ')} \\| ${c.nginx.cpuAll.map(fmtCpu).join(' ')}${floorCpuRuns} | ${notes.join('; ')} |`;
  };
  for (const c of data.hits) L.push(row(c, ''));
  for (const c of data.hits2) L.push(row(c, ', **edge CDN_EDGE_WORKERS=2** ¹'));
  if (data.hits2.length) {
    L.push('');
    L.push(`¹ Extra rows, not comparable with the targets: the edge runs ${data.hits2[0].edgeProcesses} worker process(es) on both cores (${opts.serverCpu},${opts.clientCpu}), so it competes with wrk and the origin for the client core; nginx still has 1 worker on core ${opts.serverCpu}.`);
  }
  if (data.hits.some((c) => c.floor !== undefined)) {
    L.push('');
    L.push(`² The Node floor (bench/floor.js): a Map from URL to the origin's answer on bare node:http, same core, same client — no freshness, customers, limits or disk. It is the most a cache whose hit path runs in Node can reach here: floor/nginx bounds edge/nginx (within run-to-run noise), and edge/floor is the share of that the edge keeps. When floor/nginx is near or above 1, the client (wrk, one core) is the limit, not the servers.`);
  }
  L.push('');
  L.push(`³ CPU time of all the server's processes per 1,000 requests (median of the runs; lower is better). Unlike req/s it does not depend on whether wrk keeps up: a server that waits for the client ("server busy" well below 100 % in the notes) spends no CPU waiting. CPU edge/floor is the edge's cost per hit over the least a Node cache can spend (target ≤ ${CPU_TARGET_VS_FLOOR}×); CPU floor/nginx is the runtime's share of the gap.`);
  L.push('');
  if (data.cold.length) {
    L.push(`**Cold misses**: 1,000 distinct objects, each fetched once, ${opts.coldConcurrency} at a time (median total time; after ${opts.coldWarmups} unmeasured round${opts.coldWarmups === 1 ? '' : 's'} of 1,000 per server):`);
    L.push('');
    L.push('| objects | edge | nginx | edge/nginx (time) | target | CPU ms per 1,000 req: edge \\| nginx | CPU edge/nginx | origin requests per round: edge \\| nginx | µs per new file: before \\| after ⁴ |');
    L.push('| --- | ---: | ---: | ---: | --- | ---: | ---: | --- | --- |');
    for (const c of data.cold) {
      const ratio = c.edge.ms / c.nginx.ms;
      const bad = [c.edge, c.nginx].some((x) => x.ok < OBJECTS || x.errors) ? ' (some requests failed: see the console)' : '';
      L.push(`| 1,000 × ${fmtSize(c.size)} | ${c.edge.ms.toFixed(0)} ms | ${c.nginx.ms.toFixed(0)} ms | **${ratio.toFixed(2)}×** | ≤ 1.5× ${ratio <= 1.5 ? 'met' : 'not met'}${bad} | ${fmtCpu(c.edge.cpu1k)} \\| ${fmtCpu(c.nginx.cpu1k)} | ${fmtX(c.edge.cpu1k, c.nginx.cpu1k)} | ${c.edge.originRequests.join(' ')} \\| ${c.nginx.originRequests.join(' ')} | ${c.createUs.map((us) => us.toFixed(0)).join(' \\| ')} |`);
    }
    L.push('');
    L.push(`⁴ System CPU per new file on the caches' filesystem, measured by the bench right before and right after each size's rounds (2,000 empty files made in a row; system time is counted in ticks, so single figures are ±5 µs). nginx makes one file per cached response, the edge one per body over 256 KiB; where this cost moves, nginx's time moves with it (docs/BENCHMARKS.md "What the reference pays for a file").`);
    L.push('');
  }
  if (data.collapse.length) {
    L.push(`**Request collapsing**: ${opts.burstCount} concurrent connections ask for one missing key (the origin answers after ${opts.burstDelayMs} ms):`);
    L.push('');
    L.push('| server | origin requests | expected | statuses | X-Cache | time | server CPU |');
    L.push('| --- | ---: | --- | --- | --- | ---: | ---: |');
    for (const c of data.collapse) {
      L.push(`| ${c.server} | **${c.originRequests}** | 1 | ${Object.entries(c.statuses).map(([k, v]) => `${v}× ${k}`).join(', ')}${c.errors ? `, ${c.errors} errors` : ''} | ${Object.entries(c.xcache).map(([k, v]) => `${v}× ${k}`).join(', ')} | ${c.ms.toFixed(0)} ms | ${c.cpuMs.toFixed(0)} ms |`);
    }
    L.push('');
  }
  return L.join('\n');
}

function buildTlsReport(info, t, opts, servers) {
  const names = servers.map((s) => s.name);
  const hasFloor = names.includes('floor');
  const L = [];
  L.push(`Run ${info.date} — \`${info.command}\`: ${info.mode}.`);
  L.push('');
  L.push(`- machine: ${info.nproc} CPUs, ${info.cpu}, ${info.kernel}; load average at start ${info.load}`);
  L.push(`- node ${info.node} with OpenSSL ${process.versions.openssl} (${info.nodePath}: the edge, the floor and bench/handshakes.js), ${info.nginx} (${info.nginxOpenssl}), ${t.h2load} (system OpenSSL ${t.systemOpenssl})`);
  L.push(`- edge: commit ${info.commit}; ${info.build}; CDN_EDGE_WORKERS=1${info.cdnEnv.length ? `; environment ${info.cdnEnv.join(' ')}` : ''}`);
  L.push(`- servers on core ${opts.serverCpu}, the clients (h2load -t1, bench/handshakes.js) and the origin on core ${opts.clientCpu}; medians of ${opts.runs} interleaved runs per server`);
  L.push(`- certificate: ECDSA P-256 leaf for bench.local + its CA (the chain sent: 2 certificates), the same files for all; TLS ${t.settings.minVersion}–${t.settings.maxVersion}, TLS 1.3 suites ${t.settings.tls13.join(', ')}, TLS 1.2 ciphers ${t.settings.tls12.join(', ')}, groups ${t.settings.groups}, server order (the edge's settings, given to nginx and the floor); session tickets on, no server-side session cache`);
  for (const c of t.cases.filter((x) => x.tls)) {
    const seen = [...new Set(names.map((n) => c.negotiated[n] ?? '?'))];
    L.push(`- negotiated in "${c.label}" (h2load): ${seen.length === 1 ? `${seen[0]} (all)` : names.map((n) => `${n}: ${c.negotiated[n] ?? '?'}`).join('; ')}`);
  }
  L.push(`- CPU: utime + stime of all the server's processes (/proc/<pid>/stat, ${CLK_TCK} ticks/s) from right before to right after each run, per 1,000 requests (or handshakes) the client counted`);
  L.push('');
  L.push(`**1 KB hits over TLS**, h2load (nghttp2) over 1,000 cached objects, ${opts.duration} s runs:`);
  L.push('');
  L.push(`| case | edge req/s | nginx req/s | edge/nginx | ${hasFloor ? 'Node floor req/s | floor/nginx | edge/floor | ' : ''}CPU ms per 1,000 req: edge \\| nginx${hasFloor ? ' \\| floor' : ''} | CPU edge/nginx | ${hasFloor ? 'CPU edge/floor | CPU floor/nginx | ' : ''}p50 / p99 (ms): edge \\| nginx${hasFloor ? ' \\| floor' : ''} | runs req/s: edge \\| nginx${hasFloor ? ' \\| floor' : ''} | runs CPU ms/1k: edge \\| nginx${hasFloor ? ' \\| floor' : ''} | notes |`);
  L.push(`| --- | ---: | ---: | ---: | ${hasFloor ? '---: | ---: | ---: | ' : ''}---: | ---: | ${hasFloor ? '---: | ---: | ' : ''}---: | --- | --- | --- |`);
  const row = (c) => {
    const e = c.edge;
    const n = c.nginx;
    const f = c.floor;
    const notes = [];
    for (const name of names) {
      const x = c[name];
      if (x.failed) notes.push(`${name}: ${x.failed} failed`);
      if (x.errors && x.errors !== x.failed) notes.push(`${name}: ${x.errors} errors`);
      if (x.non2xx) notes.push(`${name}: ${x.non2xx} non-2xx`);
      if (x.originRequests) notes.push(`${name}: ${x.originRequests} origin requests (misses)`);
      if (x.resumed) notes.push(`${name}: ${x.resumed} resumed (expected 0)`);
    }
    notes.push(`server busy ${names.map((name) => `${name} ${fmtPct(c[name].busy)}`).join(', ')}`);
    const cells = [
      `${c.label}`,
      fmtInt(e.rps),
      fmtInt(n.rps),
      `**${(e.rps / n.rps).toFixed(2)}×**`,
      ...(hasFloor ? [fmtInt(f.rps), `${(f.rps / n.rps).toFixed(2)}×`, `${(e.rps / f.rps).toFixed(2)}×`] : []),
      names.map((name) => fmtCpu(c[name].cpu1k)).join(' \\| '),
      `**${fmtX(e.cpu1k, n.cpu1k)}**`,
      ...(hasFloor ? [`**${fmtX(e.cpu1k, f.cpu1k)}**`, fmtX(f.cpu1k, n.cpu1k)] : []),
      names.map((name) => `${fmtMs(c[name].p50)} / ${fmtMs(c[name].p99)}`).join(' \\| '),
      names.map((name) => c[name].all.map(fmtK).join(' ')).join(' \\| '),
      names.map((name) => c[name].cpuAll.map(fmtCpu).join(' ')).join(' \\| '),
      notes.join('; '),
    ];
    return `| ${cells.join(' | ')} |`;
  };
  for (const c of t.cases) L.push(row(c));
  L.push('');
  if (t.handshakes !== undefined) {
    const h = t.handshakes;
    L.push(`**New TLS handshakes** (bench/handshakes.js: ${opts.handshakeConcurrency} connections in flight, each opened, a full handshake — no session offered — then closed with close_notify; ALPN http/1.1; ${opts.duration} s runs):`);
    L.push('');
    L.push(`| case | edge handshakes/s | nginx handshakes/s | edge/nginx | ${hasFloor ? 'Node floor handshakes/s | floor/nginx | edge/floor | ' : ''}CPU ms per 1,000 handshakes: edge \\| nginx${hasFloor ? ' \\| floor' : ''} | CPU edge/nginx | ${hasFloor ? 'CPU edge/floor | CPU floor/nginx | ' : ''}handshake p50 / p99 (ms, client side): edge \\| nginx${hasFloor ? ' \\| floor' : ''} | runs handshakes/s: edge \\| nginx${hasFloor ? ' \\| floor' : ''} | runs CPU ms/1k: edge \\| nginx${hasFloor ? ' \\| floor' : ''} | notes |`);
    L.push(`| --- | ---: | ---: | ---: | ${hasFloor ? '---: | ---: | ---: | ' : ''}---: | ---: | ${hasFloor ? '---: | ---: | ' : ''}---: | --- | --- | --- |`);
    L.push(row(h));
    L.push('');
    const seen = [...new Set(names.map((n) => h.negotiated[n] ?? '?'))];
    L.push(`Negotiated (bench/handshakes.js): ${seen.length === 1 ? `${seen[0]} (all)` : names.map((n) => `${n}: ${h.negotiated[n] ?? '?'}`).join('; ')}.`);
    L.push('');
  }
  if (t.warm.length) {
    L.push(`Warm-up: ${t.warm.join('; ')}.`);
    L.push('');
  }
  return L.join('\n');
}

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';
const TLS_START = '<!-- bench:tls:start -->';
const TLS_END = '<!-- bench:tls:end -->';
const RULES_START = '<!-- bench:rules:start -->';
const RULES_END = '<!-- bench:rules:end -->';
const COMPRESSION_START = '<!-- bench:compression:start -->';
const COMPRESSION_END = '<!-- bench:compression:end -->';

/** Replaces what is between `start` and `end` in docs/BENCHMARKS.md (adding `heading` and the markers at the end when missing). */
function writeDocs(report, start = START, end = END, heading = '## Latest results') {
  const file = path.join(ROOT, 'docs', 'BENCHMARKS.md');
  let doc = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : `# Benchmarks\n`;
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  if (a < 0 || b < a) doc = `${doc.trimEnd()}\n\n${heading}\n\n${start}\n${end}\n`;
  const s = doc.indexOf(start);
  const e = doc.indexOf(end);
  doc = `${doc.slice(0, s + start.length)}\n${report}\n${doc.slice(e)}`;
  fs.writeFileSync(file, doc);
  return file;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  ensureTools(opts);
  const nginxBin = findNginx();
  const ncpu = os.availableParallelism();
  if (ncpu < 2) {
    log(`bench: only ${ncpu} CPU: servers and wrk share it; numbers mean little`);
    opts.serverCpuOrNull = null;
    opts.clientCpuOrNull = null;
  } else {
    if (opts.serverCpu >= ncpu || opts.clientCpu >= ncpu) fail(`--server-cpu/--client-cpu must be below ${ncpu}`);
    opts.serverCpuOrNull = opts.serverCpu;
    opts.clientCpuOrNull = opts.clientCpu;
  }
  const bothCpus = opts.serverCpuOrNull === null ? null : `${opts.serverCpu},${opts.clientCpu}`;
  const buildNote = await ensureBuild(opts);

  tmpDir = children.useTmpDir(fs.mkdtempSync(path.join(os.tmpdir(), 'edgeplane-bench-')), opts.keepTmp);
  log(`bench: temporary folder ${tmpDir}`);
  const info = machineInfo(nginxBin, buildNote, opts);
  log(`bench: ${info.nproc} CPUs (${info.cpu}), node ${info.node} (${info.nodePath}, also for the edge, the floor, the origin and the client), ${info.nginx}, ${info.wrk}, load ${info.load}`);
  if (Number(info.load.split(' ')[0]) > 0.5) log('bench: WARNING: the machine is not idle (load average above 0.5): numbers will be noisy');
  if (nodeNote() !== undefined) log(`bench: note: ${nodeNote()}`);

  let tls;
  if (opts.tls) {
    const settings = tlsBench.edgeTlsSettings();
    const certs = await tlsBench.makeCertificates(tmpDir, HOST_HEADER);
    const sysSsl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
    tls = { settings, ...certs, h2load: tlsBench.h2loadVersion(which), systemOpenssl: (sysSsl.stdout || '?').trim().split(' ').slice(1, 2).join('') };
    log(`bench: TLS rows: ECDSA P-256 certificate for ${HOST_HEADER}; ${tls.h2load}; edge TLS settings ${settings.minVersion}-${settings.maxVersion}, groups ${settings.groups}`);
  }

  const origin = await startOrigin(opts, opts.clientCpuOrNull);
  const dirs = {
    data: path.join(tmpDir, 'edge-data'),
    cache: path.join(tmpDir, 'edge-cache'),
    customers: path.join(tmpDir, 'customers.json'),
  };
  fs.mkdirSync(dirs.data, { recursive: true });
  // With the TLS rows, bench.local has a certificate: httpsRedirect false keeps plain HTTP
  // answering (null, the default, would redirect it to HTTPS once the certificate is valid).
  const customerTls = tls === undefined ? {} : { tls: { certificates: [{ certPem: tls.chainPem, keyPem: tls.keyPem }], httpsRedirect: false } };
  // `bench` has no delivery rules; the rules rows compare it with customers that have 50 (bench/rules.js).
  const customers = [{ id: 'bench', name: 'Bench', originUrl: `http://127.0.0.1:${origin.port}`, domains: [HOST_HEADER], cacheTtl: 3600, ...customerTls }, ...rulesBench.rulesCustomers(`http://127.0.0.1:${origin.port}`)];
  fs.writeFileSync(dirs.customers, JSON.stringify(customers, null, 2));
  const baseEnv = { ...process.env, CDN_LOG_LEVEL: process.env.CDN_LOG_LEVEL ?? 'warn', CDN_SECRET_KEY: process.env.CDN_SECRET_KEY ?? crypto.randomBytes(32).toString('hex') };
  delete baseEnv.REDIS_URL;

  log(`bench: origin on 127.0.0.1:${origin.port}; starting nginx and the edge (CDN_EDGE_WORKERS=1) on core ${opts.serverCpu}`);
  // The compression rows compare with an nginx of their own (static files), started with them.
  const edgeOnly = opts.only === 'compression' || opts.only === 'rules';
  const nginx = edgeOnly ? { port: 0, tlsPort: undefined } : await startNginx(nginxBin, origin.port, opts.serverCpuOrNull, tls);
  const floor = opts.floor && !edgeOnly ? await startFloor(origin.port, opts.serverCpuOrNull, tls) : undefined;
  let edge = await startEdge(baseEnv, 1, opts.serverCpuOrNull, dirs, tls);
  const tlsNote = (s) => (s.tlsPort === undefined ? '' : ` (HTTPS ${s.tlsPort})`);
  log(`bench: ${edgeOnly ? '' : `nginx on 127.0.0.1:${nginx.port}${tlsNote(nginx)}, `}edge on 127.0.0.1:${edge.port}${tlsNote(edge)} (${edge.processes} process)${floor ? `, floor on 127.0.0.1:${floor.port}${tlsNote(floor)}` : ''}`);

  const data = { hits: [], hits2: [], cold: [], collapse: [] };
  const stamp = Date.now().toString(36);

  if (opts.only === 'rules') {
    const report = await rulesSection(opts, info, edge, origin);
    log(`\n${report}`);
    if (opts.write) log(`bench: delivery-rules results written to ${path.relative(process.cwd(), writeDocs(report, RULES_START, RULES_END, '## Delivery rules'))}`);
    else log('bench: docs/BENCHMARKS.md not changed (--quick or --no-write; --write to record)');
    return;
  }

  if (opts.only === 'compression') {
    const report = await compressionSection(opts, info, nginxBin, edge, origin);
    log(`\n${report}`);
    if (opts.write) log(`bench: compression results written to ${path.relative(process.cwd(), writeDocs(report, COMPRESSION_START, COMPRESSION_END, '## Compression'))}`);
    else log('bench: docs/BENCHMARKS.md not changed (--quick or --no-write; --write to record)');
    return;
  }

  if (!opts.plain) {
    const servers = floor === undefined ? [edge, nginx] : [edge, nginx, floor];
    const t = await tlsRows(opts, servers, origin, tls.files.ca);
    const report = buildTlsReport(info, { ...t, settings: tls.settings, h2load: tls.h2load, systemOpenssl: tls.systemOpenssl }, opts, servers);
    log(`\n${report}`);
    if (opts.write) log(`bench: TLS results written to ${path.relative(process.cwd(), writeDocs(report, TLS_START, TLS_END, '## TLS'))}`);
    else log('bench: docs/BENCHMARKS.md not changed (--quick or --no-write; --write to record)');
    return;
  }

  // Collapsing first, while both caches are empty and quiet.
  log('\n== request collapsing');
  data.collapse.push(await collapse(opts, edge, origin, stamp));
  data.collapse.push(await collapse(opts, nginx, origin, stamp));

  log('\n== cold misses');
  for (const size of opts.coldSizes) data.cold.push(await coldMisses(opts, edge, nginx, origin, size, stamp));
  if (opts.coldOnly) {
    opts.cases = [];
    opts.workers2Cases = [];
  }

  const warmed = new Set();
  const warmBoth = async (servers, size, tag) => {
    const notes = [];
    for (const s of servers) {
      const w = await warm(opts, s, size);
      log(`  warm ${fmtSize(size)} ${s.name}${tag}: second pass ${w.hits}/${w.total} hits, ${w.ok} × 200`);
      if (w.hits < w.total) notes.push(`${s.name} warm-up: ${w.hits}/${w.total} hits on the check pass`);
    }
    return notes;
  };

  log(`\n== cache hits (${opts.duration} s per run, edge and nginx interleaved)`);
  for (const c of opts.cases) {
    let warmNotes = [];
    if (!warmed.has(c.size)) {
      warmNotes = await warmBoth(floor === undefined ? [edge, nginx] : [edge, nginx, floor], c.size, '');
      warmed.add(c.size);
    }
    const label = `${fmtSize(c.size)} hits, ${c.conns} conns`;
    const r = await hitCase(opts, edge, nginx, origin, c, label, floor);
    r.warm = warmNotes;
    data.hits.push(r);
    const floorNote = r.floor === undefined ? '' : `; Node floor ${fmtInt(r.floor.rps)} req/s (floor/nginx ${(r.floor.rps / r.nginx.rps).toFixed(2)}×, edge/floor ${(r.edge.rps / r.floor.rps).toFixed(2)}×, p99 ${fmtMs(r.floor.p99)} ms)`;
    const cpuNote = `; CPU ms per 1,000 requests: edge ${fmtCpu(r.edge.cpu1k)}, nginx ${fmtCpu(r.nginx.cpu1k)}${r.floor === undefined ? '' : `, floor ${fmtCpu(r.floor.cpu1k)}`} (edge/nginx ${fmtX(r.edge.cpu1k, r.nginx.cpu1k)}${r.floor === undefined ? '' : `, edge/floor ${fmtX(r.edge.cpu1k, r.floor.cpu1k)}, floor/nginx ${fmtX(r.floor.cpu1k, r.nginx.cpu1k)}`})`;
    log(`  => ${label}: edge ${fmtInt(r.edge.rps)} req/s, nginx ${fmtInt(r.nginx.rps)} req/s, edge/nginx ${(r.edge.rps / r.nginx.rps).toFixed(2)}×; edge p99 ${fmtMs(r.edge.p99)} ms, nginx p99 ${fmtMs(r.nginx.p99)} ms${floorNote}${cpuNote}`);
  }

  let tlsReport;
  if (opts.tls) {
    const servers = floor === undefined ? [edge, nginx] : [edge, nginx, floor];
    const t = await tlsRows(opts, servers, origin, tls.files.ca);
    tlsReport = buildTlsReport(info, { ...t, settings: tls.settings, h2load: tls.h2load, systemOpenssl: tls.systemOpenssl }, opts, servers);
  }

  let compressionReport;
  if (opts.compression) compressionReport = await compressionSection(opts, info, nginxBin, edge, origin);

  if (opts.workers2Cases.length) {
    log(`\n== extra: the edge with CDN_EDGE_WORKERS=2 on cores ${bothCpus ?? 'any'} (competes with wrk for the client core)`);
    await stopProcess(edge.cp);
    edge = await startEdge(baseEnv, 2, bothCpus, dirs, tls);
    log(`  edge restarted with CDN_EDGE_WORKERS=2: ${edge.processes} worker process(es) seen${edge.processes < 2 ? ' (this build does not run cluster workers yet)' : ''}`);
    const warmed2 = new Set();
    for (const c of opts.workers2Cases) {
      let warmNotes = [];
      if (!warmed2.has(c.size)) {
        warmNotes = await warmBoth([edge], c.size, ' (workers=2)');
        warmed2.add(c.size);
      }
      const label = `${fmtSize(c.size)} hits, ${c.conns} conns, edge workers=2`;
      const r = await hitCase(opts, edge, nginx, origin, c, label);
      r.warm = warmNotes;
      r.edgeProcesses = edge.processes;
      data.hits2.push(r);
      log(`  => ${label}: edge ${fmtInt(r.edge.rps)} req/s, nginx ${fmtInt(r.nginx.rps)} req/s, edge/nginx ${(r.edge.rps / r.nginx.rps).toFixed(2)}×; CPU ms per 1,000 requests: edge ${fmtCpu(r.edge.cpu1k)}, nginx ${fmtCpu(r.nginx.cpu1k)} (${fmtX(r.edge.cpu1k, r.nginx.cpu1k)})`);
    }
  }

  const report = buildReport(info, data, opts);
  log(`\n${report}`);
  if (tlsReport !== undefined) log(`\n${tlsReport}`);
  if (compressionReport !== undefined) log(`\n${compressionReport}`);
  if (opts.write && compressionReport !== undefined) log(`bench: compression results written to ${path.relative(process.cwd(), writeDocs(compressionReport, COMPRESSION_START, COMPRESSION_END, '## Compression'))}`);
  if (opts.write) log(`bench: results written to ${path.relative(process.cwd(), writeDocs(report))}`);
  if (opts.write && tlsReport !== undefined) log(`bench: TLS results written to ${path.relative(process.cwd(), writeDocs(tlsReport, TLS_START, TLS_END, '## TLS'))}`);
  else log('bench: docs/BENCHMARKS.md not changed (--quick or --no-write; --write to record)');
}

main()
  .then(() => children.cleanup())
  .then(() => process.exit(0))
  .catch(async (err) => {
    if (children.cleaningUp()) return; // interrupted: the signal handler is stopping everything and exits
    process.stderr.write(`bench: ${err.stack || err.message}\n`);
    await children.cleanup();
    process.exit(1);
  });
