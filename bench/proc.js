// What the bench scripts read from /proc about the processes they started (Linux only):
// the process tree under a pid, its CPU time (utime + stime, in clock ticks), its resident
// memory, its open descriptors and its RLIMIT_NOFILE. Shared by bench/run.js and
// bench/connections.js.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');

/** Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we know of). */
const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number((r.stdout || '').trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 3 (state) is the first after ") "; index 0 here is field 3.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** `pid` and every live descendant of it (children of children too), found by each process's ppid. */
function processTree(pid) {
  const children = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = Number(statFields(d)[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  const out = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    out.push(p);
    for (const c of children.get(p) ?? []) todo.push(c);
  }
  return out;
}

/**
 * CPU time of `pid` and all its descendants, in milliseconds: utime + stime (fields 14, 15)
 * plus cutime + cstime (16, 17) of each. A descendant that exits between two samples moves its
 * time into its parent's cutime/cstime when reaped, so the difference of two samples still
 * counts it (a live process's time is never in its parent's c-fields, so nothing counts twice).
 * Fields are per process (all threads together).
 */
function treeCpuMs(pid) {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const f = statFields(p);
      // Field n of stat is index n - 3 here.
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // gone meanwhile: its time is in its parent's c-fields once reaped
    }
  }
  return (ticks * 1000) / CLK_TCK;
}

/**
 * Minor page faults of `pid` and all its descendants (minflt + cminflt, fields 10 and 11): each
 * first touch of a fresh page, e.g. a new V8 heap page or a page of a growing LMDB map. On some
 * virtual machines a fault costs several microseconds, so they are a cost of their own.
 */
function treeMinorFaults(pid) {
  let n = 0;
  for (const p of processTree(pid)) {
    try {
      const f = statFields(p);
      n += Number(f[7]) + Number(f[8]);
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

/**
 * CPU time of the threads of `pid` and its descendants by kind, in milliseconds: `main` (each
 * process's own thread: JavaScript, the event loop and its system calls), and the others by
 * their name (`V8Worker`: garbage collection and compilation helpers; `libuv-worker`: the thread
 * pool: file system calls, and LMDB's commits and syncs, which lmdb runs there). { user, sys }.
 */
function threadCpuMs(pid) {
  const out = {};
  for (const p of processTree(pid)) {
    let tids = [];
    try {
      tids = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const stat = fs.readFileSync(`/proc/${p}/task/${tid}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const kind = Number(tid) === p ? 'main' : comm.replace(/[\s\d]+$/, '') || 'other';
        const t = (out[kind] ??= { user: 0, sys: 0 });
        t.user += (Number(f[11]) * 1000) / CLK_TCK;
        t.sys += (Number(f[12]) * 1000) / CLK_TCK;
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

/** Resident memory (VmRSS) of `pid` and all its descendants, in bytes. */
function treeRssBytes(pid) {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = fs.readFileSync(`/proc/${p}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
      if (m) kb += Number(m[1]);
    } catch {
      // gone meanwhile
    }
  }
  return kb * 1024;
}

/** Open file descriptors of `pid` and all its descendants. */
function treeOpenFds(pid) {
  let n = 0;
  for (const p of processTree(pid)) {
    try {
      n += fs.readdirSync(`/proc/${p}/fd`).length;
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return n;
}

/** RLIMIT_NOFILE of a process ("self" or a pid): { soft, hard } (Infinity for "unlimited"). */
function nofileLimit(pid = 'self') {
  const text = fs.readFileSync(`/proc/${pid}/limits`, 'utf8');
  const m = text.match(/^Max open files\s+(\S+)\s+(\S+)/m);
  const num = (s) => (s === 'unlimited' ? Infinity : Number(s));
  return m ? { soft: num(m[1]), hard: num(m[2]) } : { soft: NaN, hard: NaN };
}

/** A number from a /proc/sys file, or undefined. */
function sysctl(name) {
  try {
    return fs.readFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

module.exports = { CLK_TCK, processTree, treeCpuMs, treeMinorFaults, threadCpuMs, treeRssBytes, treeOpenFds, nofileLimit, sysctl };
