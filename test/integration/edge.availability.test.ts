/**
 * Uploads against cache fills, through real sockets and a real origin that records what it
 * receives: request bodies sent slowly must never hold the origin connections that misses
 * need (small bodies are read whole before any origin connection; larger ones stream
 * through a separate per-origin upload budget), a body that stalls gets 408 and its origin
 * request is aborted, and `Expect: 100-continue` (what curl sends for uploads of 1 MB or
 * more) is answered `100 Continue` by the edge, or a final 413 before the body is sent.
 * After each attack a clean request gets the origin's clean answer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ORIGIN_UPLOAD_CONNECTIONS_DEFAULT } from '../../src/edge/origin/origin-pools';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { customer, edgeConfig, eventually, http, silentLogger, tempDir, type HttpResult } from './edge.harness';

const BODY_TIMEOUT_MS = 2_000;
const MAX_BODY_BYTES = 2_000_000;

interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** Body bytes received so far. */
  bytes: number;
  state: 'receiving' | 'complete' | 'aborted';
}

/** An origin that records every request as soon as its head arrives, and whether its body was completed or cut off. */
interface RecordingOrigin {
  url: string;
  seen: SeenRequest[];
  /** Connections the edge holds open to it. */
  connections(): number;
  close(): Promise<void>;
}

