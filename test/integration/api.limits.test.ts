/**
 * The hardened GraphQL surface, as a client sees it: query depth, aliases and cost, the
 * introspection and IDE switches, the body limit, batched requests and per-caller rate
 * limits, each with its exact message, extensions and HTTP status, over HTTP and (depth,
 * cost, rate limits) over graphql-ws. Rate limits across two api processes on one Redis.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getIntrospectionQuery } from 'graphql';
import { loadApiConfig } from '../../src/api/config';
import { startApi, type ApiHandle } from '../../src/api/server';
import { MemoryRateLimiter } from '../../src/bus/memory-rate-limiter';
import { createRedisRateLimiter } from '../../src/bus/redis-rate-limiter';
import type { RateLimiter } from '../../src/core/rate-limit.port';
import { createLogger } from '../../src/obs/logger.factory';
import { createTestRedisPrefix, type TestRedis } from '../support/services';
import { countRows, SECRET_KEY, startTestApi, TOKEN, type TestApi, wsClient } from './api.harness';

type FormattedError = { message: string; extensions: Record<string, unknown> };

/** One operation over graphql-ws: its result, or the errors the server sent instead. */
async function overWs(apiUrl: string, query: string, variables: Record<string, unknown> = {}): Promise<{ data?: unknown; errors?: FormattedError[] }> {
  const client = wsClient(apiUrl);
  try {
    return await new Promise((resolve, reject) => {
      let last: { data?: unknown; errors?: FormattedError[] } = {};
      client.subscribe(
        { query, variables },
        {
          next: (result) => (last = result as typeof last),
          error: (err) => (Array.isArray(err) ? resolve({ errors: err as FormattedError[] }) : reject(err)),
          complete: () => resolve(last),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

async function post(apiUrl: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: { data?: unknown; errors?: FormattedError[] } }> {
  const res = await fetch(`${apiUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
    body,
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as { data?: unknown; errors?: FormattedError[] } };
}

function onlyError(res: { errors?: readonly FormattedError[] | undefined }): FormattedError {
  assert.equal(res.errors?.length, 1, `expected one error, got ${JSON.stringify(res.errors)}`);
  return res.errors![0]!;
}

const createCustomer = (id: string): string =>
  `mutation { createCustomer(input: { id: "${id}", name: "${id}", originUrl: "https://${id}.example", domains: ["${id}.example"] }) { id } }`;

const purgeAll = (customerId: string): string => `mutation { purgeCache(input: { customerId: "${customerId}", kind: ALL }) { id } }`;

describe('strict limits (depth 3, 3 aliases, cost 200, 2 KiB bodies, no introspection, no IDE)', () => {
  let t: TestApi;
  before(async () => {
    t = await startTestApi({
      CDN_API_MAX_DEPTH: '3',
      CDN_API_MAX_ALIASES: '3',
      CDN_API_MAX_COST: '200',
      CDN_API_MAX_BODY_BYTES: '2048',
      CDN_API_INTROSPECTION: 'false',
      CDN_API_IDE: 'false',
    });
  });
  after(() => t.close());

  const TOO_DEEP = '{ purges(customerId: "x") { nodes { customer { domains } } } }';
  const DEPTH_MESSAGE = 'Query depth 4 exceeds the maximum of 3 (CDN_API_MAX_DEPTH). Ask for fewer nested fields.';

  test('a query at the maximum depth runs; one level deeper is refused with 400, saying which limit and what to do', async () => {
    const ok = await t.gql('{ customers { nodes { domains } } }');
    assert.equal(ok.status, 200);
    assert.equal(ok.errors, undefined);
    const res = await t.gql(TOO_DEEP);
    assert.equal(res.status, 400);
    assert.equal(res.data, undefined);
    assert.deepEqual(onlyError(res).message, DEPTH_MESSAGE);
    assert.deepEqual(onlyError(res).extensions, { code: 'GRAPHQL_VALIDATION_FAILED', cdnCode: 'CDN_ERR_QUERY_TOO_DEEP', depth: 4, maxDepth: 3 });
  });

  test('depth counts through fragments and inline fragments', async () => {
    const res = await t.gql('query { ...Q } fragment Q on Query { purges(customerId: "x") { ... on PurgeConnection { nodes { ...P } } } } fragment P on Purge { customer { id } }');
    assert.equal(res.status, 400);
    assert.equal(onlyError(res).message, DEPTH_MESSAGE);
  });

  test('the same depth limit over graphql-ws', async () => {
    const res = await overWs(t.api.url, TOO_DEEP);
    assert.equal(onlyError(res).message, DEPTH_MESSAGE);
    assert.equal(onlyError(res).extensions.code, 'GRAPHQL_VALIDATION_FAILED');
    assert.equal(onlyError(res).extensions.cdnCode, 'CDN_ERR_QUERY_TOO_DEEP');
    // Operations within the limits still run over the socket.
    assert.deepEqual(await overWs(t.api.url, '{ customers { totalCount } }'), { data: { customers: { totalCount: 0 } } });
  });

  test('aliases: three run, four are refused, also when a fragment is spread twice', async () => {
    assert.equal((await t.gql('{ a: customers { totalCount } b: customers { totalCount } c: customers { totalCount } }')).status, 200);
    const res = await t.gql('{ a: customers { totalCount } b: customers { totalCount } c: customers { totalCount } d: customers { totalCount } }');
    assert.equal(res.status, 400);
    assert.equal(onlyError(res).message, 'The operation uses 4 aliases, more than the maximum of 3 (CDN_API_MAX_ALIASES). Split it into several requests.');
    assert.deepEqual(onlyError(res).extensions, { code: 'GRAPHQL_VALIDATION_FAILED', cdnCode: 'CDN_ERR_QUERY_TOO_MANY_ALIASES', aliases: 4, maxAliases: 3 });
    const spread = await t.gql('{ x: customers { ...C } y: customers { ...C } } fragment C on CustomerConnection { n: totalCount }');
    assert.equal(onlyError(spread).extensions.aliases, 4);
  });

  test('cost follows the page size, from the variables too (the same document, cheap then costly)', async () => {
    const query = 'query Page($n: Int) { customers(first: $n) { nodes { id } } }';
    // 1 + n × (nodes 1 + id 1)
    const cheap = await t.gql(query, { n: 99 });
    assert.equal(cheap.status, 200, cheap.text);
    const costly = await t.gql(query, { n: 100 });
    assert.equal(costly.status, 400);
    assert.equal(
      onlyError(costly).message,
      'Query cost 201 exceeds the maximum of 200 (CDN_API_MAX_COST). Ask for smaller pages (first), fewer fields or fewer aliases, or split the query.',
    );
    assert.deepEqual(onlyError(costly).extensions, { code: 'GRAPHQL_VALIDATION_FAILED', cdnCode: 'CDN_ERR_QUERY_TOO_COSTLY', cost: 201, maxCost: 200 });
    // The schema's default page (50) is what a query without `first` costs.
    assert.equal((await t.gql('{ customers { nodes { id name domains cacheTtl } } }')).status, 400);
    const overWsRes = await overWs(t.api.url, query, { n: 100 });
    assert.equal(onlyError(overWsRes).extensions.cdnCode, 'CDN_ERR_QUERY_TOO_COSTLY');
  });

  test('a fragment bomb (each fragment spreading the next twice) is refused as too costly', async () => {
    const levels = 24;
    const fragments = Array.from({ length: levels }, (_, i) =>
      i === levels - 1 ? `fragment F${i} on CustomerConnection { totalCount }` : `fragment F${i} on CustomerConnection { ...F${i + 1} ... on CustomerConnection { ...F${i + 1} } }`,
    );
    const res = await t.gql(`{ customers(first: 1) { ...F0 } } ${fragments.join(' ')}`);
    assert.equal(res.status, 400);
    assert.equal(onlyError(res).extensions.cdnCode, 'CDN_ERR_QUERY_TOO_COSTLY');
  });

  test('bad variables are reported as such, not as a cost', async () => {
    const res = await t.gql('query Page($n: Int!) { customers(first: $n) { nodes { id } } }', {});
    assert.equal(res.status, 400);
    assert.match(onlyError(res).message, /Variable "\$n" of required type "Int!" was not provided/);
  });

  test('introspection turned off: __schema and __type are refused, naming the setting; __typename still answers', async () => {
    const res = await t.gql('{ __schema { queryType { name } } }');
    assert.equal(res.status, 400);
    assert.equal(
      onlyError(res).message,
      'Introspection (__schema, __type) is turned off on this server (CDN_API_INTROSPECTION=false). Use the published schema, schema/schema.graphql.',
    );
    assert.deepEqual(onlyError(res).extensions, { code: 'GRAPHQL_VALIDATION_FAILED', cdnCode: 'CDN_ERR_QUERY_INTROSPECTION_OFF' });
    assert.equal((await t.gql('{ __type(name: "Query") { name } }')).status, 400);
    assert.deepEqual((await t.gql('{ __typename }')).data, { __typename: 'Query' });
  });

  test('IDE turned off: a browser at /graphql gets a 404 saying so', async () => {
    const res = await fetch(`${t.api.url}/graphql`, { headers: { accept: 'text/html,application/xhtml+xml' } });
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await res.text(), 'The GraphQL IDE is turned off on this server (CDN_API_IDE=false). Send GraphQL requests with POST to this URL.\n');
  });

  test('a body over CDN_API_MAX_BODY_BYTES gets 413 in GraphQL error shape; one just under runs', async () => {
    const padded = (size: number): string => {
      const base = JSON.stringify({ query: '{ __typename }', pad: '' });
      return JSON.stringify({ query: '{ __typename }', pad: 'x'.repeat(size - base.length) });
    };
    const fits = await post(t.api.url, padded(2048));
    assert.equal(fits.status, 200);
    const res = await post(t.api.url, padded(2049));
    assert.equal(res.status, 413);
    assert.deepEqual(res.json, {
      errors: [
        {
          message: 'The request body is larger than 2048 bytes (CDN_API_MAX_BODY_BYTES). Send a shorter query or smaller variables.',
          extensions: { code: 'BAD_REQUEST', cdnCode: 'CDN_ERR_QUERY_BODY_TOO_LARGE', maxBodyBytes: 2048 },
        },
      ],
    });
  });

  test('a batched request (a JSON array) gets 400 with a clear message, and nothing in it runs', async () => {
    const res = await post(t.api.url, JSON.stringify([{ query: createCustomer('batched') }, { query: '{ __typename }' }]));
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, {
      errors: [
        {
          message: 'Batched requests (a JSON array of operations) are not accepted. Send one operation per request.',
          extensions: { code: 'BAD_REQUEST', cdnCode: 'CDN_ERR_QUERY_BATCH_OFF' },
        },
      ],
    });
    assert.equal(await countRows(t, 'customer'), 0);
  });
});

describe('default limits', () => {
  let t: TestApi;
  const nodeEnv = process.env.NODE_ENV;
  before(async () => {
    // As in the Docker image: NODE_ENV=production must not turn introspection off (only CDN_API_INTROSPECTION does).
    process.env.NODE_ENV = 'production';
    t = await startTestApi();
  });
  after(async () => {
    await t.close();
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  });

  test("introspection and the IDE are on, and GraphiQL's full introspection query fits the default limits", async () => {
    const res = await t.gql<{ __schema: { queryType: { name: string } } }>(getIntrospectionQuery());
    assert.equal(res.status, 200, res.text.slice(0, 500));
    assert.equal(res.data?.__schema.queryType.name, 'Query');
    const ide = await fetch(`${t.api.url}/graphql`, { headers: { accept: 'text/html' } });
    assert.equal(ide.status, 200);
    await ide.arrayBuffer();
  });

  test('introspection is bounded too: past 16 levels it is refused', async () => {
    // graphql-js bounds nested `fields`; `ofType` chains are bounded by the depth rule (at least 16 for introspection).
    const chain = (levels: number): string => (levels === 0 ? 'name' : `ofType { ${chain(levels - 1)} }`);
    const fits = await t.gql(`{ __type(name: "Query") { ${chain(14)} } }`);
    assert.equal(fits.status, 200, fits.text);
    const res = await t.gql(`{ __type(name: "Query") { ${chain(15)} } }`);
    assert.equal(res.status, 400);
    assert.equal(onlyError(res).message, 'Query depth 17 exceeds the maximum of 16 (CDN_API_MAX_DEPTH). Ask for fewer nested fields.');
  });

  test("the dashboard's largest queries fit the default cost", async () => {
    assert.equal((await t.gql(createCustomer('dash'))).errors, undefined);
    const customers = await t.gql('query { customers(first: 500) { nodes { id name } pageInfo { endCursor hasNextPage } } }');
    assert.equal(customers.status, 200, customers.text);
    const stats = 'customerId at requests requestsPerSecond hitRatio bytesPerSecond originP50Ms originP95Ms errorRatio';
    const history = await t.gql(`{ cacheStatsHistory(customerId: "dash", minutes: 15) { ${stats} } }`);
    assert.equal(history.status, 200, history.text.slice(0, 300));
    // Twice the page the resolver allows is refused by the cost before it reaches the resolver.
    const big = await t.gql('{ customers(first: 5000) { nodes { id name } } }');
    assert.equal(onlyError(big).extensions.cdnCode, 'CDN_ERR_QUERY_TOO_COSTLY');
  });

  test('without a rate limiter there are no rate limits', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await t.gql(purgeAll('dash'))).errors, undefined);
  });
});

describe('rate limits per caller', () => {
  let t: TestApi;
  let limiter: RateLimiter;
  before(async () => {
    limiter = new MemoryRateLimiter();
    t = await startTestApi({ CDN_API_RATE_LIMIT_PER_MINUTE: '4', CDN_API_PURGE_RATE_LIMIT_PER_MINUTE: '2' }, { rateLimiter: limiter });
  });
  after(async () => {
    await t.close();
    await limiter.close();
  });

  test('operations past CDN_API_RATE_LIMIT_PER_MINUTE get 429, Retry-After and retryAfterSeconds, over HTTP and graphql-ws', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await t.gql('{ customers { totalCount } }')).status, 200, `operation ${i + 1} of 4`);
    const res = await post(t.api.url, JSON.stringify({ query: '{ customers { totalCount } }' }));
    assert.equal(res.status, 429);
    // One operation comes back every 15 s.
    const retryAfter = Number(res.headers.get('retry-after'));
    assert.ok(retryAfter >= 14 && retryAfter <= 15, `Retry-After ${retryAfter}`);
    assert.deepEqual(res.json, {
      errors: [
        {
          message: `Rate limit reached: at most 4 operations per minute for this token. Retry in ${retryAfter} s.`,
          extensions: { code: 'RATE_LIMITED', cdnCode: 'CDN_ERR_RATE_LIMITED', limit: 'CDN_API_RATE_LIMIT_PER_MINUTE', perMinute: 4, retryAfterSeconds: retryAfter },
        },
      ],
    });
    const ws = await overWs(t.api.url, '{ customers { totalCount } }');
    assert.equal(onlyError(ws).extensions.code, 'RATE_LIMITED');
    assert.equal(onlyError(ws).extensions.limit, 'CDN_API_RATE_LIMIT_PER_MINUTE');
  });

  test('one operation asking for more purges than a minute allows is refused whole, with 400', async () => {
    // A fresh api on a fresh limiter: the previous test spent this caller's operations.
    const own = new MemoryRateLimiter();
    const api = await startApi(loadApiConfig({ CDN_API_PORT: '0', CDN_ADMIN_TOKEN: TOKEN, CDN_SECRET_KEY: SECRET_KEY, DATABASE_URL: t.databaseUrl, CDN_API_PURGE_RATE_LIMIT_PER_MINUTE: '2' }), {
      dataSource: t.dataSource,
      bus: t.bus,
      fleet: t.fleet,
      stats: t.stats,
      revocations: t.revocations,
      rateLimiter: own,
      logger: createLogger({ name: 'api-own', level: 'silent' }),
    });
    try {
      const created = await post(api.url, JSON.stringify({ query: createCustomer('many') }));
      assert.equal(created.status, 200, JSON.stringify(created.json));
      const three = 'mutation { a: purgeCache(input: { customerId: "many", kind: ALL }) { id } b: purgeCache(input: { customerId: "many", kind: ALL }) { id } ...P } fragment P on Mutation { c: purgeCache(input: { customerId: "many", kind: ALL }) { id } }';
      const res = await post(api.url, JSON.stringify({ query: three }));
      assert.equal(res.status, 400, JSON.stringify(res.json));
      assert.deepEqual(res.json.errors, [
        {
          message: 'This operation asks for 3 purges, more than the limit of 2 per minute for this token. Send fewer per operation.',
          extensions: { code: 'BAD_REQUEST', cdnCode: 'CDN_ERR_RATE_OPERATION_TOO_LARGE', limit: 'CDN_API_PURGE_RATE_LIMIT_PER_MINUTE', perMinute: 2 },
        },
      ]);
      assert.equal(await countRows(t, 'purge'), 0);
      // Two aliased purges fit, and spend the minute's purges.
      const two = 'mutation { a: purgeCache(input: { customerId: "many", kind: ALL }) { id } b: purgeCache(input: { customerId: "many", kind: ALL }) { id } }';
      const ran = await post(api.url, JSON.stringify({ query: two }));
      assert.equal(ran.status, 200, JSON.stringify(ran.json));
      assert.equal(await countRows(t, 'purge'), 2);
      assert.equal((await post(api.url, JSON.stringify({ query: purgeAll('many') }))).status, 429);
    } finally {
      await api.close();
      await own.close();
    }
  });
});

describe('purge rate limits shared by two api processes on one Redis', () => {
  let redis: TestRedis;
  let t: TestApi;
  let second: ApiHandle;
  const limiters: RateLimiter[] = [];
  before(async () => {
    redis = createTestRedisPrefix();
    limiters.push(createRedisRateLimiter({ url: redis.url, prefix: redis.prefix }), createRedisRateLimiter({ url: redis.url, prefix: redis.prefix }));
    const env = { CDN_API_PURGE_RATE_LIMIT_PER_MINUTE: '3' };
    t = await startTestApi(env, { rateLimiter: limiters[0] });
    second = await startApi(loadApiConfig({ CDN_API_PORT: '0', CDN_ADMIN_TOKEN: TOKEN, CDN_SECRET_KEY: SECRET_KEY, DATABASE_URL: t.databaseUrl, ...env }), {
      dataSource: t.dataSource,
      bus: t.bus,
      fleet: t.fleet,
      stats: t.stats,
      revocations: t.revocations,
      rateLimiter: limiters[1],
      logger: createLogger({ name: 'api-2', level: 'silent' }),
    });
  });
  after(async () => {
    await second.close();
    await t.close();
    await Promise.all(limiters.map((l) => l.close()));
    await redis.cleanup();
  });

  test('a purge burst split across both apis gets 429 with Retry-After once the shared budget is spent', async () => {
    assert.equal((await t.gql(createCustomer('burst'))).errors, undefined);
    const started = Date.now();
    assert.equal((await t.gql(purgeAll('burst'))).status, 200);
    assert.equal((await post(second.url, JSON.stringify({ query: purgeAll('burst') }))).status, 200);
    assert.equal((await t.gql(purgeAll('burst'))).status, 200);
    const refused = await post(second.url, JSON.stringify({ query: purgeAll('burst') }));
    assert.equal(refused.status, 429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    // One purge comes back every 20 s after the first: less the time this burst took (a loaded machine takes seconds).
    const elapsedSeconds = (Date.now() - started) / 1000;
    assert.ok(retryAfter >= Math.floor(20 - elapsedSeconds) - 1 && retryAfter <= 20, `Retry-After ${retryAfter} after a burst of ${elapsedSeconds} s`);
    assert.deepEqual(refused.json.errors, [
      {
        message: `Rate limit reached: at most 3 purges per minute for this token. Retry in ${retryAfter} s.`,
        extensions: { code: 'RATE_LIMITED', cdnCode: 'CDN_ERR_RATE_LIMITED', limit: 'CDN_API_PURGE_RATE_LIMIT_PER_MINUTE', perMinute: 3, retryAfterSeconds: retryAfter },
      },
    ]);
    assert.equal((await t.gql(purgeAll('burst'))).status, 429);
    assert.equal(await countRows(t, 'purge'), 3);
    // Other operations have their own budget.
    assert.equal((await post(second.url, JSON.stringify({ query: '{ customers { totalCount } }' }))).status, 200);
  });
});
