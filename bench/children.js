// Child processes and loopback helpers shared by the bench scripts (bench/run.js, bench/loadtest.js).
// Every process started here runs in its own process group (detached), so stopping it stops what
// it started too (cluster workers, nginx's worker). All of them are stopped on the way out: on
// cleanup(), on exit, on an error and on SIGINT/SIGTERM/SIGHUP; the temporary folder set with
// useTmpDir() is removed at the end unless it is to be kept.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');

const children = new Set();
const cleanupHooks = [];
let scriptName = 'bench';
let tmpDir;
let keepTmp = false;
let cleaning; // the promise of the cleanup under way, once one has started

/**
 * Installs the exit and signal handlers; `name` prefixes the signal message ("bench:").
 * `onCleanup` (optional, async) runs during cleanup() once the children are stopped, e.g. to
 * close servers the script runs in its own process.
 * @param {{ name?: string, onCleanup?: () => Promise<void> }} options
 */
function install({ name, onCleanup } = {}) {
  if (name !== undefined) scriptName = name;
  if (onCleanup !== undefined) cleanupHooks.push(onCleanup);
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      process.stderr.write(`\n${scriptName}: ${sig}, stopping everything it started...\n`);
      // Already cleaning up (a second Ctrl-C): exit now; the exit handler SIGKILLs the rest.
      if (cleaningUp()) process.exit(130);
      cleanup().finally(() => process.exit(130));
    });
  }
}

/** The temporary folder to remove at the end (kept when `keep`). */
function useTmpDir(dir, keep) {
  tmpDir = dir;
  keepTmp = keep;
  return dir;
}

function startProcess(cmd, args, opts = {}) {
  const cp = spawn(cmd, args, { detached: true, ...opts });
  children.add(cp);
  cp.on('exit', () => children.delete(cp));
  return cp;
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function exited(cp) {
  return cp.exitCode !== null || cp.signalCode !== null;
}

/** SIGTERM to the child's whole process group, SIGKILL after `graceMs`. */
async function stopProcess(cp, graceMs = 5000) {
  if (!exited(cp)) {
    killGroup(cp.pid, 'SIGTERM');
    await new Promise((resolve) => {
      const t = setTimeout(resolve, graceMs);
      cp.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      if (exited(cp)) resolve();
    });
  }
  // The leader may be gone while its group (cluster workers, nginx worker) is not.
  killGroup(cp.pid, 'SIGKILL');
  children.delete(cp);
}

function killAllSync() {
  for (const cp of children) killGroup(cp.pid, 'SIGKILL');
  children.clear();
  if (tmpDir !== undefined && !keepTmp) {
    try {
      fs.rmSync(tmpDir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}

/** Stops every child (3 s grace), runs the onCleanup hooks, removes the temporary folder. Once. */
function cleanup() {
  cleaning ??= (async () => {
    await Promise.all([...children].map((cp) => stopProcess(cp, 3000)));
    for (const hook of cleanupHooks) await hook();
    killAllSync();
    if (keepTmp && tmpDir !== undefined) process.stdout.write(`temporary folder kept: ${tmpDir}\n`);
  })();
  return cleaning;
}

/** True once cleanup() has started (e.g. a signal is stopping everything). */
function cleaningUp() {
  return cleaning !== undefined;
}

/** Runs a command to completion; resolves {code, stdout, stderr}. Tracked while it runs. */
function runToEnd(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const cp = startProcess(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    cp.stdout.on('data', (d) => (stdout += d));
    cp.stderr.on('data', (d) => (stderr += d));
    cp.on('error', reject);
    cp.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/** The path of `cmd` on PATH, or null. */
function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

// ---------------------------------------------------------------------------------------------
// loopback helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function httpGet(port, pathName, headers = {}, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathName, headers, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

module.exports = {
  install,
  useTmpDir,
  startProcess,
  stopProcess,
  exited,
  cleanup,
  cleaningUp,
  runToEnd,
  which,
  sleep,
  freePort,
  httpGet,
};
