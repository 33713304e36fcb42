#!/usr/bin/env node
// The idle crowd of `npm run bench:connections`: one process holding many keep-alive
// connections to the edge. Each connection comes from one of the loopback source addresses it
// is given (127.0.0.x: each address has its own ephemeral ports, so the client is not
// port-bound), sends one request, reads the whole answer (so it is a connection the edge
// accepted and served, not a SYN waiting in the backlog) and then stays open, silent.
//
//   node bench/idle-clients.js --port P --host H --path /obj/idle?size=64 --addresses 2,6,10
//       [--concurrency C] [--timeout-ms T]
//
// Commands, one JSON line each on stdin; answers, one JSON line each on stdout:
//   {"cmd":"open","count":N} opens N more connections, C at a time:
//       {"ev":"progress","ok","failed"} about every second, then
//       {"ev":"opened","ok","failed","ms","errors":{code:n},"firstError"}
//   {"cmd":"status"}  -> {"ev":"status","open","dropped","dropCodes":{}}: served connections
//                        still open, and how many of them the server has closed since
//   {"cmd":"close"}   -> every connection reset (RST: no TIME_WAIT left behind), then
//                        {"ev":"closed","count"}
// It exits when its stdin closes (the runner is gone). Only 127.0.0.x is ever contacted.
'use strict';
const net = require('node:net');
const readline = require('node:readline');

function parse(argv) {
  const o = { port: 0, host: 'bench.local', path: '/obj/idle?size=64', addresses: [], concurrency: 200, timeoutMs: 30_000 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[++i];
    if (k === '--port') o.port = Number(v);
    else if (k === '--host') o.host = v;
    else if (k === '--path') o.path = v;
    else if (k === '--addresses') o.addresses = v.split(',').map((x) => `127.0.0.${Number(x)}`);
    else if (k === '--concurrency') o.concurrency = Number(v);
    else if (k === '--timeout-ms') o.timeoutMs = Number(v);
    else throw new Error(`unknown option ${k}`);
  }
  if (!o.port || o.addresses.length === 0) throw new Error('--port and --addresses are required');
  if (o.addresses.some((a) => !/^127\.0\.0\.(\d+)$/.test(a) || Number(a.split('.')[3]) < 1 || Number(a.split('.')[3]) > 254)) throw new Error('--addresses: 127.0.0.x only');
  return o;
}

const o = parse(process.argv.slice(2));
const REQUEST = Buffer.from(`GET ${o.path} HTTP/1.1\r\nHost: ${o.host}\r\nUser-Agent: edgeplane-bench-idle\r\n\r\n`);
const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');

/** Served connections still open. */
const open = new Set();
let dropped = 0;
const dropCodes = {};
let next = 0; // round robin over the source addresses

/** Whether `buf` holds one complete 200 answer (Content-Length or chunked). */
function complete(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = buf.subarray(0, end).toString('latin1');
  if (!/^HTTP\/1\.1 200 /.test(head)) return `status ${head.slice(9, 12)}`;
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (cl) return buf.length >= end + 4 + Number(cl[1]) ? true : undefined;
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return buf.subarray(buf.length - 5).toString('latin1') === '0\r\n\r\n' ? true : undefined;
  return 'answer without a length';
}

/** One connection: resolves 'ok' once served (the socket then stays open), or an error code. */
function openOne() {
  return new Promise((resolve) => {
    const localAddress = o.addresses[next++ % o.addresses.length];
    let settled = false;
    let buf = Buffer.alloc(0);
    const socket = net.connect({ port: o.port, host: '127.0.0.1', localAddress });
    const timer = setTimeout(() => fail('ETIMEDOUT (no answer in time)'), o.timeoutMs);
    const fail = (code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(code);
    };
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(REQUEST));
    socket.on('data', (d) => {
      if (settled) return; // nothing is expected once served
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      const c = complete(buf);
      if (c === undefined) return;
      if (c !== true) return fail(c);
      settled = true;
      clearTimeout(timer);
      buf = undefined;
      open.add(socket);
      resolve('ok');
    });
    socket.on('error', (err) => {
      if (!settled) fail(err.code || err.message);
      else socket.lastError = err.code || err.message;
    });
    socket.on('close', () => {
      if (!settled) return fail('closed before the answer');
      if (open.delete(socket) && !socket.closingOnPurpose) {
        dropped += 1;
        const code = socket.lastError ?? 'closed by the server';
        dropCodes[code] = (dropCodes[code] || 0) + 1;
      }
    });
  });
}

async function openMany(count) {
  const t0 = performance.now();
  let ok = 0;
  let failed = 0;
  let started = 0;
  const errors = {};
  let firstError;
  const progress = setInterval(() => send({ ev: 'progress', ok, failed }), 1000);
  const lane = async () => {
    while (started < count) {
      started += 1;
      const r = await openOne();
      if (r === 'ok') ok += 1;
      else {
        failed += 1;
        errors[r] = (errors[r] || 0) + 1;
        firstError ??= r;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, count) }, lane));
  clearInterval(progress);
  send({ ev: 'opened', ok, failed, ms: performance.now() - t0, errors, firstError });
}

function closeAll() {
  const count = open.size;
  for (const socket of open) {
    socket.closingOnPurpose = true;
    socket.resetAndDestroy();
  }
  open.clear();
  send({ ev: 'closed', count });
}

const queue = [];
let busy = false;
async function run() {
  if (busy) return;
  busy = true;
  while (queue.length) {
    const m = queue.shift();
    if (m.cmd === 'open') await openMany(m.count);
    else if (m.cmd === 'status') send({ ev: 'status', open: open.size, dropped, dropCodes });
    else if (m.cmd === 'close') closeAll();
  }
  busy = false;
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === '') return;
  queue.push(JSON.parse(line));
  void run();
});
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
send({ ev: 'ready', pid: process.pid });
