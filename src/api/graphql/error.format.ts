/**
 * The one place errors become what clients see, for HTTP (Apollo's formatError) and
 * graphql-ws alike. A CdnError keeps its message and becomes `extensions.code` (the
 * GraphQL code), `extensions.cdnCode` (the catalog code) and its details. Errors GraphQL
 * itself raises (syntax, validation, variables) pass through. Anything else is a bug or
 * an outage: logged with its stack, answered with a generic message that leaks nothing.
 */
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { isCdnError, type CdnError } from '../../core/errors';
import type { Logger } from '../../obs/logger.factory';

const PASS_THROUGH = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
]);

function rootCause(error: unknown): unknown {
  let current = error;
  while (current instanceof GraphQLError && current.originalError) current = current.originalError;
  return current;
}

export function cdnErrorExtensions(err: CdnError): Record<string, unknown> {
  return { ...err.details, code: err.graphqlCode, cdnCode: err.code };
}

/** Also used by the HTTP context function, where the error must carry an HTTP status. */
export function toGraphQLError(err: CdnError): GraphQLError {
  return new GraphQLError(err.message, { extensions: { ...cdnErrorExtensions(err), http: { status: err.status } } });
}

export function formatApiError(formatted: GraphQLFormattedError, error: unknown, logger: Logger): GraphQLFormattedError {
  const cause = rootCause(error);
  const base = { ...(formatted.locations ? { locations: formatted.locations } : {}), ...(formatted.path ? { path: formatted.path } : {}) };
  if (isCdnError(cause)) {
    return { message: cause.message, ...base, extensions: cdnErrorExtensions(cause) };
  }
  const code = formatted.extensions?.code;
  if (typeof code === 'string' && PASS_THROUGH.has(code)) {
    const { stacktrace: _stack, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions };
  }
  logger.error({ err: cause instanceof Error ? cause : error, path: formatted.path }, 'unexpected error in a GraphQL operation');
  return { message: 'Internal server error', ...base, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}
