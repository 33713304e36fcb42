/**
 * CDN_EDGE_MAX_CONNECTIONS (issue 17): the edge warns at start when this host's limits
 * cannot reach its connection cap (src/edge/limits.check.ts), and holds no more client
 * connections than the cap, whichever accept handle took them. Real edges on loopback,
 * the real /proc/self/limits of this process, real sockets.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import os from 'node:os';
import { Writable } from 'node:stream';
import { connectionLimitProblems, IDLE_CONNECTION_BYTES, LISTEN_BACKLOG, NOFILE_MARGIN } from '../../src/edge/limits.check';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { createLogger } from '../../src/obs/logger.factory';
import { customer, edgeConfig, eventually, startScriptedOrigin, tempDir } from './edge.harness';

const cleanups: Array<() => Promise<unknown> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A pino destination that keeps every line. */
function logCapture(): { stream: Writable; lines(): Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** The soft open-files limit of this process, as the edge reads it. */
function nofileSoftLimit(): number {
  const m = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  assert.ok(m, 'this test needs Linux /proc/self/limits');
  return m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

function somaxconn(): number {
  return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
}

async function startLoggedEdge(env: Record<string, string>): Promise<{ edge: EdgeHandle; lines(): Array<Record<string, unknown>> }> {
  const tmp = await tempDir();
  const origin = await startScriptedOrigin((_req, res) => res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }).end('hello'));
  const log = logCapture();
  const logger = createLogger({ name: 'edge', level: 'info', destination: log.stream });
  const edge = await startEdge(edgeConfig(tmp.dir, env), { customers: createStaticCustomerFeed([customer('customer-a', origin.url, ['cdn.a.test'])]), logger });
  cleanups.push(() => tmp.remove(), () => origin.close(), () => edge.close());
  return { edge, lines: log.lines };
}

const nofileWarnings = (lines: Array<Record<string, unknown>>): Array<Record<string, unknown>> =>
  lines.filter((l) => l.level === 40 && l.limit === 'RLIMIT_NOFILE');

test('the edge warns at start, naming the open files limit, its value and what to set, when it is below CDN_EDGE_MAX_CONNECTIONS plus a margin', async (t) => {
  const soft = nofileSoftLimit();
  if (!Number.isFinite(soft) || soft >= 16_777_216) return t.skip(`the open files limit is ${soft}: no cap the edge accepts lies above it`);
  // A cap at the current limit: the margin for the edge's own files is not there.
  const { lines } = await startLoggedEdge({ CDN_EDGE_MAX_CONNECTIONS: String(soft) });
  const warnings = nofileWarnings(lines());
  assert.equal(warnings.length, 1, `one warning line, got ${JSON.stringify(lines())}`);
  const w = warnings[0]!;
  assert.equal(w.value, soft);
  assert.equal(w.maxConnections, soft);
  assert.equal(w.needed, soft + NOFILE_MARGIN);
  const msg = String(w.msg);
  assert.match(msg, /RLIMIT_NOFILE\) is \d+/);
  assert.ok(msg.includes(String(soft)) && msg.includes(`CDN_EDGE_MAX_CONNECTIONS=${soft}`), msg);
  assert.match(msg, /ulimit -n/);
  assert.match(msg, /LimitNOFILE=/);
  assert.ok(msg.includes(String(soft + NOFILE_MARGIN)), `names the limit to set: ${msg}`);
});

test('the edge warns at start when every worker\'s cap together would take more memory than the host has', async (t) => {
  const cap = Math.ceil(os.totalmem() / IDLE_CONNECTION_BYTES / 2) + 1;
  if (cap > 16_777_216) return t.skip('this host has more memory than the largest cap can take');
  const { lines } = await startLoggedEdge({ CDN_EDGE_MAX_CONNECTIONS: String(cap), CDN_EDGE_WORKERS: '2' });
  const warnings = lines().filter((l) => l.level === 40 && l.limit === 'memory');
  assert.equal(warnings.length, 1, JSON.stringify(lines()));
  assert.equal(warnings[0]!.needed, cap * 2 * IDLE_CONNECTION_BYTES);
  assert.match(String(warnings[0]!.msg), new RegExp(`CDN_EDGE_MAX_CONNECTIONS=${cap} connections in each of 2 process\\(es\\).*Lower CDN_EDGE_MAX_CONNECTIONS to about \\d+`));
});

