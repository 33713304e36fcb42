/**
 * RedisConnections' blocking reads and close(), against the real Redis: a process must be
 * able to exit once its channels are closed, so no connection may outlive close() — not the
 * one of a read in flight, and not one a reader would open by asking again after close() (a
 * follow loop that has not seen the close yet). Connections are counted by their names in
 * Redis' CLIENT LIST.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { CLOSED, RedisConnections } from '../../src/bus/redis-connections';
import { eventually } from '../support/processes';
import { REDIS_URL } from '../support/services';

async function openConnections(name: string): Promise<number> {
  const admin = new Redis(REDIS_URL, { lazyConnect: true });
  await admin.connect();
  try {
    const list = (await admin.client('LIST')) as string;
    return list.split('\n').filter((line) => line.includes(` name=edgeplane-${name}-`)).length;
  } finally {
    admin.disconnect();
  }
}

test('after close(), a blocking read answers CLOSED at once and opens nothing; a read in flight ends with CLOSED and its connection', async () => {
  const name = `conn-test-${randomUUID().slice(0, 8)}`;
  const redis = new RedisConnections({ url: REDIS_URL, name, what: 'test' });
  await redis.command.ping();
  const key = `edgeplane_test:${name}:stream`;

  // A read in flight (blocking 5 s) when close() comes.
  const inFlight = redis.blockingRead(key, '0-0', 10, 5_000);
  await eventually(async () => (await openConnections(name)) === 2, 5_000, 'the command and the blocking connection open');
  const started = Date.now();
  await redis.close();
  assert.equal(await inFlight, CLOSED);
  assert.ok(Date.now() - started < 2_000, 'close() did not wait for the BLOCK time');

  // Asked again after close(): nothing is opened, the answer is immediate.
  const again = Date.now();
  assert.equal(await redis.blockingRead(key, '0-0', 10, 5_000), CLOSED);
  assert.ok(Date.now() - again < 100);
  await eventually(async () => (await openConnections(name)) === 0, 5_000, 'every connection closed');
});
