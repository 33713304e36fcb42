#!/usr/bin/env node
// The benchmark's origin: a small node:http server on 127.0.0.1 that both the edge and nginx
// fetch from. Plain JavaScript so it runs without a build.
//
//   GET /obj/<name>[?size=<bytes>][&delay=<ms>][&type=text]
//     200, a deterministic body of <size> bytes (default 1024) derived from the path,
//     Cache-Control: public, max-age=3600, a strong ETag. <delay> holds the answer back
//     (used to make one missing key stay "in flight" while 1,000 clients ask for it).
//     type=text: text/javascript, a slice of real HTML and JavaScript (the api's GraphiQL
//     page), which compresses as a site's text does, for the compression rows; otherwise
//     application/octet-stream.
//   GET /__count[?path=<path>]   how many /obj requests arrived (all, or for one path; the
//                                query is ignored: proxies may reorder or normalise it)
//   GET /__reset                       forget the counts
//
// Usage: node bench/origin.js [--port N]   (prints `{"port":N}` on stdout when listening)
'use strict';
const http = require('node:http');

const MAX_SIZE = 4 * 1024 * 1024;
const ALPHABET = Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_');

// One pattern, shifted by a per-path offset: deterministic, different per object, cheap.
const PATTERN = Buffer.alloc(MAX_SIZE + 256);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = ALPHABET[(i * 7 + (i >> 6)) % ALPHABET.length];

function hash(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** The same bytes for the same path and size, every time, in every process. */
function bodyFor(path, size) {
  const offset = hash(path) & 0xff;
  const body = Buffer.from(PATTERN.subarray(offset, offset + size));
  if (size > 0) body[size - 1] = 0x0a;
  return body;
}

/**
 * Real text: the api's GraphiQL page (about 9 MB of HTML and JavaScript, rendered by the
 * package the api uses), made once per process. Objects are slices of it.
 */
let corpus;
function textCorpus() {
  if (corpus === undefined) {
    const { renderGraphiQL } = require('@graphql-yoga/render-graphiql');
    corpus = Buffer.from(renderGraphiQL({ title: 'Edgeplane bench', endpoint: '/graphql' }));
  }
  return corpus;
}

/** Text of exactly <size> bytes, the same for the same path and size: a slice of the corpus at an offset the path picks. */
function textFor(path, size) {
  const text = textCorpus();
  if (size > text.length) return Buffer.concat(Array.from({ length: Math.ceil(size / text.length) }, () => text)).subarray(0, size);
  const offset = hash(path) % (text.length - size + 1);
  return Buffer.from(text.subarray(offset, offset + size));
}

function parseArgs(argv) {
  const out = { port: 0 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') out.port = Number(argv[++i]);
  }
  return out;
}

function startOrigin(port = 0) {
  const counts = new Map();
  let total = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url || '/', 'http://origin.invalid');
    if (url.pathname === '/__count') {
      const q = url.searchParams.get('path');
      const p = q === null ? null : q.split('?')[0];
      const body = JSON.stringify(p === null ? { total, paths: counts.size } : { path: p, count: counts.get(p) || 0, total });
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (url.pathname === '/__reset') {
      counts.clear();
      total = 0;
      res.writeHead(204, { 'cache-control': 'no-store' });
      res.end();
      return;
    }
    if (!url.pathname.startsWith('/obj/')) {
      res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store', 'content-length': 10 });
      res.end('not found\n');
      return;
    }
    const key = url.pathname;
    total += 1;
    counts.set(key, (counts.get(key) || 0) + 1);
    const size = Math.min(MAX_SIZE, Math.max(0, Number(url.searchParams.get('size') ?? 1024) | 0));
    const delay = Math.min(60_000, Math.max(0, Number(url.searchParams.get('delay') ?? 0) | 0));
    const text = url.searchParams.get('type') === 'text';
    const body = text ? textFor(url.pathname, size) : bodyFor(url.pathname, size);
    const send = () => {
      res.writeHead(200, {
        'content-type': text ? 'text/javascript; charset=utf-8' : 'application/octet-stream',
        'cache-control': 'public, max-age=3600',
        etag: `"${hash(url.pathname).toString(16)}-${size}"`,
        'last-modified': 'Mon, 02 Nov 2026 00:00:00 GMT',
        'content-length': size,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (delay > 0) setTimeout(send, delay);
    else send();
  });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

module.exports = { startOrigin, bodyFor, textFor };

if (require.main === module) {
  const { port } = parseArgs(process.argv.slice(2));
  startOrigin(port).then(
    (server) => {
      process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
      const stop = () => {
        server.close(() => process.exit(0));
        server.closeAllConnections();
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      // The runner holds our stdin: when it dies, so do we.
      process.stdin.on('end', () => process.exit(0));
      process.stdin.on('error', () => process.exit(0));
      process.stdin.resume();
    },
    (err) => {
      process.stderr.write(`origin: ${err.message}\n`);
      process.exit(1);
    },
  );
}
