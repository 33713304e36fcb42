// The TLS rows of `npm run bench` (docs/BENCHMARKS.md, "TLS"): what bench/run.js needs to serve
// HTTPS from the edge, nginx and the Node floor alike, and to measure it.
//
// - One ECDSA P-256 certificate for bench.local (leaf + CA, from the build's demo-pki.js),
//   presented by all three: the edge gets it through its customers file (`tls.certificates`),
//   nginx and the floor as files.
// - The edge's own TLS settings (versions, TLS 1.3 suites, TLS 1.2 ciphers, groups), read from
//   the build (dist/src/edge/tls/tls.settings.js), given to nginx and the floor, so the three
//   negotiate the same thing whatever the edge's settings become.
// - Hits over TLS with h2load (nghttp2-client), for HTTP/1.1 (`--h1`) and h2 alike: wrk sends
//   the URL's host as SNI (an IP here) and the edge has no default certificate; h2load sends
//   `bench.local` and connects to 127.0.0.1 (`--connect-to`). Latency percentiles come from
//   h2load's per-request log.
// - New handshakes per second with bench/handshakes.js (a Node client: h2load reuses its TLS
//   session when it reconnects, so every handshake after the first would be a resumption).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');

/** The edge's TLS settings from the compiled build, split the way nginx wants them. */
function edgeTlsSettings() {
  const s = require(path.join(ROOT, 'dist', 'src', 'edge', 'tls', 'tls.settings.js'));
  const options = s.tlsContextOptions();
  const all = String(options.ciphers).split(':');
  return {
    options,
    tls13: all.filter((c) => c.startsWith('TLS_')),
    tls12: all.filter((c) => !c.startsWith('TLS_')),
    groups: String(options.ecdhCurve),
    minVersion: options.minVersion,
    maxVersion: options.maxVersion,
    honorCipherOrder: options.honorCipherOrder === true,
    sessionTimeout: options.sessionTimeout,
    h2MaxStreams: s.H2_MAX_CONCURRENT_STREAMS,
  };
}

/** A CA and a leaf for `host` (ECDSA P-256), written to `dir`; PEMs and file names. */
async function makeCertificates(dir, host) {
  const pki = require(path.join(ROOT, 'dist', 'src', 'bin', 'demo-pki.js'));
  const ca = await pki.createCertificateAuthority('Edgeplane bench CA');
  const leaf = await ca.issue([host]);
  const files = { ca: path.join(dir, 'bench-ca.pem'), chain: path.join(dir, 'bench-chain.pem'), key: path.join(dir, 'bench-key.pem') };
  fs.writeFileSync(files.ca, ca.certPem);
  fs.writeFileSync(files.chain, leaf.chainPem);
  fs.writeFileSync(files.key, leaf.keyPem, { mode: 0o644 }); // nginx reads it as root before dropping privileges; a temp folder of ours
  return { files, chainPem: leaf.chainPem, keyPem: leaf.keyPem };
}

const nginxVersionName = (v) => ({ 'TLSv1.2': 'TLSv1.2', 'TLSv1.3': 'TLSv1.3' })[v] ?? v;

/**
 * The directives that give nginx's server block the same HTTPS as the edge. nginx 1.22 wants
 * `listen ... ssl http2` (the `http2 on;` directive is 1.25.1+); its TLS 1.3 suites are set with
 * ssl_conf_command (1.19.4+). Sessions: both issue tickets (the edge's keys come from
 * CDN_SECRET_KEY, nginx's are random at start) and neither keeps a server-side session cache
 * (Node's contexts use SSL_SESS_CACHE_NO_INTERNAL and the edge stores no session ids).
 */
function nginxTlsDirectives(port, files, settings, nginxVersion) {
  const [maj, min, patch] = (nginxVersion.match(/(\d+)\.(\d+)\.(\d+)/) ?? [0, 0, 0, 0]).slice(1).map(Number);
  const http2On = maj > 1 || (maj === 1 && (min > 25 || (min === 25 && patch >= 1)));
  const listen = http2On ? `listen 127.0.0.1:${port} ssl backlog=4096;\n        http2 on;` : `listen 127.0.0.1:${port} ssl http2 backlog=4096;`;
  const versions = ['TLSv1.2', 'TLSv1.3'].filter((v) => v >= settings.minVersion && v <= settings.maxVersion).map(nginxVersionName);
  return [
    listen,
    `ssl_certificate ${files.chain};`,
    `ssl_certificate_key ${files.key};`,
    `ssl_protocols ${versions.join(' ')};`,
    `ssl_ciphers ${settings.tls12.join(':')};`,
    `ssl_conf_command Ciphersuites ${settings.tls13.join(':')};`,
    `ssl_ecdh_curve ${settings.groups};`,
    `ssl_prefer_server_ciphers ${settings.honorCipherOrder ? 'on' : 'off'};`,
    'ssl_session_tickets on;',
    'ssl_session_cache off;',
    `ssl_session_timeout ${settings.sessionTimeout ?? 3600}s;`,
    `http2_max_concurrent_streams ${settings.h2MaxStreams};`,
  ].join('\n        ');
}

/** `h2load` when installed (Debian: nghttp2-client), else null. */
function h2loadVersion(which) {
  if (which('h2load') === null) return null;
  const r = spawnSync('h2load', ['--version'], { encoding: 'utf8' });
  return (r.stdout || r.stderr).trim().split('\n')[0];
}

/** Percentiles of h2load's --log-file (start µs, status, duration µs per request). */
function logPercentiles(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { p50: NaN, p99: NaN };
  }
  const xs = [];
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    const line = text.slice(start, nl);
    start = nl + 1;
    const tab = line.lastIndexOf('\t');
    if (tab < 0) continue;
    const us = Number(line.slice(tab + 1));
    if (Number.isFinite(us)) xs.push(us);
  }
  xs.sort((a, b) => a - b);
  const at = (p) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] / 1000 : NaN);
  return { p50: at(50), p99: at(99) };
}

/** What h2load printed: requests done and succeeded, req/s, status classes, the negotiated TLS. */
function parseH2load(out) {
  const num = (re) => {
    const m = out.match(re);
    return m ? Number(m[1]) : NaN;
  };
  const proto = (out.match(/^TLS Protocol: (.+)$/m) ?? [])[1];
  const cipher = (out.match(/^Cipher: (.+)$/m) ?? [])[1];
  const tmpKey = (out.match(/^Server Temp Key: (.+)$/m) ?? [])[1];
  const alpn = (out.match(/^Application protocol: (.+)$/m) ?? [])[1];
  return {
    seconds: num(/^finished in ([\d.]+)s/m),
    rps: num(/^finished in [\d.]+s, ([\d.]+) req\/s/m),
    total: num(/^requests: (\d+) total/m),
    done: num(/(\d+) done/m),
    succeeded: num(/(\d+) succeeded/m),
    failed: num(/(\d+) failed/m),
    errored: num(/(\d+) errored/m),
    timeout: num(/(\d+) timeout/m),
    s2xx: num(/^status codes: (\d+) 2xx/m),
    // Answers other than 2xx (h2load counts a status when its head arrives).
    sOther: num(/ (\d+) 3xx/m) + num(/ (\d+) 4xx/m) + num(/ (\d+) 5xx/m),
    tls: [proto, cipher, tmpKey].filter(Boolean).join(', '),
    alpn,
  };
}

module.exports = { edgeTlsSettings, makeCertificates, nginxTlsDirectives, h2loadVersion, logPercentiles, parseH2load };
