/** Vary (RFC 9111 §4.1): one stored variant per varied header values; Vary: * never reused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pause, rfcEdge } from './edge.rfc.harness';

test('variants per Accept-Language; normalised values share one variant', async () => {
  const env = await rfcEdge((req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' }).end(`lang=${req.headers['accept-language'] ?? '-'}`);
  });
  try {
    assert.equal((await env.get('/v', { headers: { 'accept-language': 'en' } })).body, 'lang=en');
    assert.equal((await env.get('/v', { headers: { 'accept-language': 'fr' } })).body, 'lang=fr');
    assert.equal((await env.get('/v')).body, 'lang=-');
    const en = await env.get('/v', { headers: { 'accept-language': 'en' } });
    assert.equal(en.headers['x-cache'], 'HIT');
    assert.equal(en.body, 'lang=en');
    const fr = await env.get('/v', { headers: { 'accept-language': 'fr' } });
    assert.equal(fr.headers['x-cache'], 'HIT');
    assert.equal(fr.body, 'lang=fr');
    assert.equal((await env.get('/v')).body, 'lang=-');
    assert.equal(env.hits('/v'), 3);
    assert.equal(fr.headers.vary, 'Accept-Language');
  } finally {
    await env.cleanup();
  }
});

test('Vary: * is never served from cache', async () => {
  const env = await rfcEdge((_req, res) => res.writeHead(200, { 'cache-control': 'max-age=60', vary: '*' }).end('star'));
  try {
    await env.get('/s');
    await pause(20);
    assert.equal((await env.get('/s')).headers['x-cache'], 'MISS');
    assert.equal(env.hits('/s'), 2);
  } finally {
    await env.cleanup();
  }
});

test('Vary: Accept-Encoding does not split objects (the origin never sees Accept-Encoding)', async () => {
  const env = await rfcEdge((req, res) => res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept-Encoding' }).end(String(req.headers['accept-encoding'])));
  try {
    assert.equal((await env.get('/ae', { headers: { 'accept-encoding': 'gzip' } })).body, 'undefined');
    assert.equal((await env.get('/ae', { headers: { 'accept-encoding': 'br' } })).headers['x-cache'], 'HIT');
    assert.equal(env.hits('/ae'), 1);
  } finally {
    await env.cleanup();
  }
});

test('concurrent misses for different variants are not given each other\'s variant', async () => {
  const env = await rfcEdge((req, res) => {
    setTimeout(() => res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'accept-language' }).end(String(req.headers['accept-language'])), 100);
  });
  try {
    const langs = ['en', 'fr', 'de', 'en', 'fr'];
    const results = await Promise.all(langs.map((l) => env.get('/c', { headers: { 'accept-language': l } })));
    results.forEach((r, i) => assert.equal(r.body, langs[i]));
    assert.ok(env.hits('/c') <= 4, 'the leader variant is shared with its own kind');
  } finally {
    await env.cleanup();
  }
});
