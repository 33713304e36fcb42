/** The cost of operations (CDN_API_MAX_COST), checked against the examples docs/API.md gives. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { buildSchema, parse } from 'graphql';
import { COST_MAX_NODES, operationCost } from '../../src/api/plugins/query-cost.rules';

const schema = buildSchema(readFileSync(path.resolve(__dirname, '..', '..', 'schema', 'schema.graphql'), 'utf8'));
const cost = (query: string, variables?: Record<string, unknown>) => operationCost(schema, parse(query), variables, undefined);

test('a page costs its selection once per item asked for; the schema default page counts when first is left out', () => {
  assert.deepEqual(cost('{ customers(first: 20) { nodes { id name } } }'), { kind: 'cost', cost: 61 });
  assert.deepEqual(cost('{ customers(first: 500) { nodes { id name } pageInfo { endCursor hasNextPage } } }'), { kind: 'cost', cost: 3001 });
  assert.deepEqual(cost('{ customers { nodes { id } } }'), { kind: 'cost', cost: 101 });
  assert.deepEqual(cost('query ($n: Int) { customers(first: $n) { nodes { id } } }', { n: 7 }), { kind: 'cost', cost: 15 });
});

test('cacheStatsHistory costs 60 entries per minute; lists without a size argument cost their selection once', () => {
  const stats = 'customerId at requests requestsPerSecond hitRatio bytesPerSecond originP50Ms originP95Ms errorRatio';
  assert.deepEqual(cost(`{ cacheStatsHistory(customerId: "a", minutes: 15) { ${stats} } }`), { kind: 'cost', cost: 8101 });
  assert.deepEqual(cost('{ edges { edgeId } }'), { kind: 'cost', cost: 2 });
});

test('variables that do not fit are left to execution; a walk past COST_MAX_NODES is too large', () => {
  assert.deepEqual(cost('query ($n: Int!) { customers(first: $n) { totalCount } }', {}), { kind: 'bad-variables' });
  const fields = Array.from({ length: COST_MAX_NODES + 1 }, (_, i) => `a${i}: __typename`).join(' ');
  assert.deepEqual(cost(`{ ${fields} }`), { kind: 'too-large' });
});
