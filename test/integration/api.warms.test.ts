/**
 * Cache warming through GraphQL (warmCache, warm, warms, warmStatus) on a real api and a real
 * PostgreSQL, with the test playing the edges on the in-process fleet channel: heartbeats
 * (single processes and cluster workers `<id>#<n>`) and warm reports, exactly as edges send
 * them. Validation (every refusal naming the URL's index, nothing written), who may warm, the
 * outbox event in the same transaction, the edges that take part, and progress per edge to
 * completion (done, stopped, a warming process gone). The edge's side: test/integration/edge.warm.test.ts;
 * real processes: test/e2e/warm.e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from 'graphql-ws';
import type { EdgeStatus, WarmReport } from '../../src/core/fleet.port';
import { countRows, maxChangeSeq, startTestApi, wsClient, type TestApi, playEdge } from './api.harness';

const CUSTOMER = 'warm-co';
const OTHER = 'other-co';
const WARM_FIELDS = 'id urls edgeId seq requestedAt completedAt edgesTotal edgesDone edges { edgeId live state urlsDone urlsFailed urlsTotal reportedAt reason }';
const WARM_CACHE = `mutation($customerId: ID!, $urls: [String!]!, $edgeId: ID) { warmCache(customerId: $customerId, urls: $urls, edgeId: $edgeId) { ${WARM_FIELDS} } }`;
const STATUS = `subscription($id: ID!) { warmStatus(id: $id) { edge { edgeId state urlsDone urlsFailed reason } warm { completedAt edgesDone edges { edgeId state urlsDone urlsFailed } } } }`;

type WarmEdge = { edgeId: string; live: boolean; state: string; urlsDone: number; urlsFailed: number; urlsTotal: number; reportedAt: string | null; reason: string | null };
type Warm = { id: string; urls: string[]; edgeId: string | null; seq: number; requestedAt: string; completedAt: string | null; edgesTotal: number; edgesDone: number; edges: WarmEdge[] };
type StatusEvent = { edge: Pick<WarmEdge, 'edgeId' | 'state' | 'urlsDone' | 'urlsFailed' | 'reason'> | null; warm: { completedAt: string | null; edgesDone: number; edges: Array<Pick<WarmEdge, 'edgeId' | 'state' | 'urlsDone' | 'urlsFailed'>> } };

let t: TestApi;
const tokens: Record<string, string> = {};
const STARTED = '2030-01-01T00:00:00.000Z';

before(async () => {
  t = await startTestApi({ CDN_WARM_MAX_URLS: '5' });
  for (const [id, domains] of [[CUSTOMER, ['cdn.warm-co.test', 'static.warm-co.test']], [OTHER, ['cdn.other-co.test']]] as const) {
    const r = await t.gql('mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }', { input: { id, name: id, originUrl: 'https://origin.example', domains } });
    assert.equal(r.errors, undefined, r.text);
  }
  for (const [name, role, customerId] of [
    ['purger', 'CUSTOMER_PURGER', CUSTOMER],
    ['viewer', 'CUSTOMER_VIEWER', CUSTOMER],
    ['platform-viewer', 'VIEWER', null],
    ['operator', 'OPERATOR', null],
  ] as const) {
    const r = await t.gql<{ createToken: { secret: string } }>('mutation($input: CreateTokenInput!) { createToken(input: $input) { secret } }', {
      input: { name, role, customerId, expiresIn: '1h' },
    });
    assert.equal(r.errors, undefined, r.text);
    tokens[name] = r.data!.createToken.secret;
  }
});

after(async () => {
  await t?.close();
});

/** An edge process reports itself (a cluster worker is `<id>#<n>`), started at STARTED. */
function heartbeat(edgeId: string, overrides: Partial<EdgeStatus> = {}): Promise<void> {
  return playEdge(t, edgeId, { startedAt: STARTED, ...overrides });
}

