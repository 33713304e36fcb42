/** HEAD from a stored GET and Range requests (RFC 9110 §14) answered from a whole stored 200. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pause, rfcEdge } from './edge.rfc.harness';

const BODY = '0123456789abcdefghij'; // 20 bytes

function origin() {
  return rfcEdge((req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"e1"', 'content-type': 'text/plain', 'content-length': BODY.length }).end(req.method === 'HEAD' ? undefined : BODY);
  });
}

test('a Range miss fetches the whole object once (no Range to the origin), then answers ranges from cache', async () => {
  const env = await origin();
  try {
    const first = await env.get('/r', { headers: { range: 'bytes=2-5' } });
    assert.equal(first.status, 206);
    assert.equal(first.body, '2345');
    assert.equal(first.headers['content-range'], 'bytes 2-5/20');
    assert.equal(env.origin.requests[0]!.headers.range, undefined);
    await pause(20);
    const suffix = await env.get('/r', { headers: { range: 'bytes=-3' } });
    assert.equal(suffix.status, 206);
    assert.equal(suffix.headers['x-cache'], 'HIT');
    assert.equal(suffix.body, 'hij');
    const open = await env.get('/r', { headers: { range: 'bytes=15-' } });
    assert.equal(open.body, 'fghij');
    assert.equal(open.headers['content-length'], '5');
    assert.equal(env.hits('/r'), 1);
  } finally {
    await env.cleanup();
  }
});

test('several ranges: multipart/byteranges; unsatisfiable: 416 bytes */size; If-Range mismatch: 200', async () => {
  const env = await origin();
  try {
    await env.get('/m');
    const multi = await env.get('/m', { headers: { range: 'bytes=0-1, 10-12' } });
    assert.equal(multi.status, 206);
    const type = String(multi.headers['content-type']);
    const boundary = /boundary=(\S+)/.exec(type)![1]!;
    assert.match(type, /^multipart\/byteranges; boundary=/);
    assert.equal(Number(multi.headers['content-length']), Buffer.byteLength(multi.body));
    const parts = multi.body.split(`--${boundary}`);
    assert.equal(parts.length, 4);
    assert.match(parts[1]!, /Content-Type: text\/plain\r\nContent-Range: bytes 0-1\/20\r\n\r\n01\r\n$/);
    assert.match(parts[2]!, /Content-Range: bytes 10-12\/20\r\n\r\nabc\r\n$/);
    assert.equal(parts[3], '--\r\n');
    const bad = await env.get('/m', { headers: { range: 'bytes=50-60' } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers['content-range'], 'bytes */20');
    const stale = await env.get('/m', { headers: { range: 'bytes=0-1', 'if-range': '"old"' } });
    assert.equal(stale.status, 200);
    assert.equal(stale.body, BODY);
    const same = await env.get('/m', { headers: { range: 'bytes=0-1', 'if-range': '"e1"' } });
    assert.equal(same.status, 206);
    assert.equal(same.body, '01');
    assert.equal(env.hits('/m'), 1);
  } finally {
    await env.cleanup();
  }
});

test('HEAD is answered from the stored GET with its headers and no body', async () => {
  const env = await origin();
  try {
    await env.get('/h');
    const head = await env.get('/h', { method: 'HEAD' });
    assert.equal(head.headers['x-cache'], 'HIT');
    assert.equal(head.headers['content-length'], '20');
    assert.equal(head.body, '');
    assert.equal(env.origin.requests.every((r) => r.method === 'GET'), true);
    assert.equal(env.hits('/h'), 1);
  } finally {
    await env.cleanup();
  }
});
