/**
 * More accepts per event-loop turn (src/edge/accept.handles.ts): Node accepts one connection
 * per listening socket per turn, so a burst of connections waits one turn each. With several
 * sockets on the port (SO_REUSEPORT), one turn takes up to one connection per socket. Real
 * sockets on loopback.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { listenOnHandles, reusePortAvailable, type AcceptHandles } from '../../src/edge/accept.handles';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { cacheableOrigin, customer, edgeConfig, http, silentLogger, tempDir } from './edge.harness';

const cleanups: Array<() => Promise<unknown> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** An HTTP server listening on `handles` sockets of one loopback port (port 0: any). */
async function listeningServer(handles = 1, port = 0): Promise<{ server: Server; accept: AcceptHandles }> {
  const server = createServer((req, res) => res.end(`hello ${req.url}`));
  const accept = await listenOnHandles(server, { host: '127.0.0.1', port, backlog: 4096, handles, exclusive: false, probe: true }, silentLogger);
  cleanups.push(async () => {
    await accept.close();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, accept };
}

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/**
 * Opens `count` connections while this process's event loop is held, so all of them wait
 * in the accept queue; then lets the loop turn, and returns the most connections the
 * server accepted in one turn (counted between consecutive setImmediate callbacks: one
 * poll phase each).
 */
async function burst(server: Server, count: number): Promise<{ perTurn: number; sockets: Socket[] }> {
  let accepted = 0;
  const onConnection = (): void => {
    accepted += 1;
  };
  server.on('connection', onConnection);
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i++) sockets.push(connect({ port: portOf(server), host: '127.0.0.1' }));
  // net.connect() issues connect(2) on the next tick; loopback handshakes complete in the kernel.
  await new Promise<void>((resolve) => process.nextTick(resolve));
  const until = Date.now() + 100;
  while (Date.now() < until) {
    // hold the loop: every connection is now queued, none accepted
  }
  const perTurn = await new Promise<number>((resolve) => {
    let last = accepted;
    let most = 0;
    let turns = 0;
    const turn = (): void => {
      most = Math.max(most, accepted - last);
      last = accepted;
      if (accepted === count || ++turns > 10_000) resolve(most);
      else setImmediate(turn);
    };
    setImmediate(turn);
  });
  await waitFor(() => accepted === count, 5_000, `all ${count} connections accepted (got ${accepted})`);
  server.off('connection', onConnection);
  return { perTurn, sockets };
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function get(port: number, path: string, socket?: Socket): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, ...(socket === undefined ? {} : { createConnection: () => socket }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function refused(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message));
  });
}

test('one listening socket accepts one queued connection per event-loop turn (the Node behaviour this works around)', async () => {
  const { server } = await listeningServer(1);
  const { perTurn, sockets } = await burst(server, 24);
  for (const s of sockets) s.destroy();
  assert.equal(perTurn, 1);
});

test('with 8 sockets on the port, one turn accepts several queued connections, and every connection is served', async () => {
  assert.ok(reusePortAvailable(), 'Linux with Node 22.12 or later has SO_REUSEPORT (the suite runs there)');
  const { server, accept } = await listeningServer(8);
  assert.equal(accept.handles, 8);
  const { perTurn, sockets } = await burst(server, 48);
  // The kernel spreads connections over the sockets by hash: most of the 8 get some of 48.
  assert.ok(perTurn >= 4 && perTurn <= 8, `${perTurn} accepted in one turn`);
  // Connections accepted by the other sockets are the HTTP server's like any other: requests answered.
  const answers = await Promise.all(sockets.map((s, i) => get(portOf(server), `/n${i}`, s)));
  assert.deepEqual(
    answers.map((a) => `${a.status} ${a.body}`),
    sockets.map((_, i) => `200 hello /n${i}`),
  );
  for (const s of sockets) s.destroy();
});

test('closing the copies and the server stops every accept: the port refuses connections', async () => {
  const { server, accept } = await listeningServer(4);
  const port = portOf(server);
  assert.equal(await refused(port), 'connected');
  await accept.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.equal(await refused(port), 'ECONNREFUSED');
});

test('a port already in use is refused (EADDRINUSE), never silently shared through SO_REUSEPORT', async () => {
  const { server } = await listeningServer(4);
  const port = portOf(server);
  await assert.rejects(listeningServer(4, port), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
  // A plain listener is refused too, and a reusePort one that would share it is never made.
  const plain = createServer();
  await assert.rejects(new Promise<void>((resolve, reject) => plain.once('error', reject).listen(port, '127.0.0.1', resolve)), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
});

test('an edge with CDN_EDGE_ACCEPT_HANDLES serves a burst of fresh connections, then drains and releases the port on close', async () => {
  const origin = await cacheableOrigin();
  cleanups.push(() => origin.close());
  const dir = await tempDir();
  cleanups.push(() => dir.remove());
  const edge: EdgeHandle = await startEdge(edgeConfig(dir.dir, { CDN_EDGE_ACCEPT_HANDLES: '6' }), {
    customers: createStaticCustomerFeed([customer('accept-customer', origin.url, ['cdn.accept.test'])]),
    logger: silentLogger,
  });
  let closed = false;
  cleanups.push(() => (closed ? undefined : edge.close()));
  const results = await Promise.all(Array.from({ length: 60 }, (_, i) => http(edge.url, `/o${i % 10}.txt`, { host: 'cdn.accept.test' })));
  assert.deepEqual(
    results.map((r) => `${r.status} ${r.body}`),
    Array.from({ length: 60 }, (_, i) => `200 origin /o${i % 10}.txt`),
  );
  assert.equal(origin.requests.length, 10, 'one origin request per object: collapsed and cached as usual');
  await edge.close();
  closed = true;
  assert.equal(await refused(edge.port), 'ECONNREFUSED', 'no copy of the listening socket is left open');
});

for (const handles of ['1', '4']) {
  test(`a connected client that never sends a request does not hold close() up (${handles} accept handle(s))`, async () => {
    const dir = await tempDir();
    cleanups.push(() => dir.remove());
    const edge = await startEdge(edgeConfig(dir.dir, { CDN_EDGE_ACCEPT_HANDLES: handles }), { customers: createStaticCustomerFeed([]), logger: silentLogger });
    const silent = Array.from({ length: 4 }, () => connect({ port: edge.port, host: '127.0.0.1' }));
    await Promise.all(silent.map((s) => new Promise<void>((resolve) => s.once('connect', () => resolve()))));
    await new Promise((r) => setTimeout(r, 50)); // accepted by the edge
    const ended = Promise.all(silent.map((s) => new Promise<void>((resolve) => s.once('close', () => resolve()))));
    const outcome = await Promise.race([edge.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open after 5 s'), 5_000).unref())]);
    assert.equal(outcome, 'closed');
    await ended;
  });
}
