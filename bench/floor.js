#!/usr/bin/env node
// The benchmark's "Node floor": the least a caching proxy written on node:http can do, to show
// how much of the gap to nginx is the runtime's and how much is the edge's. A Map from URL to
// { headers, body }, filled from the origin on a miss (no freshness, no customers, no limits,
// no disk); a hit is one Map lookup, one writeHead, one end. Not a product: a measuring stick.
//
// Usage: node bench/floor.js --origin-port N [--port N]  (prints `{"port":N}` when listening)
//
// With --tls-port N --tls-cert F --tls-key F [--tls-settings JSON] it also listens for HTTPS,
// the way the edge does (node:http2's secure server with HTTP/1 fallback: ALPN h2 and
// http/1.1 on one port), with one certificate and no SNI callback, the same Map behind both
// ports; --tls-settings is the edge's own TLS options (versions, ciphers, groups) as the
// runner read them from the build. It then prints `{"port":N,"tlsPort":M}`.
//
// With --cache-fields it also sends what RFC 9110/9111 ask of a cache and the edge sends on
// every hit: the origin's Last-Modified, Age and Via (bench/profile.js compares the two floors;
// bench/run.js uses the plain one).
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');

function parseArgs(argv) {
  const out = { port: 0, originPort: 0, tlsPort: undefined, tlsCert: '', tlsKey: '', tlsSettings: {}, cacheFields: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') out.port = Number(argv[++i]);
    else if (argv[i] === '--origin-port') out.originPort = Number(argv[++i]);
    else if (argv[i] === '--tls-port') out.tlsPort = Number(argv[++i]);
    else if (argv[i] === '--tls-cert') out.tlsCert = argv[++i];
    else if (argv[i] === '--tls-key') out.tlsKey = argv[++i];
    else if (argv[i] === '--tls-settings') out.tlsSettings = JSON.parse(argv[++i]);
    else if (argv[i] === '--cache-fields') out.cacheFields = true;
  }
  if (!out.originPort) {
    process.stderr.write('floor: --origin-port is required\n');
    process.exit(2);
  }
  return out;
}

const { port, originPort, tlsPort, tlsCert, tlsKey, tlsSettings, cacheFields } = parseArgs(process.argv.slice(2));
const cache = new Map();
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function fill(url, done) {
  http
    .get({ host: '127.0.0.1', port: originPort, path: url, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const headers = { 'content-type': res.headers['content-type'] ?? 'application/octet-stream', 'cache-control': res.headers['cache-control'] ?? 'no-store', etag: res.headers.etag ?? '', 'content-length': String(body.length) };
        if (cacheFields && res.headers['last-modified'] !== undefined) headers['last-modified'] = res.headers['last-modified'];
        const entry = { status: res.statusCode ?? 502, headers, body, storedAt: Date.now() };
        if (entry.status === 200) cache.set(url, entry);
        done(entry, 'MISS');
      });
      res.on('error', () => done({ status: 502, headers: { 'content-length': '0' }, body: Buffer.alloc(0) }, 'MISS'));
    })
    .on('error', () => done({ status: 502, headers: { 'content-length': '0' }, body: Buffer.alloc(0) }, 'MISS'));
}

function handle(req, res) {
  const send = (entry, xcache) => {
    if (cacheFields) res.writeHead(entry.status, { ...entry.headers, age: String(Math.floor((Date.now() - entry.storedAt) / 1000)), 'x-cache': xcache, via: '1.1 floor' });
    else res.writeHead(entry.status, { ...entry.headers, 'x-cache': xcache });
    res.end(entry.body);
  };
  const hit = cache.get(req.url);
  if (hit !== undefined) send(hit, 'HIT');
  else fill(req.url, send);
}

const server = http.createServer(handle);
server.keepAliveTimeout = 75_000;
const listening = [new Promise((resolve) => server.listen({ port, host: '127.0.0.1', backlog: 4096 }, resolve))];
let tlsServer;
if (tlsPort !== undefined) {
  tlsServer = http2.createSecureServer({ ...tlsSettings, cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey), allowHTTP1: true }, handle);
  listening.push(new Promise((resolve) => tlsServer.listen({ port: tlsPort, host: '127.0.0.1', backlog: 4096 }, resolve)));
}
Promise.all(listening).then(() => {
  const out = { port: server.address().port };
  if (tlsServer !== undefined) out.tlsPort = tlsServer.address().port;
  process.stdout.write(JSON.stringify(out) + '\n');
  // The runner holds our stdin: when it dies, so do we.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
