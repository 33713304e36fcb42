/**
 * How a stopping api lets go of its HTTP connections (src/api/plugins/connection-drain.ts),
 * played as a balancer sees it, over real sockets: a connection the api accepted just before
 * the stop still gets its POST answered (a closing Fastify would answer it 503, and a balancer
 * passes that on for a POST), a new connection is refused (a balancer retries a refused POST on
 * another replica), and a connection that never sends anything does not hold the stop.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSocket, untilClosed, untilRefused } from '../support/raw-sockets';
import { startTestApi, TOKEN } from './api.harness';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a stopping api answers the request of a connection it accepted before the stop, refuses new ones, and does not wait for a silent one', async () => {
  const t = await startTestApi();
  let closing: Promise<void> | undefined;
  try {
    const port = t.api.port;
    const early = await openSocket(port);
    const silent = await openSocket(port);
    const earlyEnd = untilClosed(early);
    const silentEnd = untilClosed(silent);
    // Accepted by the api (its loop is idle), no request sent yet: what a balancer's fresh connection looks like.
    await sleep(200);

    closing = t.api.close();
    await untilRefused(port, 'the api');
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
