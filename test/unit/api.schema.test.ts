/** schema/schema.graphql must be what the resolvers produce: run `npm run schema` after changing them. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { buildApiSchema, printApiSchema } from '../../src/api/graphql/schema.builder';
import { parse, validate } from 'graphql';

const ROOT = path.join(__dirname, '..', '..');

test('schema/schema.graphql is up to date with the resolvers', async () => {
  const committed = readFileSync(path.join(ROOT, 'schema', 'schema.graphql'), 'utf8');
  const built = printApiSchema(await buildApiSchema());
  assert.equal(committed, built, 'schema/schema.graphql is stale: run `npm run schema` and commit the result');
});

test('the contract names are in the schema', async () => {
  const sdl = printApiSchema(await buildApiSchema());
  for (const line of [
    'customers(',
    'first: Int = 50',
    'customer(id: ID!): Customer',
    'customerByDomain(domain: String!): Customer',
    'createCustomer(input: CreateCustomerInput!): Customer!',
    'updateCustomer(id: ID!, input: UpdateCustomerInput!): Customer!',
    'deleteCustomer(id: ID!): Boolean!',
    'customerChanged: CustomerChange!',
    'hasBasicAuth: Boolean!',
    'createdAt: DateTimeISO!',
    'cacheQuotaBytes: SafeInt',
    'staleIfErrorSeconds: Int',
    'queryString: QueryStringPolicy!',
    'queryString: QueryStringPolicyInput',
    'scalar SafeInt',
  ]) {
    assert.ok(sdl.includes(line), `missing: ${line}`);
  }
  assert.ok(!/type Customer \{[^}]*password/.test(sdl), 'Customer must not expose a password');
});

test('schema/operations.graphql holds valid sample operations', async () => {
  const schema = await buildApiSchema();
  const doc = parse(readFileSync(path.join(ROOT, 'schema', 'operations.graphql'), 'utf8'));
  assert.deepEqual(validate(schema, doc), []);
  assert.ok(doc.definitions.length >= 5);
});
