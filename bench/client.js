#!/usr/bin/env node
// The benchmark's own small HTTP client, for what wrk cannot do: fetch a list of URLs once
// each (warm-up, cold misses) and fire N simultaneous requests for one URL (collapsing).
// The runner starts it pinned to the client core and reads one JSON line from stdout.
//
//   node bench/client.js fetch-all --port P --host H --concurrency C --paths-file F
//     -> {"ms", "requests", "statuses": {...}, "xcache": {...}, "encodings": {...}, "bytes", "errors"}
//   node bench/client.js burst --port P --host H --count N --path /obj/x
//     -> {"ms", "requests", "statuses": {...}, "xcache": {...}, "errors"}
// With --tls --ca F, the same over HTTPS (HTTP/1.1, SNI = --host, the chain checked against F);
// --header 'Name: value' (repeatable) adds a request field (Accept-Encoding for the compression rows).
// Only 127.0.0.1 is ever contacted.
'use strict';
const http = require('node:http');
const https = require('node:https');
const fs = require('node:fs');

function parse(argv) {
  const o = { mode: argv[0], port: 0, host: 'bench.local', concurrency: 32, count: 1000, path: '/', pathsFile: '', timeoutMs: 60_000, tls: false, ca: '', headers: {} };
  for (let i = 1; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--tls') {
      o.tls = true;
      continue;
    }
    const v = argv[++i];
    if (k === '--port') o.port = Number(v);
    else if (k === '--host') o.host = v;
    else if (k === '--concurrency') o.concurrency = Number(v);
    else if (k === '--count') o.count = Number(v);
    else if (k === '--path') o.path = v;
    else if (k === '--paths-file') o.pathsFile = v;
    else if (k === '--timeout-ms') o.timeoutMs = Number(v);
    else if (k === '--ca') o.ca = fs.readFileSync(v);
    else if (k === '--header') {
      const colon = v.indexOf(':');
      o.headers[v.slice(0, colon).trim().toLowerCase()] = v.slice(colon + 1).trim();
    }
    else throw new Error(`unknown option ${k}`);
  }
  return o;
}

function get(agent, o, path, stats) {
  return new Promise((resolve) => {
    const tls = o.tls ? { servername: o.host, ca: o.ca } : {};
    const req = (o.tls ? https : http).request(
      { host: '127.0.0.1', port: o.port, path, method: 'GET', agent, headers: { ...o.headers, host: o.host }, timeout: o.timeoutMs, ...tls },
      (res) => {
        stats.statuses[res.statusCode] = (stats.statuses[res.statusCode] || 0) + 1;
        const xc = String(res.headers['x-cache'] || res.headers['x-cache-status'] || '-').toUpperCase();
        stats.xcache[xc] = (stats.xcache[xc] || 0) + 1;
        const enc = String(res.headers['content-encoding'] || 'identity');
        stats.encodings[enc] = (stats.encodings[enc] || 0) + 1;
        res.on('data', (chunk) => {
          stats.bytes += chunk.length;
        });
        res.on('end', resolve);
        res.on('error', (err) => {
          stats.errors.push(`${path}: ${err.message}`);
          resolve();
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => {
      stats.errors.push(`${path}: ${err.code || err.message}`);
      resolve();
    });
    req.end();
  });
}

async function main() {
  const o = parse(process.argv.slice(2));
  const stats = { ms: 0, requests: 0, statuses: {}, xcache: {}, encodings: {}, bytes: 0, errors: [] };
  const t0 = process.hrtime.bigint();
  if (o.mode === 'fetch-all') {
    const paths = fs.readFileSync(o.pathsFile, 'utf8').split('\n').filter(Boolean);
    const agent = new (o.tls ? https : http).Agent({ keepAlive: true, maxSockets: o.concurrency });
    let next = 0;
    const lane = async () => {
      while (next < paths.length) {
        const p = paths[next++];
        await get(agent, o, p, stats);
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.concurrency, paths.length) }, lane));
    stats.requests = paths.length;
    agent.destroy();
  } else if (o.mode === 'burst') {
    // One connection per request, all opened at once: the "1,000 clients" case.
    const agent = new (o.tls ? https : http).Agent({ keepAlive: false, maxSockets: Infinity });
    await Promise.all(Array.from({ length: o.count }, () => get(agent, o, o.path, stats)));
    stats.requests = o.count;
    agent.destroy();
  } else {
    throw new Error(`unknown mode ${o.mode} (fetch-all | burst)`);
  }
  stats.ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const errors = stats.errors.length;
  stats.errorSample = stats.errors.slice(0, 3);
  stats.errors = errors;
  process.stdout.write(JSON.stringify(stats) + '\n');
}

main().catch((err) => {
  process.stderr.write(`client: ${err.stack || err.message}\n`);
  process.exit(1);
});
