/** Unsafe methods pass through and invalidate (RFC 9111 §4.4). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rfcEdge } from './edge.rfc.harness';

test('a 2xx to POST/PUT/DELETE invalidates the URL and same-host Location/Content-Location, never other hosts', async () => {
  let version = 0;
  const env = await rfcEdge((req, res, body) => {
    if (req.method === 'GET') return void res.writeHead(200, { 'cache-control': 'max-age=600' }).end(`${req.url} v${version}`);
    version += 1;
    const headers: Record<string, string> = {};
    if (req.url === '/items') {
      headers.location = '/items/1';
      headers['content-location'] = 'http://other.example/list';
    }
    res.writeHead(req.url === '/fail' ? 500 : 201, headers).end(`got ${req.method} ${body}`);
  });
  try {
    for (const p of ['/items', '/items/1', '/list', '/fail']) await env.get(p);
    const post = await env.get('/items', { method: 'POST', body: 'new' });
    assert.equal(post.headers['x-cache'], 'BYPASS');
    assert.equal(post.body, 'got POST new');
    assert.equal((await env.get('/items')).headers['x-cache'], 'MISS');
    assert.equal((await env.get('/items/1')).headers['x-cache'], 'MISS', 'Location on the same host');
    assert.equal((await env.get('/list')).headers['x-cache'], 'HIT', 'Content-Location on another host is not touched');
    await env.get('/fail', { method: 'DELETE' });
    assert.equal((await env.get('/fail')).headers['x-cache'], 'HIT', 'an error answer invalidates nothing');
    await env.get('/items', { method: 'PUT', body: 'x' });
    assert.equal((await env.get('/items')).headers['x-cache'], 'MISS');
    assert.equal(env.origin.requests.filter((r) => r.method === 'POST').length, 1, 'never retried');
  } finally {
    await env.cleanup();
  }
});

test('invalidating a varying URL retires all its variants', async () => {
  const env = await rfcEdge((req, res) => {
    if (req.method !== 'GET') return void res.writeHead(204).end();
    res.writeHead(200, { 'cache-control': 'max-age=600', vary: 'accept-language' }).end(String(req.headers['accept-language']));
  });
  try {
    await env.get('/v', { headers: { 'accept-language': 'en' } });
    await env.get('/v', { headers: { 'accept-language': 'fr' } });
    await env.get('/v', { method: 'PATCH', body: '{}' });
    await env.get('/v', { headers: { 'accept-language': 'fr' } });
    const en = await env.get('/v', { headers: { 'accept-language': 'en' } });
    assert.equal(en.headers['x-cache'], 'MISS');
  } finally {
    await env.cleanup();
  }
});
