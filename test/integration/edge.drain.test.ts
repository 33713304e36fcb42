/**
 * How a draining edge lets go of connections that have not sent a request yet
 * (src/edge/drain-grace.ts), played as a browser or a balancer sees it, over real sockets: a
 * connection the edge accepted (and, over TLS, whose handshake completed) just before close()
 * still gets its request answered, with `Connection: close`; a new connection is refused; a
 * connection that never sends anything is closed without a byte and does not hold the drain.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { createCertificateAuthority } from '../../src/bin/demo-pki';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { openSocket, untilClosed, untilRefused } from '../support/raw-sockets';
import { cacheableOrigin, customer, customerTls, edgeCertificate, edgeConfig, silentLogger, tempDir } from './edge.harness';

const DOMAIN = 'cdn.drain.test';
const cleanups: Array<() => Promise<unknown> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function drainingEdge(handles: string): Promise<{ edge: EdgeHandle; ca: string }> {
  const origin = await cacheableOrigin();
  cleanups.push(() => origin.close());
  const dir = await tempDir();
  cleanups.push(() => dir.remove());
  const authority = await createCertificateAuthority('Edgeplane Drain Test CA');
  const leaf = await authority.issue([DOMAIN]);
  const edge = await startEdge(edgeConfig(path.join(dir.dir, 'data'), { CDN_EDGE_ACCEPT_HANDLES: handles }), {
    customers: createStaticCustomerFeed([customer('drain-customer', origin.url, [DOMAIN], { tls: customerTls([edgeCertificate(leaf, [DOMAIN])], { httpsRedirect: false }) })]),
    logger: silentLogger,
  });
  let closed = false;
  cleanups.push(() => (closed ? undefined : edge.close()));
  const close = edge.close.bind(edge);
  edge.close = () => {
    closed = true;
    return close();
  };
  return { edge, ca: authority.certPem };
}

for (const handles of ['1', '4']) {
  test(`a draining edge answers the request of a connection it accepted before close(), refuses new ones and closes a silent one (${handles} accept handle(s))`, async () => {
    const { edge, ca } = await drainingEdge(handles);
    const early = await openSocket(edge.port);
    const earlyEnd = untilClosed(early);
    const silent = await openSocket(edge.port);
    const silentEnd = untilClosed(silent);
    const secure = tlsConnect({ port: edge.tlsPort!, host: '127.0.0.1', servername: DOMAIN, ca, ALPNProtocols: ['http/1.1'] });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', () => resolve()).once('error', reject));
    const secureEnd = untilClosed(secure as unknown as Socket);
    // Accepted by the edge (its loop is idle), nothing sent yet.
    await sleep(200);

    const closing = edge.close();
    await untilRefused(edge.port, 'the edge');
    early.write(`GET /early.txt HTTP/1.1\r\nHost: ${DOMAIN}\r\n\r\n`);
    secure.write(`GET /secure.txt HTTP/1.1\r\nHost: ${DOMAIN}\r\n\r\n`);

    const plain = await earlyEnd;
    assert.equal(plain.error, undefined, `the early connection was cut: ${plain.error}`);
    assert.match(plain.data, /^HTTP\/1\.1 200 /, plain.data.slice(0, 300));
    assert.match(plain.data, /\r\nconnection: close\r\n/i, 'answered, then closed: the edge is draining');
    assert.match(plain.data, /origin \/early\.txt/);
    const tls = await secureEnd;
    assert.equal(tls.error, undefined, `the TLS connection was cut: ${tls.error}`);
    assert.match(tls.data, /^HTTP\/1\.1 200 /, tls.data.slice(0, 300));
    assert.match(tls.data, /origin \/secure\.txt/);

    await closing;
    assert.equal((await silentEnd).data, '', 'a silent connection is closed without an answer');
  });
}
