/**
 * RFC 9111 freshness and storability at the edge: s-maxage / max-age / Expires / Age /
 * Date, the customer's cacheTtl only as heuristic freshness, CDN-Cache-Control (RFC 9213),
 * and what is never stored (no-store, private, Set-Cookie, Authorization, no-cache).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pause, rfcEdge } from './edge.rfc.harness';

test('s-maxage beats max-age, max-age beats cacheTtl; Age counts from the stored Age', async () => {
  const env = await rfcEdge((req, res) => {
    if (req.url === '/s') res.writeHead(200, { 'cache-control': 'max-age=1000, s-maxage=10' }).end('s');
    else res.writeHead(200, { 'cache-control': 'max-age=20', age: '5' }).end('m');
  }, { cacheTtl: 3600 });
  try {
    assert.equal((await env.get('/s')).headers['x-cache'], 'MISS');
    const m = await env.get('/m');
    assert.equal(m.headers['x-cache'], 'MISS');
    assert.equal(m.headers.age, '5', 'a response that arrived with age says so');
    env.clock.advance(9_000);
    assert.equal((await env.get('/s')).headers['x-cache'], 'HIT');
    const hit = await env.get('/m');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers.age, '14');
    env.clock.advance(2_000); // s: 11 s old (> s-maxage 10); m: 16 s (< 20)
    assert.equal((await env.get('/s')).headers['x-cache'], 'MISS');
    assert.equal((await env.get('/m')).headers['x-cache'], 'HIT');
    env.clock.advance(5_000); // m: 21 s
    assert.equal((await env.get('/m')).headers['x-cache'], 'MISS');
    assert.equal(env.hits('/s'), 2);
    assert.equal(env.hits('/m'), 2);
  } finally {
    await env.cleanup();
  }
});

test('Expires is measured from Date; an old Date counts as age (RFC 9111 §4.2.3)', async () => {
  const env = await rfcEdge((req, res, _b, clock) => {
    const now = clock.now();
    if (req.url === '/expires') res.writeHead(200, { date: new Date(now).toUTCString(), expires: new Date(now + 30_000).toUTCString() }).end('e');
    else if (req.url === '/past') res.writeHead(200, { expires: 'Thu, 01 Jan 1970 00:00:00 GMT' }).end('p');
    else res.writeHead(200, { date: new Date(now - 50_000).toUTCString(), 'cache-control': 'max-age=60' }).end('old');
  });
  try {
    await env.get('/expires');
    env.clock.advance(29_000);
    assert.equal((await env.get('/expires')).headers['x-cache'], 'HIT');
    env.clock.advance(2_000);
    assert.equal((await env.get('/expires')).headers['x-cache'], 'MISS');
    await env.get('/past');
    assert.equal((await env.get('/past')).headers['x-cache'], 'MISS', 'an Expires in the past is stale at once, cacheTtl does not apply');
    await env.get('/old');
    const old = await env.get('/old');
    assert.equal(old.headers['x-cache'], 'HIT');
    assert.equal(old.headers.age, '50');
    env.clock.advance(11_000);
    assert.equal((await env.get('/old')).headers['x-cache'], 'MISS', 'fresh for 60 s minus the 50 s it was already old');
  } finally {
    await env.cleanup();
  }
});

test('cacheTtl applies only without explicit freshness, and never over no-cache', async () => {
  const env = await rfcEdge((req, res) => {
    if (req.url === '/none') res.writeHead(200).end('n');
    else if (req.url === '/zero') res.writeHead(200, { 'cache-control': 'max-age=0' }).end('z');
    else res.writeHead(200, { 'cache-control': 'no-cache' }).end('nc');
  }, { cacheTtl: 100 });
  try {
    await env.get('/none');
    env.clock.advance(99_000);
    assert.equal((await env.get('/none')).headers['x-cache'], 'HIT');
    env.clock.advance(2_000);
    assert.equal((await env.get('/none')).headers['x-cache'], 'MISS');
    for (const p of ['/zero', '/nocache']) {
      await env.get(p);
      await pause(20);
      assert.equal((await env.get(p)).headers['x-cache'], 'MISS', p);
      assert.equal(env.hits(p), 2, p);
    }
  } finally {
    await env.cleanup();
  }
});

test('CDN-Cache-Control wins over Cache-Control for the edge and is not sent to clients', async () => {
  const env = await rfcEdge((req, res) => {
    if (req.url === '/cdn-long') res.writeHead(200, { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' }).end('long');
    else res.writeHead(200, { 'cache-control': 'public, max-age=600', 'cdn-cache-control': 'no-store' }).end('none');
  });
  try {
    const first = await env.get('/cdn-long');
    assert.equal(first.headers['cdn-cache-control'], undefined);
    assert.equal(first.headers['cache-control'], 'no-store', 'clients still get the origin Cache-Control');
    const hit = await env.get('/cdn-long');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers['cdn-cache-control'], undefined);
    env.clock.advance(61_000);
    assert.equal((await env.get('/cdn-long')).headers['x-cache'], 'MISS');
    await env.get('/cdn-none');
    assert.equal((await env.get('/cdn-none')).headers['x-cache'], 'MISS');
    assert.equal(env.hits('/cdn-none'), 2);
  } finally {
    await env.cleanup();
  }
});

test('no-store, private, Set-Cookie are never stored', async () => {
  const env = await rfcEdge((req, res) => {
    const headers: Record<string, string> = { 'cache-control': 'public, max-age=600' };
    if (req.url === '/no-store') headers['cache-control'] = 'max-age=600, No-Store';
    if (req.url === '/private') headers['cache-control'] = 'private, max-age=600';
    if (req.url === '/cookie') headers['set-cookie'] = 'id=1';
    res.writeHead(200, headers).end(req.url);
  });
  try {
    for (const p of ['/no-store', '/private', '/cookie', '/ok']) {
      await env.get(p);
      await pause(10);
      await env.get(p);
    }
    assert.equal(env.hits('/no-store'), 2);
    assert.equal(env.hits('/private'), 2);
    assert.equal(env.hits('/cookie'), 2);
    assert.equal(env.hits('/ok'), 1);
  } finally {
    await env.cleanup();
  }
});

test('Authorization: forwarded without customer Basic Auth; stored only when public, s-maxage or must-revalidate', async () => {
  const env = await rfcEdge((req, res) => {
    const cc = req.url === '/public' ? 'public, max-age=600' : req.url === '/smax' ? 's-maxage=600' : 'max-age=600';
    res.writeHead(200, { 'cache-control': cc }).end(`for ${req.headers.authorization ?? 'nobody'}`);
  });
  try {
    const auth = { authorization: 'Bearer alice' };
    assert.equal((await env.get('/plain', { headers: auth })).body, 'for Bearer alice');
    const other = await env.get('/plain', { headers: { authorization: 'Bearer bob' } });
    assert.equal(other.body, 'for Bearer bob', "one user's answer is never served to another");
    const anon = await env.get('/plain');
    assert.equal(anon.body, 'for nobody');
    assert.equal(env.hits('/plain'), 3);
    for (const p of ['/public', '/smax']) {
      await env.get(p, { headers: auth });
      const hit = await env.get(p, { headers: { authorization: 'Bearer bob' } });
      assert.equal(hit.headers['x-cache'], 'HIT', p);
      assert.equal(env.hits(p), 1, p);
    }
    assert.equal(env.origin.requests[0]!.headers.authorization, 'Bearer alice');
  } finally {
    await env.cleanup();
  }
});

test('with customer Basic Auth the origin gets the customer credentials, storability follows the client request', async () => {
  const env = await rfcEdge((req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600' }).end(String(req.headers.authorization));
  }, { basicAuth: { username: 'u', password: 'p' } });
  try {
    const withAuth = await env.get('/x', { headers: { authorization: 'Bearer client' } });
    assert.equal(withAuth.body, `Basic ${Buffer.from('u:p').toString('base64')}`);
    await env.get('/x', { headers: { authorization: 'Bearer client' } });
    assert.equal(env.hits('/x'), 2, 'a request with Authorization does not store a non-public answer');
    await env.get('/x');
    assert.equal((await env.get('/x')).headers['x-cache'], 'HIT');
    assert.equal(env.hits('/x'), 3);
  } finally {
    await env.cleanup();
  }
});

test('the query string follows the customer policy in the key and at the origin', async () => {
  const env = await rfcEdge((req, res) => res.writeHead(200, { 'cache-control': 'max-age=60' }).end(req.url), { queryString: { mode: 'allowlist', allow: ['a', 'b'] } });
  try {
    const first = await env.get('/q?b=2&utm=x&a=1');
    assert.equal(first.body, '/q?a=1&b=2');
    const second = await env.get('/q?a=1&b=2&utm=y');
    assert.equal(second.headers['x-cache'], 'HIT');
    assert.equal(env.origin.requests.length, 1);
  } finally {
    await env.cleanup();
  }
});
