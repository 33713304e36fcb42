/**
 * The api's own pages are served compressed (src/api/plugins/compressed.page.ts): the
 * GraphiQL IDE (about 9 MB as HTML) and the dashboard with its scripts, in brotli or gzip as
 * the client's Accept-Encoding comes out, the body unchanged once decoded, Vary on every
 * answer, and curl with and without --compressed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { run } from './edge.harness';
import { startTestApi, type TestApi } from './api.harness';

let t: TestApi;

before(async () => {
  t = await startTestApi();
});

after(async () => {
  await t?.close();
});

interface Raw {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function get(path: string, headers: Record<string, string> = {}): Promise<Raw> {
  const url = new URL(t.api.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function decode(res: Raw): Buffer {
  if (res.headers['content-encoding'] === 'br') return brotliDecompressSync(res.body);
  if (res.headers['content-encoding'] === 'gzip') return gunzipSync(res.body);
  assert.equal(res.headers['content-encoding'], undefined);
  return res.body;
}

test('the GraphQL IDE: brotli for browsers, gzip for gzip-only clients, the same page once decoded, a fraction of its size on the wire', async () => {
  const html = { accept: 'text/html' };
  const plain = await get('/graphql', html);
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.headers.vary, 'accept-encoding');
  assert.ok(plain.body.length > 5_000_000, `the IDE is ${plain.body.length} bytes as HTML`);
  assert.match(plain.body.toString('utf8', 0, 2000), /<html/i);
  const [br, gz] = await Promise.all([get('/graphql', { ...html, 'accept-encoding': 'gzip, deflate, br, zstd' }), get('/graphql', { ...html, 'accept-encoding': 'gzip' })]);
  assert.equal(br.headers['content-encoding'], 'br');
  assert.equal(gz.headers['content-encoding'], 'gzip');
  for (const res of [br, gz]) {
    assert.equal(res.status, 200);
    assert.equal(res.headers.vary, 'accept-encoding');
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.match(String(res.headers['content-type']), /text\/html/);
    assert.equal(Number(res.headers['content-length']), res.body.length);
    assert.ok(decode(res).equals(plain.body), `${String(res.headers['content-encoding'])} decodes to the page`);
  }
  assert.ok(br.body.length < plain.body.length / 3, `brotli: ${br.body.length} bytes`);
  assert.ok(br.body.length < gz.body.length);
  assert.equal((await get('/graphql', { ...html, 'accept-encoding': 'br;q=0, gzip;q=0' })).headers['content-encoding'], undefined);
  // A GraphQL request at the same URL is still GraphQL.
  const res = await t.gql('{ __typename }');
  assert.equal(res.status, 200);
});

test('the dashboard and its scripts: brotli or gzip, decoded to the same bytes', async () => {
  const page = await get('/dashboard');
  assert.equal(page.status, 200);
  const scripts = [...page.body.toString('utf8').matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]!);
  assert.equal(scripts.length, 2);
  for (const target of ['/dashboard', ...scripts]) {
    const plain = await get(target);
    assert.equal(plain.headers['content-encoding'], undefined, target);
    for (const [ae, coding] of [['gzip, deflate, br', 'br'], ['gzip', 'gzip'], ['identity', undefined]] as const) {
      const res = await get(target, { 'accept-encoding': ae });
      assert.equal(res.headers['content-encoding'], coding, `${target} with ${ae}`);
      assert.equal(res.headers.vary, 'accept-encoding');
      assert.ok(decode(res).equals(plain.body), `${target} with ${ae}`);
    }
  }
});

test('curl: without --compressed the plain page, with it brotli that curl decodes', async () => {
  const url = `${t.api.url}/dashboard`;
  const plain = await run('curl', ['-sS', '-D', '-', url]);
  assert.doesNotMatch(plain.stdout, /content-encoding/i);
  const compressed = await run('curl', ['-sS', '--compressed', '-D', '-', '-w', '\nwire=%{size_download}', url]);
  assert.match(compressed.stdout, /content-encoding: br/i);
  assert.match(compressed.stdout, /<!doctype html>/i);
  const wire = Number(/wire=(\d+)$/.exec(compressed.stdout)![1]);
  const body = plain.stdout.slice(plain.stdout.indexOf('\r\n\r\n') + 4);
  assert.ok(wire < Buffer.byteLength(body) / 2, `${wire} bytes on the wire for ${Buffer.byteLength(body)}`);
});
