/** Revalidation with validators (RFC 9111 §4.3) and client preconditions answered from cache (RFC 9110 §13). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rfcEdge } from './edge.rfc.harness';

test('a stale object with an ETag is revalidated: 304 refreshes headers and freshness (REVALIDATED)', async () => {
  let version = 1;
  const env = await rfcEdge((req, res) => {
    if (req.headers['if-none-match'] === '"v1"' && version === 1) return void res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=10', 'x-note': 'refreshed' }).end();
    res.writeHead(200, { etag: `"v${version}"`, 'cache-control': 'max-age=10', 'x-note': 'first' }).end(`body v${version}`);
  });
  try {
    await env.get('/r');
    env.clock.advance(11_000);
    const reval = await env.get('/r');
    assert.equal(reval.headers['x-cache'], 'REVALIDATED');
    assert.equal(reval.body, 'body v1');
    assert.equal(reval.headers['x-note'], 'refreshed');
    assert.equal(env.origin.requests[1]!.headers['if-none-match'], '"v1"');
    const hit = await env.get('/r');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers['x-note'], 'refreshed', 'the stored headers were updated');
    env.clock.advance(11_000);
    version = 2;
    const changed = await env.get('/r');
    assert.equal(changed.headers['x-cache'], 'MISS');
    assert.equal(changed.body, 'body v2');
    assert.equal(env.hits('/r'), 3);
  } finally {
    await env.cleanup();
  }
});

test('Last-Modified is sent as If-Modified-Since', async () => {
  const lm = 'Tue, 01 Oct 2024 10:00:00 GMT';
  const env = await rfcEdge((req, res) => {
    if (req.headers['if-modified-since'] === lm) return void res.writeHead(304).end();
    res.writeHead(200, { 'last-modified': lm, 'cache-control': 'max-age=5' }).end('lm');
  });
  try {
    await env.get('/lm');
    env.clock.advance(6_000);
    const r = await env.get('/lm');
    assert.equal(r.headers['x-cache'], 'REVALIDATED');
    assert.equal(r.body, 'lm');
  } finally {
    await env.cleanup();
  }
});

test('client If-None-Match / If-Modified-Since / If-Match answered from cache', async () => {
  const lm = 'Tue, 01 Oct 2024 10:00:00 GMT';
  const env = await rfcEdge((_req, res) => res.writeHead(200, { etag: '"abc"', 'last-modified': lm, 'cache-control': 'max-age=60', 'content-type': 'text/plain' }).end('payload'));
  try {
    await env.get('/c');
    const inm = await env.get('/c', { headers: { 'if-none-match': 'W/"abc", "zzz"' } });
    assert.equal(inm.status, 304);
    assert.equal(inm.body, '');
    assert.equal(inm.headers.etag, '"abc"');
    assert.equal(inm.headers['x-cache'], 'HIT');
    assert.equal((await env.get('/c', { headers: { 'if-none-match': '"other"' } })).status, 200);
    assert.equal((await env.get('/c', { headers: { 'if-modified-since': lm } })).status, 304);
    assert.equal((await env.get('/c', { headers: { 'if-modified-since': 'Mon, 30 Sep 2024 10:00:00 GMT' } })).status, 200);
    assert.equal((await env.get('/c', { headers: { 'if-match': '"nope"' } })).status, 412);
    assert.equal(env.hits('/c'), 1, 'conditional requests never reach the origin');
  } finally {
    await env.cleanup();
  }
});

test('must-revalidate: a stale object is never served without the origin', async () => {
  const env = await rfcEdge((req, res) => {
    if (req.headers['if-none-match'] === '"m"') return void res.writeHead(304, { etag: '"m"' }).end();
    res.writeHead(200, { 'cache-control': 'max-age=1, must-revalidate, stale-while-revalidate=60, stale-if-error=60', etag: '"m"' }).end('m');
  });
  try {
    await env.get('/mr');
    env.clock.advance(2_000);
    const r = await env.get('/mr');
    assert.equal(r.headers['x-cache'], 'REVALIDATED');
    assert.equal(env.hits('/mr'), 2);
  } finally {
    await env.cleanup();
  }
});
