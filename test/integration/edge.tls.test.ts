/**
 * The HTTPS port through real sockets on loopback, certificates from a test CA
 * (src/bin/demo-pki.ts), checked with node:tls, curl and openssl: the certificate chosen by
 * SNI per customer (wildcards included), unknown or missing SNI refused with a TLS alert and
 * never another customer's certificate, h2 and HTTP/1.1 over TLS sharing the cache, TLS 1.1
 * refused, and the customer's HTTPS rules on the plain port (ACME HTTP-01 answers, the 308
 * to https://) and over TLS (HSTS), with the handshake and per-protocol metrics.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { createCertificateAuthority, type CertificateAuthority } from '../../src/bin/demo-pki';
import { nameMatches } from '../../src/core/certificate.rules';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import {
  closedPort,
  customer,
  customerTls,
  edgeCertificate,
  edgeConfig,
  eventually,
  handshake,
  http,
  pemFile,
  run,
  silentLogger,
  startScriptedOrigin,
  tempDir,
  type ScriptedOrigin,
} from './edge.harness';

let root: Awaited<ReturnType<typeof tempDir>>;
let ca: CertificateAuthority;
let caFile: string;
let origin: ScriptedOrigin;
let edge: EdgeHandle;

const HOUR = 3600_000;

before(async () => {
  root = await tempDir();
  ca = await createCertificateAuthority('Edgeplane Test CA');
  caFile = await pemFile(root.dir, 'ca.pem', ca.certPem);
  origin = await startScriptedOrigin((req, res) => {
    const headers: Record<string, string> = { 'content-type': 'text/plain', 'cache-control': 'max-age=600' };
    if (req.url === '/sts') headers['strict-transport-security'] = 'max-age=1';
    res.writeHead(200, headers);
    res.end(`origin: ${req.headers['x-forwarded-host']} ${req.url} via ${req.headers['x-forwarded-proto']}`);
  });
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const [a, b, c, expired, hsts, noRedirect] = await Promise.all([
    ca.issue(['cdn.a.test']),
    ca.issue(['cdn.b.test', 'www.b.test']),
    ca.issue(['*.c.test']),
    ca.issue(['cdn.e.test'], { notBefore: new Date(Date.now() - 48 * HOUR), notAfter: new Date(Date.now() - 24 * HOUR) }),
    ca.issue(['cdn.h.test', 'down.h.test']),
    ca.issue(['cdn.f.test']),
  ]);
  const customers = [
    customer('customer-a', origin.url, ['cdn.a.test'], {
      tls: customerTls([edgeCertificate(a!, ['cdn.a.test'])], { acmeChallenges: [{ token: 'token-a_1', keyAuthorization: 'token-a_1.thumbprint-a' }] }),
    }),
    customer('customer-b', origin.url, ['cdn.b.test', 'www.b.test'], { tls: customerTls([edgeCertificate(b!, ['cdn.b.test', 'www.b.test'])]) }),
    customer('customer-c', origin.url, ['img.c.test', 'static.c.test'], { tls: customerTls([edgeCertificate(c!, ['*.c.test'])]) }),
    // Plain HTTP only.
    customer('customer-d', origin.url, ['cdn.d.test']),
    // Only an expired certificate: no HTTPS, and no redirect (the default follows the certificate).
    customer('customer-e', origin.url, ['cdn.e.test'], {
      tls: customerTls([edgeCertificate(expired!, ['cdn.e.test'], { notBefore: new Date(Date.now() - 48 * HOUR), notAfter: new Date(Date.now() - 24 * HOUR) })]),
    }),
    // A certificate, but plain HTTP is not redirected; challenges of its own in progress.
    customer('customer-f', origin.url, ['cdn.f.test'], {
      tls: customerTls([edgeCertificate(noRedirect!, ['cdn.f.test'])], { httpsRedirect: false, acmeChallenges: [{ token: 'token-f', keyAuthorization: 'token-f.thumbprint-f' }] }),
    }),
    // Redirected even without a certificate here (the operator says so).
    customer('customer-g', origin.url, ['cdn.g.test'], { tls: customerTls([], { httpsRedirect: true }) }),
    customer('customer-h', origin.url, ['cdn.h.test'], {
      tls: customerTls([edgeCertificate(hsts!, ['cdn.h.test', 'down.h.test'])], { httpsRedirect: false, hsts: { maxAge: 31536000, includeSubDomains: true, preload: false } }),
    }),
    customer('customer-h-down', dead, ['down.h.test'], {
      tls: customerTls([edgeCertificate(hsts!, ['cdn.h.test', 'down.h.test'])], { httpsRedirect: false, hsts: { maxAge: 600, includeSubDomains: false, preload: false } }),
    }),
  ];
  edge = await startEdge(edgeConfig(path.join(root.dir, 'data')), { customers: createStaticCustomerFeed(customers), logger: silentLogger });
});

after(async () => {
  await edge?.close();
  await origin?.close();
  await root?.remove();
});

async function metric(name: string, labels: string): Promise<number> {
  const text = await edge.metrics.registry.metrics();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

function openssl(servername: string | undefined, extra: string[] = []): ReturnType<typeof run> {
  const sni = servername === undefined ? ['-noservername'] : ['-servername', servername];
  return run('openssl', ['s_client', '-connect', `127.0.0.1:${edge.tlsPort}`, ...sni, '-CAfile', caFile, '-verify_return_error', ...extra]);
}

function curl(name: string, target: string, version: '--http2' | '--http1.1'): ReturnType<typeof run> {
  const port = edge.tlsPort!;
  return run('curl', ['-sS', version, '--cacert', caFile, '--resolve', `${name}:${port}:127.0.0.1`, '-D', '-', '-w', '\nversion=%{http_version}', `https://${name}:${port}${target}`]);
}

test('the HTTPS port listens beside the plain one, on a port of its own', () => {
  assert.ok(edge.tlsPort !== undefined && edge.tlsPort > 0);
  assert.notEqual(edge.tlsPort, edge.port);
  assert.equal(edge.tlsUrl, `https://127.0.0.1:${edge.tlsPort}`);
});

test("SNI picks each customer's own certificate (node:tls and openssl s_client); a wildcard serves a matching subdomain", async () => {
  const cases: Array<[string, string[]]> = [
    ['cdn.a.test', ['cdn.a.test']],
    ['cdn.b.test', ['cdn.b.test', 'www.b.test']],
    ['www.b.test', ['cdn.b.test', 'www.b.test']],
    ['img.c.test', ['*.c.test']],
    ['static.c.test', ['*.c.test']],
    ['CDN.A.Test', ['cdn.a.test']],
  ];
  for (const [name, names] of cases) {
    const hs = await handshake(edge.tlsPort!, name, ca.certPem);
    hs.socket.end();
    assert.deepEqual(hs.names, names, name);
    assert.ok(hs.socket.authorized, `${name}: the chain verifies against the test CA`);
    assert.ok(hs.names.some((n) => nameMatches(n, name)), `${name}: the certificate names the host asked for`);
    const out = await openssl(name);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`subject=CN ?= ?${names[0]!.replace(/[.*]/g, '\\$&')}`), name);
    assert.match(out.stdout, /Verify return code: 0 \(ok\)/);
  }
});

test("an unknown name, a customer without a (valid) certificate, and no SNI at all fail the handshake with an alert: no default certificate, never another customer's", async () => {
  const before = {
    unknown: await metric('cdn_edge_tls_handshake_failures_total', 'reason="unknown_sni"'),
    none: await metric('cdn_edge_tls_handshake_failures_total', 'reason="no_sni"'),
  };
  // cdn.d.test has no tls; cdn.e.test only an expired certificate; cdn.g.test none at all; a.c.b.c.test is not the wildcard's.
  for (const name of ['cdn.unknown.test', 'cdn.d.test', 'cdn.e.test', 'cdn.g.test', 'a.img.c.test']) {
    await assert.rejects(handshake(edge.tlsPort!, name, ca.certPem), (err: Error & { code?: string }) => {
      assert.match(String(err.code), /ALERT_HANDSHAKE_FAILURE/, `${name}: ${err.message}`);
      return true;
    });
    // Not even without verification: the edge presents nothing.
    await assert.rejects(handshake(edge.tlsPort!, name, ca.certPem, { rejectUnauthorized: false }), /alert handshake failure/i);
    const out = await openssl(name);
    assert.notEqual(out.code, 0, name);
    assert.match(out.stdout + out.stderr, /alert handshake failure|no peer certificate available/, name);
    assert.doesNotMatch(out.stdout, /subject=/, `${name}: no certificate was presented`);
  }
  await assert.rejects(handshake(edge.tlsPort!, undefined, ca.certPem, { rejectUnauthorized: false }), /alert handshake failure/i);
  const none = await openssl(undefined);
  assert.notEqual(none.code, 0);
  assert.doesNotMatch(none.stdout, /subject=/);
  assert.ok((await metric('cdn_edge_tls_handshake_failures_total', 'reason="unknown_sni"')) >= before.unknown + 15, 'each unknown name counted');
  assert.ok((await metric('cdn_edge_tls_handshake_failures_total', 'reason="no_sni"')) >= before.none + 2, 'each handshake without SNI counted');
  // The clean request after: a known name still gets its certificate.
  const hs = await handshake(edge.tlsPort!, 'cdn.a.test', ca.certPem);
  hs.socket.end();
  assert.deepEqual(hs.names, ['cdn.a.test']);
});

test('curl over h2 and over HTTP/1.1: MISS then HIT, one origin request, the cache shared with plain HTTP; requests counted by protocol', async () => {
  const h2Before = await metric('cdn_edge_requests_by_protocol_total', 'customer="customer-b",protocol="h2",scheme="https"');
  const h1Before = await metric('cdn_edge_requests_by_protocol_total', 'customer="customer-b",protocol="h1",scheme="https"');
  const asked = origin.requests.length;
  const first = await curl('cdn.b.test', '/curl-h2', '--http2');
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^HTTP\/2 200/);
  assert.match(first.stdout, /x-cache: MISS/i);
  assert.match(first.stdout, /origin: cdn\.b\.test \/curl-h2 via https/);
  const second = await curl('cdn.b.test', '/curl-h2', '--http2');
  assert.match(second.stdout, /x-cache: HIT/i);
  assert.match(second.stdout, /version=2$/);
  assert.doesNotMatch(second.stdout, /^(connection|keep-alive|transfer-encoding):/im, 'no connection-specific fields on h2');

  const h1 = await curl('www.b.test', '/curl-h1', '--http1.1');
  assert.match(h1.stdout, /^HTTP\/1\.1 200/);
  assert.match(h1.stdout, /x-cache: MISS/i);
  const h1Again = await curl('www.b.test', '/curl-h1', '--http1.1');
  assert.match(h1Again.stdout, /x-cache: HIT/i);
  assert.match(h1Again.stdout, /version=1\.1$/);
  // One cache whatever the protocol: h2 reads what HTTP/1.1 over TLS stored, plain HTTP what h2 stored.
  assert.match((await curl('www.b.test', '/curl-h1', '--http2')).stdout, /x-cache: HIT/i);
  assert.match((await curl('cdn.f.test', '/shared', '--http2')).stdout, /x-cache: MISS/i);
  assert.equal((await http(edge.url, '/shared', { host: 'cdn.f.test' })).headers['x-cache'], 'HIT');
  assert.equal(origin.requests.length, asked + 3, 'one origin request per object');

  assert.equal(await metric('cdn_edge_requests_by_protocol_total', 'customer="customer-b",protocol="h2",scheme="https"'), h2Before + 3);
  assert.equal(await metric('cdn_edge_requests_by_protocol_total', 'customer="customer-b",protocol="h1",scheme="https"'), h1Before + 2);
  assert.ok((await metric('cdn_edge_requests_by_protocol_total', 'customer="customer-f",protocol="h1",scheme="http"')) >= 1);
  assert.ok((await metric('cdn_edge_tls_handshakes_total', 'version="TLSv1.3"')) >= 5);
});

test('TLS 1.1 is refused (node:tls and openssl -tls1_1); TLS 1.2 gets ECDHE with an AEAD cipher, and nothing weaker', async () => {
  const before = await metric('cdn_edge_tls_handshake_failures_total', 'reason="protocol_version"');
  // The clients allow TLS 1.1 themselves (security level 0): the refusal is the edge's.
  await assert.rejects(handshake(edge.tlsPort!, 'cdn.a.test', ca.certPem, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }), /protocol version/i);
  const old = await openssl('cdn.a.test', ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
  assert.notEqual(old.code, 0);
  assert.match(old.stdout + old.stderr, /alert protocol version/);
  assert.equal(await metric('cdn_edge_tls_handshake_failures_total', 'reason="protocol_version"'), before + 2);

  const tls12 = await handshake(edge.tlsPort!, 'cdn.a.test', ca.certPem, { maxVersion: 'TLSv1.2' });
  const cipher = tls12.socket.getCipher();
  tls12.socket.end();
  assert.equal(tls12.protocol, 'TLSv1.2');
  assert.match(cipher.name, /^ECDHE-(ECDSA|RSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/);
  const noShared = await metric('cdn_edge_tls_handshake_failures_total', 'reason="no_shared_cipher"');
  for (const weak of ['AES128-SHA', 'ECDHE-ECDSA-AES128-SHA', 'AES256-SHA256']) {
    await assert.rejects(handshake(edge.tlsPort!, 'cdn.a.test', ca.certPem, { maxVersion: 'TLSv1.2', ciphers: weak }), /handshake failure/i, weak);
  }
  assert.equal(await metric('cdn_edge_tls_handshake_failures_total', 'reason="no_shared_cipher"'), noShared + 3);
  const tls13 = await handshake(edge.tlsPort!, 'cdn.a.test', ca.certPem);
  tls13.socket.end();
  assert.equal(tls13.protocol, 'TLSv1.3');
});

test('ALPN offers h2 and http/1.1 on the one port; a client without ALPN speaks HTTP/1.1', async () => {
  for (const [offer, expected] of [[['h2', 'http/1.1'], 'h2'], [['http/1.1'], 'http/1.1']] as const) {
    const hs = await handshake(edge.tlsPort!, 'cdn.a.test', ca.certPem, { ALPNProtocols: [...offer] });
    hs.socket.end();
    assert.equal(hs.alpn, expected);
  }
  const bare = await run('curl', ['-sS', '--http1.1', '--no-alpn', '--cacert', caFile, '--resolve', `cdn.a.test:${edge.tlsPort}:127.0.0.1`, '-o', '/dev/null', '-w', '%{http_code} %{http_version}', `https://cdn.a.test:${edge.tlsPort}/no-alpn`]);
  assert.equal(bare.stdout, '200 1.1', bare.stderr);
});

test("plain HTTP: 308 to https:// on the customer's own host name, never the client's spelling or port, the target kept; the origin is not asked", async () => {
  const asked = origin.requests.length;
  for (const [host, target] of [['cdn.a.test', '/r?b=2&a=1'], ['CDN.A.TEST.:8080', '/r%20x?q'], ['cdn.g.test', '/forced']]) {
    const res = await http(edge.url, target, { host });
    assert.equal(res.status, 308, host);
    assert.equal(res.headers.location, `https://${host.toLowerCase().replace(/\.?(:\d+)?$/, '')}${target}`);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['strict-transport-security'], undefined, 'never HSTS over plain HTTP');
  }
  // Methods and absolute-form targets too (308 keeps the method and body).
  const post = await http(edge.url, '/form', { host: 'cdn.a.test', method: 'POST', body: 'x=1' });
  assert.equal(post.status, 308);
  assert.equal(post.headers.location, 'https://cdn.a.test/form');
  const absolute = await http(edge.url, '/', { host: 'cdn.a.test', target: 'http://cdn.a.test/abs?x=1' });
  assert.equal(absolute.headers.location, 'https://cdn.a.test/abs?x=1');
  // A hit in memory does not skip the redirect (the hit lane defers to the https step).
  await curl('cdn.a.test', '/cached', '--http2');
  assert.equal((await curl('cdn.a.test', '/cached', '--http2')).stdout.match(/x-cache: (\w+)/i)?.[1], 'HIT');
  assert.equal((await http(edge.url, '/cached', { host: 'cdn.a.test' })).status, 308);
  assert.equal(origin.requests.length, asked + 1, 'only the HTTPS fetch of /cached reached the origin');
});

test('no redirect when httpsRedirect is false, without any certificate, or with only an expired one (the default follows the certificate)', async () => {
  for (const host of ['cdn.f.test', 'cdn.d.test', 'cdn.e.test']) {
    const res = await http(edge.url, '/stay-plain', { host });
    assert.equal(res.status, 200, host);
    assert.equal(res.body, `origin: ${host} /stay-plain via http`);
  }
});

test('CDN_EDGE_TLS_PUBLIC_PORT puts its port in the redirect; an edge without an HTTPS port never redirects', async () => {
  const customers = createStaticCustomerFeed([customer('customer-a', origin.url, ['cdn.a.test'], { tls: customerTls([edgeCertificate(await ca.issue(['cdn.a.test']), ['cdn.a.test'])]) })]);
  const published = await startEdge(edgeConfig(path.join(root.dir, 'published'), { CDN_EDGE_TLS_PUBLIC_PORT: '8443' }), { customers, logger: silentLogger });
  try {
    const res = await http(published.url, '/p?x=1', { host: 'cdn.a.test:80' });
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, 'https://cdn.a.test:8443/p?x=1');
  } finally {
    await published.close();
  }
  const plainOnly = await startEdge(edgeConfig(path.join(root.dir, 'plain-only'), { CDN_EDGE_TLS_PORT: 'off' }), { customers, logger: silentLogger });
  try {
    assert.equal(plainOnly.tlsPort, undefined);
    assert.equal(plainOnly.tlsUrl, undefined);
    const res = await http(plainOnly.url, '/behind-a-terminator', { host: 'cdn.a.test' });
    assert.equal(res.status, 200, 'a TLS terminator in front would loop on a redirect');
  } finally {
    await plainOnly.close();
  }
});

test('ACME HTTP-01: a challenge in progress is answered on the plain port (GET and HEAD, before any redirect), never stored nor asked of the origin; an unknown token takes the pipeline', async () => {
  const asked = origin.requests.length;
  for (let i = 0; i < 2; i += 1) {
    const res = await http(edge.url, '/.well-known/acme-challenge/token-a_1', { host: 'cdn.a.test' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'token-a_1.thumbprint-a');
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['x-cache'], undefined, 'not from the cache');
  }
  const head = await http(edge.url, '/.well-known/acme-challenge/token-a_1', { host: 'cdn.a.test', method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String('token-a_1.thumbprint-a'.length));
  assert.equal(head.body, '');
  const noRedirect = await http(edge.url, '/.well-known/acme-challenge/token-f', { host: 'cdn.f.test' });
  assert.equal(noRedirect.body, 'token-f.thumbprint-f');
  // Another customer's token is not this customer's answer.
  assert.notEqual((await http(edge.url, '/.well-known/acme-challenge/token-a_1', { host: 'cdn.f.test' })).body, 'token-a_1.thumbprint-a');
  assert.equal(origin.requests.filter((r) => r.url.includes('token-a_1') && r.headers['x-forwarded-host'] === 'cdn.a.test').length, 0);
  assert.equal(origin.requests.length, asked + 1, 'only the other customer\'s unknown token reached the origin');
  // Unknown tokens: as any other path (redirected for a customer that redirects, fetched otherwise).
  assert.equal((await http(edge.url, '/.well-known/acme-challenge/unknown', { host: 'cdn.a.test' })).status, 308);
  const unknown = await http(edge.url, '/.well-known/acme-challenge/unknown', { host: 'cdn.f.test' });
  assert.equal(unknown.body, 'origin: cdn.f.test /.well-known/acme-challenge/unknown via http');
  // Over TLS the challenge path is an ordinary path.
  assert.match((await curl('cdn.a.test', '/.well-known/acme-challenge/token-a_1', '--http2')).stdout, /origin: cdn\.a\.test/);
});

test("HSTS: the customer's policy on every HTTPS answer (h2 and HTTP/1.1, miss, hit, error), over the origin's own; never on plain HTTP", async () => {
  const value = 'max-age=31536000; includeSubDomains';
  for (const version of ['--http2', '--http1.1'] as const) {
    for (const cache of ['MISS', 'HIT']) {
      const out = await curl('cdn.h.test', `/hsts${version}`, version);
      assert.match(out.stdout, new RegExp(`x-cache: ${cache}`, 'i'));
      assert.match(out.stdout, new RegExp(`strict-transport-security: ${value}\\r?\\n`, 'i'), `${version} ${cache}`);
    }
  }
  const sts = await curl('cdn.h.test', '/sts', '--http2');
  assert.equal(sts.stdout.match(/strict-transport-security: .*/gi)?.length, 1);
  assert.match(sts.stdout, new RegExp(`strict-transport-security: ${value}`, 'i'), 'the customer policy wins over the origin');
  const error = await curl('down.h.test', '/x', '--http2');
  assert.match(error.stdout, /^HTTP\/2 502/);
  assert.match(error.stdout, /strict-transport-security: max-age=600\r?\n/i);
  const plain = await http(edge.url, '/hsts--http2', { host: 'cdn.h.test' });
  assert.equal(plain.headers['x-cache'], 'HIT');
  assert.equal(plain.headers['strict-transport-security'], undefined);
  // Customers without a policy: none.
  assert.doesNotMatch((await curl('cdn.b.test', '/curl-h2', '--http2')).stdout, /strict-transport-security/i);
});

