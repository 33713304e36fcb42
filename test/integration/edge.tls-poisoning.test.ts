/**
 * One cache for http and https, attacked: an origin builds its page from X-Forwarded-Proto
 * (absolute links) and says so with `Vary: X-Forwarded-Proto`. The variant is chosen by the
 * value the origin received — the edge's own, from the port the request came in on — never
 * by a client's X-Forwarded-Proto (which is not forwarded). So an attacker's plain request
 * claiming https cannot file an http page where HTTPS clients look, and each scheme gets its
 * own links. Real sockets: the plain port, the HTTPS port (h2 and HTTP/1.1), a recording origin.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCertificateAuthority } from '../../src/bin/demo-pki';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import {
  customer,
  customerTls,
  edgeCertificate,
  edgeConfig,
  h2Request,
  h2Session,
  http,
  silentLogger,
  startScriptedOrigin,
  tempDir,
  type ScriptedOrigin,
} from './edge.harness';

let root: Awaited<ReturnType<typeof tempDir>>;
let origin: ScriptedOrigin;
let edge: EdgeHandle;
let caPem: string;

before(async () => {
  root = await tempDir();
  const ca = await createCertificateAuthority('Poisoning Test CA');
  caPem = ca.certPem;
  const leaf = await ca.issue(['cdn.p.test']);
  origin = await startScriptedOrigin((req, res) => {
    const proto = String(req.headers['x-forwarded-proto']);
    res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'max-age=600', vary: 'X-Forwarded-Proto' });
    res.end(`<a href="${proto}://cdn.p.test/next">next</a>`);
  });
  const customers = createStaticCustomerFeed([
    // httpsRedirect false: plain HTTP keeps answering, so both schemes reach the cache.
    customer('customer-p', origin.url, ['cdn.p.test'], { tls: customerTls([edgeCertificate(leaf, ['cdn.p.test'])], { httpsRedirect: false }) }),
  ]);
  edge = await startEdge(edgeConfig(root.dir), { customers, logger: silentLogger });
});

after(async () => {
  await edge?.close();
  await origin?.close();
  await root?.remove();
});

test('a plain request claiming X-Forwarded-Proto: https never files its http page under the https variant', async () => {
  const attack = await http(edge.url, '/page', { host: 'cdn.p.test', headers: { 'X-Forwarded-Proto': 'https' } });
  assert.equal(attack.status, 200);
  assert.equal(origin.requests.at(-1)!.headers['x-forwarded-proto'], 'http', 'the origin hears the truth');
  assert.match(attack.body, /href="http:\/\//);

  // A clean HTTPS client: its own variant, fetched for it, with https links.
  const session = await h2Session(edge.tlsPort!, 'cdn.p.test', caPem);
  try {
    const first = await h2Request(session, '/page');
    assert.equal(first.status, 200);
    assert.match(first.body, /href="https:\/\//);
    assert.equal(first.headers['x-cache'], 'MISS');
    const again = await h2Request(session, '/page');
    assert.equal(again.headers['x-cache'], 'HIT');
    assert.match(again.body, /href="https:\/\//);
    // An HTTPS client claiming http is not believed either.
    const claim = await h2Request(session, '/page', { 'x-forwarded-proto': 'http' });
    assert.equal(claim.headers['x-cache'], 'HIT');
    assert.match(claim.body, /href="https:\/\//);
  } finally {
    session.close();
  }

  // And a clean plain request gets the http page, from the cache.
  const plain = await http(edge.url, '/page', { host: 'cdn.p.test' });
  assert.equal(plain.headers['x-cache'], 'HIT');
  assert.match(plain.body, /href="http:\/\//);
  assert.equal(origin.requests.length, 2, 'one origin fetch per scheme');
});
