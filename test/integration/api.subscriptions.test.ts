/**
 * customerChanged over graphql-ws on /graphql: events come from the bus (through the
 * relay and this api's change feed), and the token is checked at connection_init.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestApi, TOKEN, type TestApi } from './api.harness';

let t: TestApi;

before(async () => {
  t = await startTestApi();
});

after(async () => {
  await t.close();
});

function client(connectionParams: Record<string, unknown>): Client {
  return createClient({
    url: `${t.api.url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
  });
}

type Change = { kind: string; customerId: string; seq: number; customer: { id: string; cacheTtl: number; hasBasicAuth: boolean } | null };

test('a client with the token receives CREATED, UPDATED and DELETED', async () => {
  const ws = client({ Authorization: `Bearer ${TOKEN}` });
  const received: Change[] = [];
  const iterator = ws.iterate<{ customerChanged: Change }>({
    query: 'subscription { customerChanged { kind customerId seq customer { id cacheTtl hasBasicAuth } } }',
  });
  try {
    const collect = (async () => {
      for await (const result of iterator) {
        assert.equal(result.errors, undefined);
        received.push(result.data!.customerChanged);
        if (received.length === 3) return;
      }
    })();
    // The subscription must be registered before the first change is published.
    await new Promise((r) => setTimeout(r, 300));
    const create = await t.gql(
      'mutation { createCustomer(input: { id: "sub-a", name: "A", originUrl: "https://a.example", domains: ["a.example"], basicAuth: { username: "u", password: "pw-secret" } }) { id } }',
    );
    assert.equal(create.errors, undefined);
    assert.equal((await t.gql('mutation { updateCustomer(id: "sub-a", input: { cacheTtl: 5 }) { id } }')).errors, undefined);
    assert.equal((await t.gql('mutation { deleteCustomer(id: "sub-a") }')).errors, undefined);
    await Promise.race([collect, new Promise((_, reject) => setTimeout(() => reject(new Error(`only got ${JSON.stringify(received)}`)), 5000))]);
  } finally {
    await iterator.return?.();
    await ws.dispose();
  }
  assert.deepEqual(received.map((c) => [c.kind, c.customerId]), [['CREATED', 'sub-a'], ['UPDATED', 'sub-a'], ['DELETED', 'sub-a']]);
  assert.deepEqual(received[0]!.customer, { id: 'sub-a', cacheTtl: 3600, hasBasicAuth: true });
  assert.equal(received[1]!.customer!.cacheTtl, 5);
  assert.equal(received[2]!.customer, null);
  assert.ok(received[0]!.seq < received[1]!.seq && received[1]!.seq < received[2]!.seq);
});

test('the token is accepted in the other connection_init shapes', async () => {
  for (const params of [{ authorization: `Bearer ${TOKEN}` }, { headers: { Authorization: `Bearer ${TOKEN}` } }]) {
    const ws = client(params);
    try {
      // A query over the socket proves the connection was acknowledged.
      const result = await ws.iterate<{ customers: { totalCount: number } }>({ query: '{ customers { totalCount } }' }).next();
      assert.equal(typeof result.value?.data?.customers.totalCount, 'number');
    } finally {
      await ws.dispose();
    }
  }
});

for (const [label, params] of [
  ['a wrong token', { Authorization: 'Bearer not-the-token-at-all' }],
  ['no token', {}],
] as const) {
  test(`a client with ${label} is closed with 4401`, async () => {
    const ws = client(params);
    try {
      await assert.rejects(
        ws.iterate({ query: 'subscription { customerChanged { kind } }' }).next(),
        (err: unknown) => {
          const close = err as { code?: number; reason?: string };
          assert.equal(close.code, 4401);
          assert.match(close.reason ?? '', /CDN_ERR_AUTH/);
          return true;
        },
      );
    } finally {
      await ws.dispose();
    }
  });
}