test("HTTP/1.1 over TLS keeps the plain port's client limits: a head too large gets 431, a head that does not arrive in time 408; a handshake that does not finish is closed", async () => {
  const customers = createStaticCustomerFeed([customer('customer-a', origin.url, ['cdn.a.test'], { tls: customerTls([edgeCertificate(await ca.issue(['cdn.a.test']), ['cdn.a.test'])]) })]);
  const strict = await startEdge(edgeConfig(path.join(root.dir, 'strict'), { CDN_EDGE_CLIENT_TIMEOUT_MS: '600', CDN_EDGE_MAX_HEADER_BYTES: '4096', CDN_EDGE_MAX_URL_BYTES: '1024' }), {
    customers,
    logger: silentLogger,
  });
  /** Writes `data` over TLS (HTTP/1.1 by ALPN) and reads until the edge closes: what came back and when. */
  const exchange = (data: string): Promise<{ head: string; body: string; closedAfterMs: number }> =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const socket = tlsConnect({ host: '127.0.0.1', port: strict.tlsPort!, servername: 'cdn.a.test', ca: ca.certPem, ALPNProtocols: ['http/1.1'] }, () => socket.write(data));
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', reject);
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const split = text.indexOf('\r\n\r\n');
        resolve({ head: text.slice(0, split), body: text.slice(split + 4), closedAfterMs: Date.now() - started });
      });
    });
  try {
    const large = await exchange(`GET /x HTTP/1.1\r\nHost: cdn.a.test\r\nX-Big: ${'b'.repeat(5000)}\r\n\r\n`);
    assert.match(large.head, /^HTTP\/1\.1 431/);
    assert.equal(JSON.parse(large.body).error, 'headers_too_large');
    const slow = await exchange('GET /x HTTP/1.1\r\nHost: cdn.a.test\r\n');
    assert.match(slow.head, /^HTTP\/1\.1 408/);
    assert.ok(slow.closedAfterMs < 3_000, `closed after ${slow.closedAfterMs} ms`);
    // A TCP connection that never starts its TLS handshake.
    const before = Number(/reason="timeout"\} (\d+)/.exec(await strict.metrics.registry.metrics())?.[1] ?? 0);
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const raw = netConnect(strict.tlsPort!, '127.0.0.1');
      raw.on('error', () => {});
      raw.on('close', () => resolve());
    });
    assert.ok(Date.now() - started < 3_000, `closed after ${Date.now() - started} ms`);
    await eventually(async () => Number(/reason="timeout"\} (\d+)/.exec(await strict.metrics.registry.metrics())?.[1] ?? 0) === before + 1, 2_000, 'counted as a handshake timeout');
    // The clean request after.
    const clean = await exchange('GET /clean HTTP/1.1\r\nHost: cdn.a.test\r\nConnection: close\r\n\r\n');
    assert.match(clean.head, /^HTTP\/1\.1 200/);
  } finally {
    await strict.close();
  }
});