async function report(warm: Warm, edgeId: string, process: string, state: WarmReport['state'], done: number, failed = 0): Promise<void> {
  await t.fleet.reportWarms([{ warmId: warm.id, edgeId, process, processStartedAt: STARTED, state, total: warm.urls.length, done, failed, at: new Date().toISOString() }]);
}

async function warmCache(urls: string[], edgeId?: string, token?: string) {
  return t.gql<{ warmCache: Warm }>(WARM_CACHE, { customerId: CUSTOMER, urls, edgeId }, token);
}

async function getWarm(id: string): Promise<Warm> {
  const r = await t.gql<{ warm: Warm | null }>(`query($id: ID!) { warm(id: $id) { ${WARM_FIELDS} } }`, { id });
  assert.equal(r.errors, undefined, r.text);
  return r.data!.warm!;
}

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Follows warmStatus to its end (or until `within` ms pass). */
async function follow(ws: Client, id: string, whileFollowing: () => Promise<void>, within = 10_000): Promise<StatusEvent[]> {
  const events: StatusEvent[] = [];
  const iterator = ws.iterate<{ warmStatus: StatusEvent }>({ query: STATUS, variables: { id } });
  const ended = (async () => {
    for await (const r of iterator) {
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      events.push(r.data!.warmStatus);
    }
  })();
  await eventually('the first event', async () => (events.length > 0 ? true : undefined));
  await whileFollowing();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([ended, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`warmStatus did not end within ${within} ms: ${JSON.stringify(events)}`)), within)))]).finally(() => clearTimeout(timer));
  return events;
}