test('no open-files warning when the limit leaves room for the cap; somaxconn is warned about only when it is below the backlog', async () => {
  const soft = nofileSoftLimit();
  const cap = Number.isFinite(soft) ? Math.max(1, Math.min(soft - NOFILE_MARGIN, 100_000)) : 100_000;
  const { lines } = await startLoggedEdge({ CDN_EDGE_MAX_CONNECTIONS: String(cap) });
  assert.deepEqual(nofileWarnings(lines()), []);
  assert.deepEqual(lines().filter((l) => l.limit === 'memory'), [], 'the default workers at this cap fit in memory');
  const somaxconnWarnings = lines().filter((l) => l.limit === 'net.core.somaxconn');
  assert.equal(somaxconnWarnings.length, somaxconn() < LISTEN_BACKLOG ? 1 : 0, JSON.stringify(somaxconnWarnings));
});

test('the limits are judged by their numbers: open files below the cap plus margin, somaxconn below the backlog, memory below every worker\'s cap', () => {
  const plan = { maxConnections: 100_000, workers: 4 };
  const enoughMemory = 4 * 100_000 * IDLE_CONNECTION_BYTES;
  assert.deepEqual(connectionLimitProblems(plan, { nofile: 100_000 + NOFILE_MARGIN, somaxconn: LISTEN_BACKLOG, memoryBytes: enoughMemory }), []);
  assert.deepEqual(connectionLimitProblems(plan, { nofile: Infinity, somaxconn: undefined, memoryBytes: undefined }), []);
  assert.deepEqual(connectionLimitProblems(plan, { nofile: undefined, somaxconn: undefined, memoryBytes: undefined }), [], 'nothing readable: nothing to say');
  const all = connectionLimitProblems(plan, { nofile: 1024, somaxconn: 128, memoryBytes: 4 * 1024 ** 3 });
  assert.deepEqual(
    all.map((p) => [p.limit, p.value, p.needed]),
    [
      ['RLIMIT_NOFILE', 1024, 100_000 + NOFILE_MARGIN],
      ['net.core.somaxconn', 128, LISTEN_BACKLOG],
      ['memory', 4 * 1024 ** 3, enoughMemory],
    ],
  );
  assert.match(all[1]!.message, /net\.core\.somaxconn is 128.*sysctl net\.core\.somaxconn=4096/);
  assert.match(all[2]!.message, /memory is 4\.0 GiB, below the 6\.1 GiB that CDN_EDGE_MAX_CONNECTIONS=100000 connections in each of 4 process\(es\).*Lower CDN_EDGE_MAX_CONNECTIONS to about 65536/);
});

/** One keep-alive connection that got its answer: resolves with the socket, still open. */
function servedConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => socket.write('GET /page HTTP/1.1\r\nHost: cdn.a.test\r\n\r\n'));
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      got += d;
      // A miss streams (chunked), a hit has a length.
      if (/^HTTP\/1\.1 200 [\s\S]*\r\n\r\n(?:hello|5\r\nhello\r\n0\r\n\r\n)$/.test(got)) resolve(socket);
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed before the answer, after ${JSON.stringify(got)}`)));
    cleanups.push(() => void socket.destroy());
  });
}

/** A connection the edge closes without answering: resolves with what arrived (nothing). */
function refusedConnection(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => socket.write('GET /page HTTP/1.1\r\nHost: cdn.a.test\r\n\r\n'));
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (got += d));
    socket.on('error', () => {});
    socket.on('close', () => resolve(got));
    setTimeout(() => reject(new Error(`still open after 5 s, got ${JSON.stringify(got)}`)), 5_000).unref();
    cleanups.push(() => void socket.destroy());
  });
}

test('the edge holds at most CDN_EDGE_MAX_CONNECTIONS connections, counted over every accept handle, and says so in the log', async () => {
  const { edge, lines } = await startLoggedEdge({ CDN_EDGE_MAX_CONNECTIONS: '3', CDN_EDGE_ACCEPT_HANDLES: '8' });
  const held = [await servedConnection(edge.port), await servedConnection(edge.port), await servedConnection(edge.port)];
  // Several more, so that some arrive on the accept handles' copies, not only the server's own.
  const extra = await Promise.all(Array.from({ length: 6 }, () => refusedConnection(edge.port)));
  assert.deepEqual(extra, Array(6).fill(''), 'a connection beyond the cap is closed without an answer');
  await eventually(() => lines().some((l) => l.msg === 'new client connections closed at once: CDN_EDGE_MAX_CONNECTIONS connections are open'), 2_000, 'the refusal in the log');
  // One of the three leaves: a new client gets its place.
  held[0]!.destroy();
  await eventually(async () => (await servedConnection(edge.port).then(() => true, () => false)), 5_000, 'a new connection served once one closed');
  held[1]!.destroy();
  held[2]!.destroy();
});