async function recordingOrigin(): Promise<RecordingOrigin> {
  const seen: SeenRequest[] = [];
  let open = 0;
  const server: Server = createServer((req, res) => {
    const entry: SeenRequest = { method: req.method!, url: req.url!, headers: req.headers, bytes: 0, state: 'receiving' };
    seen.push(entry);
    req.on('data', (c: Buffer) => (entry.bytes += c.length));
    req.on('end', () => {
      entry.state = 'complete';
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=600' });
      res.end(`origin saw ${req.method} ${req.url} ${entry.bytes}`);
    });
    req.on('close', () => {
      if (entry.state === 'receiving') entry.state = 'aborted';
    });
  });
  server.on('connection', (socket) => {
    open += 1;
    socket.on('close', () => (open -= 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    connections: () => open,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A raw client connection: write what the test says, read everything the edge sends. */
class RawClient {
  readonly socket: net.Socket;
  #received = Buffer.alloc(0);
  #closed = false;
  readonly #ready: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.#ready = new Promise((resolve) => this.socket.once('connect', () => resolve()));
    this.socket.on('data', (c: Buffer) => (this.#received = Buffer.concat([this.#received, c])));
    this.socket.on('error', () => {});
    this.socket.on('close', () => (this.#closed = true));
  }

  async write(data: string | Buffer): Promise<void> {
    await this.#ready;
    if (!this.socket.destroyed) this.socket.write(data);
  }

  get text(): string {
    return this.#received.toString('latin1');
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Waits until what was received matches `pattern` (undefined: until the connection closes), or the connection closes, or `ms` pass; returns what was received. */
  async until(pattern: RegExp | undefined, ms: number): Promise<string> {
    const started = Date.now();
    while (!(pattern?.test(this.text) ?? false) && !this.#closed && Date.now() - started < ms) await new Promise((r) => setTimeout(r, 10));
    return this.text;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The status, head and (de-chunked) body of the first final (non-1xx) response in `text`, read to the connection's end. */
function finalResponse(text: string): { status: number; head: string; body: string } {
  let rest = text;
  for (;;) {
    const split = rest.indexOf('\r\n\r\n');
    if (split < 0) return { status: 0, head: rest, body: '' };
    const head = rest.slice(0, split).toLowerCase();
    const status = Number(/^http\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    rest = rest.slice(split + 4);
    if (status >= 200 || status === 0) return { status, head, body: /transfer-encoding: chunked/.test(head) ? dechunk(rest) : rest };
  }
}

function dechunk(text: string): string {
  let body = '';
  let rest = text;
  for (;;) {
    const line = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, line), 16);
    if (line < 0 || !(size > 0)) return body;
    body += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}

function errorName(body: string): unknown {
  try {
    return (JSON.parse(body) as { error?: unknown }).error;
  } catch {
    return undefined;
  }
}

let root: Awaited<ReturnType<typeof tempDir>>;
let origin: RecordingOrigin;
let edge: EdgeHandle;

before(async () => {
  root = await tempDir();
  origin = await recordingOrigin();
  edge = await startEdge(edgeConfig(root.dir, { CDN_EDGE_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS), CDN_EDGE_MAX_BODY_BYTES: String(MAX_BODY_BYTES) }), {
    customers: createStaticCustomerFeed([customer('cust-a', origin.url, ['a.test'])]),
    logger: silentLogger,
  });
});

after(async () => {
  await edge?.close();
  await origin?.close();
  await root?.remove();
});

async function cleanRequestsWork(tag: string): Promise<void> {
  const get = await http(edge.url, `/clean-${tag}`, { host: 'a.test' });
  assert.equal(get.status, 200, get.body);
  assert.equal(get.body, `origin saw GET /clean-${tag} 0`);
  const post = await http(edge.url, `/clean-${tag}`, { host: 'a.test', method: 'POST', body: 'hello' });
  assert.equal(post.status, 200, post.body);
  assert.equal(post.body, `origin saw POST /clean-${tag} 5`);
  const big = 'u'.repeat(1_000_000);
  const upload = await http(edge.url, `/clean-big-${tag}`, { host: 'a.test', method: 'PUT', body: big });
  assert.equal(upload.status, 200, upload.body);
  assert.equal(upload.body, `origin saw PUT /clean-big-${tag} 1000000`);
  // Chunked, past what the edge reads whole before asking the origin: what it read is passed on too.
  const chunked = await chunkedUpload(`/clean-chunked-${tag}`, Array.from({ length: 30 }, () => 'c'.repeat(10_000)));
  assert.equal(chunked, `200 origin saw POST /clean-chunked-${tag} 300000`);
}

/** A chunked POST (no Content-Length) written in parts; resolves to "<status> <body>". */
function chunkedUpload(pathname: string, parts: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: edge.port, method: 'POST', path: pathname, headers: { host: 'a.test' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('error', reject);
    const next = (): void => {
      const part = parts.shift();
      if (part === undefined) return void req.end();
      req.write(part);
      setImmediate(next);
    };
    next();
  });
}

test("slow uploads (more than the origin's connection cap) never hold the connections a customer's misses need", async () => {
  const DRIP_MS = 250;
  const clients: RawClient[] = [];
  let patient: Promise<HttpResult> | undefined;
  const drip = setInterval(() => {
    for (const c of clients) void c.write('x');
  }, DRIP_MS);
  try {
    // Large bodies (streamed to the origin) and small ones (read whole first), one byte at a time,
    // well within the body timeout: more than the 64 connections of the origin's pool.
    for (let i = 0; i < 70; i++) {
      const c = new RawClient(edge.port);
      await c.write(`POST /upload-${i} HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1000000\r\n\r\nx`);
      clients.push(c);
    }
    for (let i = 0; i < 10; i++) {
      const c = new RawClient(edge.port);
      await c.write(`POST /form-${i} HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\nx`);
      clients.push(c);
    }
    const uploading = (): number => origin.seen.filter((r) => r.url.startsWith('/upload-') && r.state === 'receiving').length;
    await eventually(() => uploading() >= ORIGIN_UPLOAD_CONNECTIONS_DEFAULT, 10_000, 'the origin receives the slow uploads');
    await new Promise((r) => setTimeout(r, 2 * DRIP_MS));

    // A miss for a new URL of the same customer is answered while every upload is still dribbling.
    const miss = new RawClient(edge.port);
    await miss.write('GET /fresh HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
    const answer = finalResponse(await miss.until(undefined, 6_000));
    assert.equal(answer.status, 200, `the miss got no answer while uploads dribble: ${answer.head}`);
    assert.equal(answer.body, 'origin saw GET /fresh 0');
    assert.ok(origin.seen.some((r) => r.method === 'GET' && r.url === '/fresh' && r.state === 'complete'), 'the origin recorded the miss');

    assert.ok(clients.every((c) => !c.closed), 'the slow uploads were all still going (within the body timeout)');
    assert.ok(uploading() <= ORIGIN_UPLOAD_CONNECTIONS_DEFAULT, `uploads stream over at most their own budget of connections (${uploading()})`);
    assert.equal(origin.seen.filter((r) => r.url.startsWith('/form-')).length, 0, 'a small body is read whole before the origin is asked');

    // An honest upload waits behind the slow ones, longer than the body timeout: the edge is not
    // reading its body meanwhile, which is no fault of its client's.
    patient = http(edge.url, '/patient', { host: 'a.test', method: 'PUT', body: 'p'.repeat(1_000_000) });
    await new Promise((r) => setTimeout(r, BODY_TIMEOUT_MS + 500));
    assert.equal(origin.seen.filter((r) => r.url === '/patient').length, 0, 'still queued behind the slow uploads');
  } finally {
    clearInterval(drip);
    for (const c of clients) c.destroy();
  }
  const waited = await patient;
  assert.equal(waited.status, 200, waited.body);
  assert.equal(waited.body, 'origin saw PUT /patient 1000000');
  // The edge aborts the origin side of every upload whose client left.
  await eventually(() => origin.seen.every((r) => r.state !== 'receiving'), 5_000, 'no upload left half-sent at the origin');
  await cleanRequestsWork('after-drip');
});

test('a request body that stalls longer than CDN_EDGE_BODY_TIMEOUT_MS gets 408 and its origin request is aborted', async () => {
  // Larger than what the edge reads whole: the origin is already receiving it when it stalls.
  const streamed = new RawClient(edge.port);
  await streamed.write(`POST /stall-big HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1000000\r\n\r\n${'s'.repeat(200_000)}`);
  await eventually(() => origin.seen.some((r) => r.url === '/stall-big'), 5_000, 'the origin receives the upload');
  // Small: never reaches the origin.
  const small = new RawClient(edge.port);
  await small.write('POST /stall-small HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\nsome');
  // Nothing at all after the head.
  const none = new RawClient(edge.port);
  await none.write('PUT /stall-none HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n');

  for (const [c, what] of [
    [streamed, 'streamed'],
    [small, 'small'],
    [none, 'no body'],
  ] as const) {
    await c.until(undefined, BODY_TIMEOUT_MS + 4_000);
    const res = finalResponse(c.text);
    assert.equal(res.status, 408, `${what}: ${c.text.slice(0, 200)}`);
    assert.equal(errorName(res.body), 'body_timeout', what);
    await eventually(() => c.closed, 3_000, `${what}: the connection is closed`);
  }
  await eventually(() => origin.seen.find((r) => r.url === '/stall-big')?.state === 'aborted', 3_000, 'the stalled upload is aborted at the origin');
  assert.ok(origin.seen.find((r) => r.url === '/stall-big')!.bytes < 1_000_000);
  assert.equal(origin.seen.filter((r) => r.url === '/stall-small' || r.url === '/stall-none').length, 0, 'stalled small bodies never reached the origin');
  await cleanRequestsWork('after-stall');
});

test('Expect: 100-continue on a 1 MB upload: the client gets 100 Continue, the origin the whole body, the client its answer; no origin failure is counted', async () => {
  const size = 1024 * 1024;
  const c = new RawClient(edge.port);
  await c.write(`POST /expect HTTP/1.1\r\nHost: a.test\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
  const interim = await c.until(/\r\n\r\n/, 3_000);
  assert.match(interim, /^HTTP\/1\.1 100 Continue\r\n\r\n/, `first the interim answer: ${interim.slice(0, 200)}`);
  await c.write(Buffer.alloc(size, 'e'));
  await c.until(undefined, 10_000);
  const res = finalResponse(c.text);
  assert.equal(res.status, 200, `${res.head}\n${res.body}`);
  assert.equal(res.body, `origin saw POST /expect ${size}`);
  const seen = origin.seen.find((r) => r.url === '/expect')!;
  assert.equal(seen.state, 'complete');
  assert.equal(seen.bytes, size);
  assert.equal(seen.headers.expect, undefined, 'the expectation is the edge\'s to meet, not forwarded');
  c.destroy();

  const metrics = (await http(edge.adminUrl, '/metrics')).body;
  assert.doesNotMatch(metrics, /^cdn_edge_origin_errors_total\{customer="cust-a"/m, 'no origin failure counted');
  assert.match(metrics, /^cdn_edge_requests_total\{customer="cust-a",cache="BYPASS",status="2xx"\} \d+/m);
  await cleanRequestsWork('after-expect');
});

test('Expect: 100-continue with a body over CDN_EDGE_MAX_BODY_BYTES gets 413 at once, without 100 Continue, and the client need not send the body', async () => {
  const before = origin.seen.length;
  const c = new RawClient(edge.port);
  await c.write(`PUT /too-big HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${MAX_BODY_BYTES + 1}\r\nExpect: 100-continue\r\n\r\n`);
  const text = await c.until(undefined, 3_000);
  assert.match(text, /^HTTP\/1\.1 413 /, `the first answer is the final 413: ${text.slice(0, 200)}`);
  assert.doesNotMatch(text, /100 Continue/);
  assert.equal(errorName(finalResponse(text).body), 'body_too_large');
  await eventually(() => c.closed, 3_000, 'the connection is closed (the body was never read)');
  assert.equal(origin.seen.length, before, 'the origin was not asked');
  await cleanRequestsWork('after-413');
});