describe('warmCache validation: every refusal names the URL, nothing is written', () => {
  test('bad URLs, each by index, all at once', async () => {
    await heartbeat('edge-v');
    const before = { warms: await countRows(t, 'warm'), seq: await maxChangeSeq(t) };
    const r = await warmCache(['/ok.css', 'img/no-slash.png', '/a\u0000b', 'ftp://cdn.warm-co.test/x', '/page#top']);
    assert.equal(r.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', r.text);
    assert.equal(r.errors![0]!.extensions.cdnCode, 'CDN_ERR_INPUT_INVALID');
    const fields = (r.errors![0]!.extensions.fields as Array<{ field: string; message: string }>).map((f) => f.field);
    assert.deepEqual(fields, ['urls[1]', 'urls[2]', 'urls[3]', 'urls[4]']);
    assert.match(r.errors![0]!.message, /urls\[2\]: .*control character/);
    assert.match(r.errors![0]!.message, /urls\[4\]: must not contain a fragment/);

    const space = await warmCache(['/a b', 'https://user:pw@cdn.warm-co.test/x', `/${'x'.repeat(2048)}`]);
    assert.deepEqual((space.errors![0]!.extensions.fields as Array<{ field: string }>).map((f) => f.field), ['urls[0]', 'urls[1]', 'urls[2]'], space.text);
    assert.match(space.errors![0]!.message, /urls\[1\]: must not carry a user name or password/);
    assert.match(space.errors![0]!.message, /urls\[2\]: is 2049 characters long; the most is 2048/);

    const foreign = await warmCache(['/fine', 'https://cdn.other-co.test/x', 'http://STATIC.warm-co.test/y', 'https://evil.test/z']);
    assert.deepEqual((foreign.errors![0]!.extensions.fields as Array<{ field: string }>).map((f) => f.field), ['urls[1]', 'urls[3]'], foreign.text);
    assert.match(foreign.errors![0]!.message, /urls\[1\]: host "cdn.other-co.test" is not a domain of customer "warm-co" \(its domains: cdn.warm-co.test, static.warm-co.test\)/);

    const tooMany = await warmCache(['/1', '/2', '/3', '/4', '/5', '/6']);
    assert.match(tooMany.errors![0]!.message, /urls: names 6 URLs; the most one warm may name is 5 \(CDN_WARM_MAX_URLS\)/);
    const none = await warmCache([]);
    assert.match(none.errors![0]!.message, /urls: must name at least one URL/);

    assert.deepEqual({ warms: await countRows(t, 'warm'), seq: await maxChangeSeq(t) }, before, 'nothing written');
  });

  test('no live edge, or a named edge that is not live, is refused', async () => {
    await t.fleet.leave('edge-v');
    const none = await warmCache(['/a']);
    assert.equal(none.errors?.[0]?.extensions.cdnCode, 'CDN_ERR_WARM_NO_EDGES', none.text);
    assert.equal(none.errors![0]!.extensions.code, 'CONFLICT');
    await heartbeat('edge-n#1');
    const named = await warmCache(['/a'], 'edge-gone');
    assert.equal(named.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', named.text);
    assert.match(named.errors![0]!.message, /edgeId: names no live edge \("edge-gone"\); the live edges are edge-n\. Leave edgeId out/);
    const unknown = await t.gql(WARM_CACHE, { customerId: 'nobody', urls: ['/a'] });
    assert.equal(unknown.errors?.[0]?.extensions.code, 'NOT_FOUND', unknown.text);
    await t.fleet.leave('edge-n#1');
  });
});

describe('who may warm: the purge capabilities', () => {
  test('a customer purger warms its own customer only; viewers may not warm; an operator may', async () => {
    await heartbeat('edge-r');
    const own = await warmCache(['/r'], undefined, tokens.purger);
    assert.equal(own.errors, undefined, own.text);
    const other = await t.gql(WARM_CACHE, { customerId: OTHER, urls: ['/r'] }, tokens.purger);
    assert.equal(other.errors?.[0]?.extensions.code, 'NOT_FOUND', 'another customer is as unknown as one that does not exist');
    for (const name of ['viewer', 'platform-viewer']) {
      const refused = await warmCache(['/r'], undefined, tokens[name]);
      assert.equal(refused.errors?.[0]?.extensions.code, 'FORBIDDEN', `${name}: ${refused.text}`);
      assert.match(refused.errors![0]!.message, /may not purge and warm the customer's cache/);
    }
    assert.equal((await t.gql(WARM_CACHE, { customerId: OTHER, urls: ['/r'] }, tokens.operator)).errors, undefined);
    // The customer's viewer sees its warms, not another customer's.
    const list = await t.gql<{ warms: { totalCount: number } }>(`query { warms(customerId: "${CUSTOMER}") { totalCount } }`, {}, tokens.viewer);
    assert.equal(list.errors, undefined, list.text);
    assert.ok(list.data!.warms.totalCount >= 1);
    const otherWarm = await t.gql<{ warms: { nodes: Array<{ id: string }> } }>(`query { warms(customerId: "${OTHER}") { nodes { id } } }`);
    const hidden = await t.gql<{ warm: unknown }>(`query($id: ID!) { warm(id: $id) { id } }`, { id: otherWarm.data!.warms.nodes[0]!.id }, tokens.viewer);
    assert.equal(hidden.data!.warm, null);
    const ws = wsClient(t.api.url, tokens.viewer!);
    try {
      const it = ws.iterate({ query: STATUS, variables: { id: otherWarm.data!.warms.nodes[0]!.id } });
      await assert.rejects(async () => {
        for await (const r of it) if (r.errors) throw r.errors;
      }, (errors: Array<{ extensions?: { code?: string; cdnCode?: string } }>) => errors[0]?.extensions?.cdnCode === 'CDN_ERR_WARM_NOT_FOUND');
    } finally {
      await ws.dispose();
    }
    await t.fleet.leave('edge-r');
  });
});

describe('a warm: the outbox event, the edges taking part, progress to completion', () => {
  test('duplicates folded, paths on the first domain; one pending row per machine; warm.requested in the same transaction as the row', async () => {
    await heartbeat('edge-a#1');
    await heartbeat('edge-a#2');
    await heartbeat('edge-b');
    const r = await warmCache(['/app.js', 'http://cdn.warm-co.test/app.js', 'https://static.warm-co.test/app.js?v=2', '/app.js', 'https://CDN.warm-co.test/style.css']);
    assert.equal(r.errors, undefined, r.text);
    const warm = r.data!.warmCache;
    assert.deepEqual(warm.urls, ['http://cdn.warm-co.test/app.js', 'http://static.warm-co.test/app.js?v=2', 'http://cdn.warm-co.test/style.css']);
    assert.equal(warm.edgeId, null);
    assert.deepEqual(
      warm.edges.map((e) => [e.edgeId, e.live, e.state, e.urlsDone, e.urlsFailed, e.urlsTotal]),
      [
        ['edge-a', true, 'PENDING', 0, 0, 3],
        ['edge-b', true, 'PENDING', 0, 0, 3],
      ],
    );
    assert.equal(warm.completedAt, null);

    const rows: Array<{ seq: string; kind: string; customer_id: string; payload: unknown }> = await t.dataSource.query('SELECT seq, kind, customer_id, payload FROM change_log WHERE seq = $1', [warm.seq]);
    assert.deepEqual(rows.map((row) => ({ ...row, seq: Number(row.seq) })), [
      {
        seq: warm.seq,
        kind: 'warm.requested',
        customer_id: CUSTOMER,
        payload: {
          kind: 'warm.requested',
          v: 1,
          warm: {
            id: warm.id,
            customerId: CUSTOMER,
            targets: [
              { host: 'cdn.warm-co.test', path: '/app.js' },
              { host: 'static.warm-co.test', path: '/app.js?v=2' },
              { host: 'cdn.warm-co.test', path: '/style.css' },
            ],
            edgeId: null,
            requestedAt: warm.requestedAt,
          },
        },
      },
    ]);
    // Relayed to the bus, in order, like every change.
    await t.waitForBusSeq(warm.seq);
    const read = await t.bus.read(warm.seq - 1, { blockMs: 0 });
    assert.equal(read.kind, 'changes');
    assert.equal(read.kind === 'changes' && read.changes.find((c) => c.seq === warm.seq)?.event.kind, 'warm.requested');
  });

  test('warmStatus: one event per edge that moves, done and failed counted, ends when every edge is DONE', async () => {
    const warm = (await warmCache(['/1', '/2', '/3'])).data!.warmCache;
    const ws = wsClient(t.api.url);
    try {
      const events = await follow(ws, warm.id, async () => {
        await report(warm, 'edge-a', 'edge-a#2', 'warming', 1);
        await eventually('edge-a warming', async () => ((await getWarm(warm.id)).edges[0]!.state === 'WARMING' ? true : undefined));
        await report(warm, 'edge-b', 'edge-b', 'done', 2, 1);
        await eventually('edge-b done', async () => ((await getWarm(warm.id)).edges[1]!.state === 'DONE' ? true : undefined));
        // An older report read after a newer one (a retry, another replica) changes nothing.
        await report(warm, 'edge-b', 'edge-b', 'warming', 1);
        await report(warm, 'edge-a', 'edge-a#2', 'done', 3);
      });
      assert.deepEqual(events[0], {
        edge: null,
        warm: { completedAt: null, edgesDone: 0, edges: [{ edgeId: 'edge-a', state: 'PENDING', urlsDone: 0, urlsFailed: 0 }, { edgeId: 'edge-b', state: 'PENDING', urlsDone: 0, urlsFailed: 0 }] },
      });
      const steps = events.slice(1).map((e) => `${e.edge?.edgeId} ${e.edge?.state} ${e.edge?.urlsDone}/${e.edge?.urlsFailed}`);
      assert.deepEqual(steps, ['edge-a WARMING 1/0', 'edge-b DONE 2/1', 'edge-a DONE 3/0']);
      const last = events.at(-1)!;
      assert.notEqual(last.warm.completedAt, null);
      assert.equal(last.warm.edgesDone, 2);
    } finally {
      await ws.dispose();
    }
    const stored = await getWarm(warm.id);
    assert.deepEqual(stored.edges.map((e) => [e.edgeId, e.state, e.urlsDone, e.urlsFailed, e.reason]), [
      ['edge-a', 'DONE', 3, 0, null],
      ['edge-b', 'DONE', 2, 1, null],
    ]);
    const page = await t.gql<{ warms: { nodes: Array<{ id: string; completedAt: string | null }>; totalCount: number } }>(`query { warms(customerId: "${CUSTOMER}", first: 1) { totalCount nodes { id completedAt } } }`);
    assert.deepEqual(page.data!.warms.nodes, [{ id: warm.id, completedAt: stored.completedAt }], 'newest first');
  });

  test('an edge that stops mid-warm, or whose warming process goes away, is INCOMPLETE with its reason, and the warm completes', async () => {
    const warm = (await warmCache(['/1', '/2'])).data!.warmCache;
    const ws = wsClient(t.api.url);
    try {
      const events = await follow(ws, warm.id, async () => {
        await report(warm, 'edge-a', 'edge-a#1', 'warming', 1);
        await report(warm, 'edge-b', 'edge-b', 'stopped', 1);
        await eventually('edge-a warming', async () => ((await getWarm(warm.id)).edges[0]!.state === 'WARMING' ? true : undefined));
        // The worker warming it goes (its machine stays live through its other worker).
        await t.fleet.leave('edge-a#1');
      });
      const last = events.at(-1)!;
      assert.notEqual(last.warm.completedAt, null);
      assert.deepEqual(last.warm.edges.map((e) => `${e.edgeId} ${e.state} ${e.urlsDone}`), ['edge-a INCOMPLETE 1', 'edge-b INCOMPLETE 1']);
    } finally {
      await ws.dispose();
    }
    const stored = await getWarm(warm.id);
    assert.equal(stored.edges[0]!.live, true, 'edge-a#2 is still live');
    assert.match(stored.edges[0]!.reason!, /the edge process warming it \(edge-a#1\) is no longer live before it had fetched every URL/);
    assert.match(stored.edges[1]!.reason!, /the edge stopped before it had fetched every URL/);
  });

  test('a named edge warms alone (a worker id names its machine); unknown ids are NOT_FOUND', async () => {
    const r = await warmCache(['/solo'], 'edge-b#7');
    assert.equal(r.errors, undefined, r.text);
    const warm = r.data!.warmCache;
    assert.equal(warm.edgeId, 'edge-b');
    assert.deepEqual(warm.edges.map((e) => e.edgeId), ['edge-b']);
    const [row] = (await t.dataSource.query('SELECT payload FROM change_log WHERE seq = $1', [warm.seq])) as Array<{ payload: { warm: { edgeId: string } } }>;
    assert.equal(row!.payload.warm.edgeId, 'edge-b');
    await report(warm, 'edge-b', 'edge-b', 'done', 1);
    const done = await eventually('complete', async () => {
      const w = await getWarm(warm.id);
      return w.completedAt === null ? undefined : w;
    });
    assert.deepEqual(done.edges.map((e) => `${e.edgeId} ${e.state}`), ['edge-b DONE']);

    const ws = wsClient(t.api.url);
    try {
      for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
        const it = ws.iterate({ query: STATUS, variables: { id } });
        await assert.rejects(async () => {
          for await (const res of it) if (res.errors) throw res.errors;
        }, (errors: Array<{ extensions?: { cdnCode?: string } }>) => errors[0]?.extensions?.cdnCode === 'CDN_ERR_WARM_NOT_FOUND');
      }
    } finally {
      await ws.dispose();
    }
    assert.equal((await t.gql<{ warm: unknown }>('query { warm(id: "not-a-uuid") { id } }')).data!.warm, null);
  });
});
