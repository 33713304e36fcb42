/**
 * How a stopping api lets go of its HTTP connections (src/api/plugins/connection-drain.ts),
 * played as a balancer sees it, over real sockets: a connection the api accepted just before
 * the stop still gets its POST answered (Node's server.close() alone would reset it, and a
 * balancer answers a reset POST with 502), a new connection is refused (a balancer retries a
 * refused POST on another replica), and a connection that never sends anything does not hold
 * the stop.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { startTestApi, TOKEN } from './api.harness';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Everything the server sends until it closes the connection, and how it ended. */
function untilClosed(socket: Socket): Promise<{ data: string; error: string | undefined }> {
  return new Promise((resolve) => {
    let data = '';
    let error: string | undefined;
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.once('close', () => resolve({ data, error }));
  });
}

/** Resolves once a new connection to `port` is refused. */
async function untilRefused(port: number): Promise<void> {
  for (let i = 0; i < 500; i += 1) {
    try {
      (await open(port)).destroy();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED') return;
      // Accepted and then reset by a closing server: not refused yet, try again.
      if (code !== 'ECONNRESET') throw err;
    }
    await sleep(10);
  }
  throw new Error('the api kept accepting connections after close() began');
}

test('a stopping api answers the request of a connection it accepted before the stop, refuses new ones, and does not wait for a silent one', async () => {
  const t = await startTestApi();
  let closing: Promise<void> | undefined;
  try {
    const port = t.api.port;
    const early = await open(port);
    const silent = await open(port);
    const earlyEnd = untilClosed(early);
    const silentEnd = untilClosed(silent);
    // Accepted by the api (its loop is idle), no request sent yet: what a balancer's fresh connection looks like.
    await sleep(200);

    closing = t.api.close();
    await untilRefused(port);
    // The stop is under way and the listener is closed; now the request arrives.
    const body = JSON.stringify({ query: '{ customers { totalCount } }' });
    early.write(`POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);

    const answer = await earlyEnd;
    assert.equal(answer.error, undefined, `the early connection was cut: ${answer.error}`);
    assert.match(answer.data, /^HTTP\/1\.1 200 /, answer.data.slice(0, 200));
    assert.match(answer.data, /"data":\{"customers":\{"totalCount":0\}\}/, answer.data);

    await closing;
    // Closed by the api once its grace ran out, without a byte.
    const left = await silentEnd;
    assert.equal(left.data, '');
  } finally {
    await (closing ?? Promise.resolve()).catch(() => {});
    await t.close();
  }
});
