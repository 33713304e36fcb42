#!/usr/bin/env node
// New TLS handshakes per second, for `npm run bench` (docs/BENCHMARKS.md, "TLS"): a closed
// loop of `--concurrency` lanes, each opening a TCP connection to 127.0.0.1, completing a full
// TLS handshake (SNI `--servername`, the chain checked against `--ca`, ALPN `--alpn`), then
// closing it with close_notify and waiting for the server's close, and starting again. No
// session is ever offered back (tls.connect without `session`), so every handshake is a full
// one; the server's tickets are received and dropped. Bounded by `--duration` seconds and
// `--max` handshakes, whichever comes first.
//
// Each connection comes from the next of the source addresses 127.0.0.2..127.0.0.254 in turn:
// the client closes first, so each connection leaves a TIME_WAIT on the client side, and one
// source address has only ~28,000 ephemeral ports.
//
//   node bench/handshakes.js --port P --servername bench.local --ca ca.pem [--concurrency 16]
//     [--duration 10] [--max 1000000] [--alpn http/1.1] [--groups X25519:P-256:P-384]
//   -> one JSON line: {"handshakes","failed","closeErrors","resumed","ms","rate","p50_ms","p99_ms",
//                      "protocols":{...},"ciphers":{...},"alpn":{...},"errorSample":[...]}
'use strict';
const fs = require('node:fs');
const tls = require('node:tls');

function parse(argv) {
  const o = { port: 0, servername: 'bench.local', ca: '', concurrency: 16, duration: 10, max: 1_000_000, alpn: 'http/1.1', groups: 'X25519:P-256:P-384', timeoutMs: 10_000 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[++i];
    if (k === '--port') o.port = Number(v);
    else if (k === '--servername') o.servername = v;
    else if (k === '--ca') o.ca = v;
    else if (k === '--concurrency') o.concurrency = Number(v);
    else if (k === '--duration') o.duration = Number(v);
    else if (k === '--max') o.max = Number(v);
    else if (k === '--alpn') o.alpn = v;
    else if (k === '--groups') o.groups = v;
    else throw new Error(`unknown option ${k}`);
  }
  if (!o.port || !o.ca) throw new Error('--port and --ca are required');
  return o;
}

const bump = (m, k) => (m[k] = (m[k] ?? 0) + 1);

async function main() {
  const o = parse(process.argv.slice(2));
  // One context for every connection: tls.connect({ ca }) would build an OpenSSL context per
  // connection, which costs the client more than the handshake itself.
  const secureContext = tls.createSecureContext({ ca: fs.readFileSync(o.ca), ecdhCurve: o.groups, minVersion: 'TLSv1.2' });
  // The chain is checked by OpenSSL on every handshake (socket.authorized); the name only once
  // (below): Node's own check decodes the whole peer chain into objects each time, a client
  // cost that would only slow the loop down.
  let identityChecked = false;
  const checkServerIdentity = (host, cert) => {
    if (identityChecked) return undefined;
    identityChecked = true;
    return tls.checkServerIdentity(host, cert);
  };
  const stats = { handshakes: 0, failed: 0, closeErrors: 0, resumed: 0, protocols: {}, ciphers: {}, alpn: {}, errors: [] };
  const latencies = [];
  let started = 0;
  let source = 0;
  const t0 = performance.now();
  const deadline = t0 + o.duration * 1000;

  // One connection: resolves when it is closed (or failed), never rejects.
  const once = () =>
    new Promise((resolve) => {
      const localAddress = `127.0.0.${2 + (source++ % 253)}`;
      const begin = performance.now();
      let done = false;
      let secured = false;
      const finish = (err) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err !== undefined) {
          stats.failed++;
          if (stats.errors.length < 5) stats.errors.push(err.code ?? err.message);
        }
        socket.destroy();
        resolve();
      };
      const socket = tls.connect({ host: '127.0.0.1', port: o.port, localAddress, servername: o.servername, secureContext, ALPNProtocols: [o.alpn], checkServerIdentity });
      const timer = setTimeout(() => finish(new Error('timeout')), o.timeoutMs);
      socket.once('secureConnect', () => {
        if (!socket.authorized) return finish(new Error(`not authorized: ${socket.authorizationError}`));
        secured = true;
        latencies.push(performance.now() - begin);
        stats.handshakes++;
        if (socket.isSessionReused()) stats.resumed++;
        bump(stats.protocols, socket.getProtocol());
        bump(stats.ciphers, socket.getCipher().standardName);
        bump(stats.alpn, String(socket.alpnProtocol));
        // close_notify and FIN; the server answers with its own close.
        socket.end();
      });
      socket.on('data', () => {}); // TLS 1.3 tickets arrive after the handshake: read, drop
      socket.once('close', () => finish(secured ? undefined : new Error('closed before the handshake completed')));
      socket.once('error', (err) => {
        // After the handshake (a reset while closing) it still counted: noted, not a failure.
        if (secured) stats.closeErrors++;
        finish(secured ? undefined : err);
      });
    });

  const lane = async () => {
    while (performance.now() < deadline && started < o.max) {
      started++;
      await once();
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, lane));
  const ms = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : NaN);
  const out = { ...stats, ms, rate: stats.handshakes / (ms / 1000), p50_ms: pct(50), p99_ms: pct(99), errorSample: stats.errors };
  delete out.errors;
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(`handshakes: ${err.stack || err.message}\n`);
  process.exit(1);
});
