/**
 * Misdirected requests (RFC 9110 §15.5.20, RFC 9113 §9.1.1), written as the attempts: a
 * client that opened a TLS connection for one customer's name asks on it for another
 * customer's host — over h2 (connection reuse) and over HTTP/1.1 (a Host unlike the SNI
 * name). The edge answers 421 and asks no origin; the same connection still serves its own
 * names, and a host its certificate covers for the same customer is served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { createCertificateAuthority } from '../../src/bin/demo-pki';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { customer, customerTls, edgeCertificate, edgeConfig, h2Request, h2Session, silentLogger, startScriptedOrigin, tempDir, type ScriptedOrigin } from './edge.harness';

let root: Awaited<ReturnType<typeof tempDir>>;
let origin: ScriptedOrigin;
let edge: EdgeHandle;
let caPem: string;

before(async () => {
  root = await tempDir();
  const ca = await createCertificateAuthority('Misdirected Test CA');
  caPem = ca.certPem;
  const [a, b] = await Promise.all([ca.issue(['cdn.a.test', 'www.a.test']), ca.issue(['*.b.test'])]);
  origin = await startScriptedOrigin((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' }).end(`${req.headers['x-forwarded-host']}${req.url}`);
  });
  edge = await startEdge(edgeConfig(root.dir), {
    customers: createStaticCustomerFeed([
      customer('customer-a', origin.url, ['cdn.a.test', 'www.a.test'], { tls: customerTls([edgeCertificate(a, ['cdn.a.test', 'www.a.test'])]) }),
      customer('customer-b', origin.url, ['img.b.test', 'static.b.test'], { tls: customerTls([edgeCertificate(b, ['*.b.test'])]) }),
    ]),
    logger: silentLogger,
  });
});

after(async () => {
  await edge?.close();
  await origin?.close();
  await root?.remove();
});

test("h2: a connection opened for one customer is refused (421) for another customer's host; its own names still answer", async () => {
  const session = await h2Session(edge.tlsPort!, 'cdn.a.test', caPem);
  try {
    const asked = origin.requests.length;
    for (let i = 0; i < 2; i++) {
      // Twice: the second time the object may be in memory (hit lane) — still refused.
      const other = await h2Request(session, '/x', { ':authority': 'img.b.test' });
      assert.equal(other.status, 421);
      assert.equal(JSON.parse(other.body).error, 'misdirected');
    }
    // Another customer's host was fetched once, over its own connection, and is cached now.
    const own = await h2Session(edge.tlsPort!, 'img.b.test', caPem);
    try {
      assert.equal((await h2Request(own, '/x')).status, 200);
      assert.equal((await h2Request(own, '/x')).headers['x-cache'], 'HIT');
    } finally {
      own.close();
    }
    assert.equal((await h2Request(session, '/x', { ':authority': 'img.b.test' })).status, 421, 'refused even when cached');
    assert.equal(origin.requests.length, asked + 1, 'only the rightful request reached an origin');
    // The connection's own names: the SNI name, and another name of its certificate and customer.
    assert.equal((await h2Request(session, '/y')).status, 200);
    const www = await h2Request(session, '/w', { ':authority': 'www.a.test' });
    assert.equal(www.status, 200);
    assert.equal(www.body, 'www.a.test/w');
  } finally {
    session.close();
  }
});

test('a wildcard connection serves the other names it covers for its customer', async () => {
  const session = await h2Session(edge.tlsPort!, 'img.b.test', caPem);
  try {
    const res = await h2Request(session, '/z', { ':authority': 'static.b.test' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'static.b.test/z');
  } finally {
    session.close();
  }
});

test("HTTP/1.1 over TLS: a Host of another customer than the SNI name gets 421; the clean request after gets its answer", async () => {
  const exchange = (sni: string, host: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: edge.tlsPort!, servername: sni, ca: caPem, ALPNProtocols: ['http/1.1'] }, () => {
        socket.write(`GET /h1 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      });
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString('utf8')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
  assert.match(await exchange('cdn.a.test', 'img.b.test'), /^HTTP\/1\.1 421 /);
  assert.match(await exchange('cdn.a.test', 'cdn.a.test'), /^HTTP\/1\.1 200 /);
});
