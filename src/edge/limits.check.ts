/**
 * Whether this host lets an edge process hold CDN_EDGE_MAX_CONNECTIONS client connections,
 * checked once at start: a limit found only when the connections arrive shows as clients
 * refused at the worst moment (a traffic peak), with nothing in the log saying why.
 *
 * - RLIMIT_NOFILE: every connection is a descriptor. Node raises its soft limit to the hard
 *   one at start, so what /proc/self/limits says now is what this process will get. Past it,
 *   libuv accepts and closes new connections at once (its EMFILE "trick"): clients see a
 *   reset, the edge logs nothing.
 * - net.core.somaxconn caps the listen backlog the public server asks for: a burst of new
 *   connections that finds the accept queue full loses its handshake's last ACK and waits for
 *   TCP retransmission (seconds).
 * - Memory: the cap of every worker together, at what an idle connection costs, must fit in
 *   the host's (or the container's) memory, or the edge is killed before it reaches the cap.
 *
 * Each problem is one warning line naming the limit, its value and what to set
 * (docs/OPERATIONS.md, "Many connections"). Outside Linux nothing is readable: no warning.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Logger } from '../obs/logger.factory';

/** Descriptors an edge process needs beside its client connections: Node's own, the cache index and files, origin connections. */
export const NOFILE_MARGIN = 4_096;
/** The public server's listen backlog (server.ts); somaxconn below it shortens the accept queue. */
export const LISTEN_BACKLOG = 4_096;
/**
 * Memory an idle keep-alive client connection costs, rounded up: about 12 KiB of edge RSS (JS
 * socket, HTTP parser, timers, and the heap's growth to hold them) plus the kernel's socket,
 * file and epoll entry (`npm run bench:connections`, docs/BENCHMARKS.md).
 */
export const IDLE_CONNECTION_BYTES = 16 * 1024;

export interface HostLimits {
  /** RLIMIT_NOFILE soft limit of this process (Infinity: unlimited); undefined where unreadable. */
  nofile: number | undefined;
  /** net.core.somaxconn; undefined where unreadable. */
  somaxconn: number | undefined;
  /** Memory this process may use: the host's, or its cgroup's limit when lower. */
  memoryBytes: number | undefined;
}

/** What the edge is configured to hold. */
export interface ConnectionPlan {
  /** CDN_EDGE_MAX_CONNECTIONS: per process. */
  maxConnections: number;
  /** CDN_EDGE_WORKERS: processes sharing this host's memory. */
  workers: number;
}

export interface LimitProblem {
  limit: 'RLIMIT_NOFILE' | 'net.core.somaxconn' | 'memory';
  value: number;
  /** What it should be at least. */
  needed: number;
  message: string;
}

/** This process's limits, from /proc (Linux). */
export function readHostLimits(): HostLimits {
  const constrained = process.constrainedMemory?.();
  // No cgroup limit reads as 0, undefined or a near-2^64 "unlimited".
  const cgroup = constrained !== undefined && constrained > 0 && constrained < 2 ** 60 ? constrained : Infinity;
  return { nofile: readNofile(), somaxconn: readNumber('/proc/sys/net/core/somaxconn'), memoryBytes: Math.min(os.totalmem(), cgroup) };
}

/** What keeps `maxConnections` client connections out of reach on a host with `limits`. */
export function connectionLimitProblems(plan: ConnectionPlan, limits: HostLimits): LimitProblem[] {
  const { maxConnections, workers } = plan;
  const problems: LimitProblem[] = [];
  const needed = maxConnections + NOFILE_MARGIN;
  if (limits.nofile !== undefined && limits.nofile < needed) {
    problems.push({
      limit: 'RLIMIT_NOFILE',
      value: limits.nofile,
      needed,
      message:
        `open files limit (RLIMIT_NOFILE) is ${limits.nofile}, below CDN_EDGE_MAX_CONNECTIONS=${maxConnections} plus ${NOFILE_MARGIN} for the edge's own files: ` +
        `new clients are reset once ${limits.nofile} descriptors are open. ` +
        `Raise it to at least ${needed} (ulimit -n, LimitNOFILE= in the systemd unit, --ulimit nofile= with docker) or lower CDN_EDGE_MAX_CONNECTIONS`,
    });
  }
  if (limits.somaxconn !== undefined && limits.somaxconn < LISTEN_BACKLOG) {
    problems.push({
      limit: 'net.core.somaxconn',
      value: limits.somaxconn,
      needed: LISTEN_BACKLOG,
      message:
        `net.core.somaxconn is ${limits.somaxconn}, below the edge's listen backlog of ${LISTEN_BACKLOG}: ` +
        `a burst of new connections overflows the accept queue and waits seconds for TCP retransmission. ` +
        `Set sysctl net.core.somaxconn=${LISTEN_BACKLOG} or more`,
    });
  }
  const memoryNeeded = maxConnections * workers * IDLE_CONNECTION_BYTES;
  if (limits.memoryBytes !== undefined && limits.memoryBytes < memoryNeeded) {
    const fits = Math.floor(limits.memoryBytes / IDLE_CONNECTION_BYTES / workers);
    problems.push({
      limit: 'memory',
      value: limits.memoryBytes,
      needed: memoryNeeded,
      message:
        `memory is ${gib(limits.memoryBytes)} GiB, below the ${gib(memoryNeeded)} GiB that CDN_EDGE_MAX_CONNECTIONS=${maxConnections} connections in each of ${workers} process(es) take ` +
        `at about ${IDLE_CONNECTION_BYTES / 1024} KiB per idle connection: the edge would run out of memory before its cap. ` +
        `Lower CDN_EDGE_MAX_CONNECTIONS to about ${fits} (or CDN_EDGE_WORKERS), or give the edge more memory`,
    });
  }
  return problems;
}

/** Logs one warning per problem; returns them (for tests). */
export function warnAboutConnectionLimits(plan: ConnectionPlan, logger: Logger, limits: HostLimits = readHostLimits()): LimitProblem[] {
  const problems = connectionLimitProblems(plan, limits);
  for (const p of problems) logger.warn({ limit: p.limit, value: p.value, needed: p.needed, maxConnections: plan.maxConnections, workers: plan.workers }, p.message);
  return problems;
}

function gib(bytes: number): string {
  return (bytes / 1024 ** 3).toFixed(1);
}

function readNofile(): number | undefined {
  try {
    const m = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m === null) return undefined;
    return m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return undefined;
  }
}

function readNumber(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}
