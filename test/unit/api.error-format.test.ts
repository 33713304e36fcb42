/** The one error formatter: CdnError codes and details out, internals never. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { GraphQLError } from 'graphql';
import { formatApiError } from '../../src/api/graphql/error.format';
import { cdnError, invalidInput } from '../../src/core/errors';
import { createLogger } from '../../src/obs/logger.factory';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) });
  return { lines, logger: createLogger({ name: 'api', level: 'info', destination }) };
}

function wrapped(original: Error): GraphQLError {
  return new GraphQLError(original.message, { path: ['createCustomer'], originalError: original });
}

test('a CdnError becomes code, cdnCode and details', () => {
  const { logger } = capture();
  const err = invalidInput([{ field: 'input.id', message: 'bad' }]);
  const out = formatApiError(wrapped(err).toJSON(), wrapped(err), logger);
  assert.deepEqual(out.extensions, { code: 'BAD_USER_INPUT', cdnCode: 'CDN_ERR_INPUT_INVALID', fields: [{ field: 'input.id', message: 'bad' }] });
  assert.deepEqual(out.path, ['createCustomer']);
  const nf = cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', 'x');
  assert.equal(formatApiError(wrapped(nf).toJSON(), wrapped(nf), logger).extensions?.code, 'NOT_FOUND');
});

test('an unexpected error is logged and answered generically, without internals', async () => {
  const { lines, logger } = capture();
  const boom = new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2');
  const out = formatApiError(wrapped(boom).toJSON(), wrapped(boom), logger);
  assert.deepEqual(out, { message: 'Internal server error', path: ['createCustomer'], extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  await new Promise((r) => setImmediate(r));
  assert.match(lines.join(''), /ECONNREFUSED/);
});

test('GraphQL validation errors pass through without a stack trace', () => {
  const { logger } = capture();
  const out = formatApiError(
    { message: 'Cannot query field "x"', extensions: { code: 'GRAPHQL_VALIDATION_FAILED', stacktrace: ['at ...'] } },
    new GraphQLError('Cannot query field "x"'),
    logger,
  );
  assert.deepEqual(out.extensions, { code: 'GRAPHQL_VALIDATION_FAILED' });
});
