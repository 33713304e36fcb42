#!/usr/bin/env node
// The noisy neighbour of `npm run bench:fairness` (bench/fairness.js): one customer's clients
// flooding the edge with misses for a slow origin, and holding slow connections, for a bounded
// time, on 127.0.0.1 only.
//
//   node bench/flood.js --port P --host H --concurrency C --delay MS --slow S --seconds T
//
// C loops, each asking one new object after another (/obj/flood-<n>?size=1024&delay=MS: every
// one a miss the origin answers after MS), and S connections that send a request head one field
// every 2 s and never finish it (the edge closes them at its client timeout; they are opened
// again). Prints one JSON line at the end: {"requests", "statuses": {...}, "errors", "slowOpened"}.
'use strict';
const http = require('node:http');
const net = require('node:net');

function parse(argv) {
  const o = { port: 0, host: 'noisy.bench.local', concurrency: 256, delay: 2000, slow: 0, seconds: 10 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (argv[i] === '--port') o.port = Number(v);
    else if (argv[i] === '--host') o.host = v;
    else if (argv[i] === '--concurrency') o.concurrency = Number(v);
    else if (argv[i] === '--delay') o.delay = Number(v);
    else if (argv[i] === '--slow') o.slow = Number(v);
    else if (argv[i] === '--seconds') o.seconds = Number(v);
  }
  return o;
}

async function main() {
  const o = parse(process.argv.slice(2));
  const until = Date.now() + o.seconds * 1000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const statuses = {};
  let requests = 0;
  let errors = 0;
  let n = 0;
  const one = () =>
    new Promise((resolve) => {
      n += 1;
      const req = http.request({ host: '127.0.0.1', port: o.port, path: `/obj/flood-${process.pid}-${n}?size=1024&delay=${o.delay}`, headers: { host: o.host }, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          requests += 1;
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          resolve();
        });
      });
      req.setTimeout(o.delay + 30_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors += 1;
        resolve();
      });
      req.end();
    });
  const loop = async () => {
    while (Date.now() < until) await one();
  };

  let slowOpened = 0;
  const sockets = new Set();
  const openSlow = () => {
    if (Date.now() >= until) return;
    slowOpened += 1;
    const s = net.connect({ host: '127.0.0.1', port: o.port });
    sockets.add(s);
    s.on('connect', () => s.write(`GET /obj/slow-${slowOpened} HTTP/1.1\r\nHost: ${o.host}\r\n`));
    const timer = setInterval(() => s.write(`X-Slow: ${Date.now()}\r\n`), 2000);
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(timer);
      sockets.delete(s);
      openSlow();
    });
  };
  for (let i = 0; i < o.slow; i += 1) openSlow();

  await Promise.all(Array.from({ length: o.concurrency }, loop));
  for (const s of sockets) s.destroy();
  agent.destroy();
  process.stdout.write(`${JSON.stringify({ requests, statuses, errors, slowOpened })}\n`);
}

main().catch((err) => {
  process.stderr.write(`flood: ${err.stack || err.message}\n`);
  process.exit(1);
});
