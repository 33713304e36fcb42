/** Hop-by-hop headers (RFC 9110 §7.6.1) both ways; Connection cannot remove what the edge adds; 1xx and 3xx. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rfcEdge } from './edge.rfc.harness';

test('hop-by-hop and Connection-named headers are stripped both ways; edge headers survive Connection', async () => {
  const env = await rfcEdge((_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', connection: 'x-origin-hop, x-cache, via', 'x-origin-hop': '1', 'keep-alive': 'timeout=5', 'x-end': 'yes' }).end('ok');
  }, { basicAuth: { username: 'u', password: 'p' } });
  try {
    const res = await env.get('/h', {
      headers: { Connection: 'x-client-hop, authorization, via, x-forwarded-for, x-forwarded-host, accept-language', 'X-Client-Hop': '1', 'Proxy-Authorization': 'secret', TE: 'trailers', Accept: 'text/plain', 'Accept-Language': 'fr' },
    });
    const got = env.origin.requests[0]!.headers;
    assert.equal(got['x-client-hop'], undefined);
    assert.equal(got['proxy-authorization'], undefined);
    assert.equal(got.te, undefined);
    assert.equal(got.accept, 'text/plain');
    assert.equal(got['accept-language'], undefined, 'an allowed field the client names in Connection is hop-by-hop');
    assert.equal(got.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
    assert.equal(got.via, '1.1 edgeplane');
    assert.equal(got['x-forwarded-host'], 'cdn.a.test');
    assert.ok(got['x-forwarded-for']);
    assert.equal(res.headers['x-origin-hop'], undefined);
    assert.equal(res.headers['keep-alive'] === 'timeout=5', false);
    assert.equal(res.headers['x-end'], 'yes');
    assert.equal(res.headers['x-cache'], 'MISS');
    assert.equal(res.headers.via, '1.1 edgeplane');
    const hit = await env.get('/h');
    assert.equal(hit.headers['x-origin-hop'], undefined);
    assert.equal(hit.headers['x-cache'], 'HIT');
  } finally {
    await env.cleanup();
  }
});

test('103 Early Hints are tolerated; a 3xx is passed on, never followed with the customer credentials', async () => {
  const env = await rfcEdge((req, res) => {
    if (req.url === '/hints') {
      res.writeEarlyHints({ link: '</a.css>; rel=preload' });
      return void res.writeHead(200, { 'cache-control': 'max-age=60' }).end('final');
    }
    res.writeHead(302, { location: 'http://elsewhere.example/steal' }).end();
  }, { basicAuth: { username: 'u', password: 'p' } });
  try {
    const hints = await env.get('/hints');
    assert.equal(hints.status, 200);
    assert.equal(hints.body, 'final');
    const redirect = await env.get('/go');
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.location, 'http://elsewhere.example/steal');
    assert.equal(env.origin.requests.length, 2);
  } finally {
    await env.cleanup();
  }
});
