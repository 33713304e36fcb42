/**
 * Fastify hooks for the /graphql route's HTTP limits, answering in GraphQL's error shape
 * (`{ errors: [{ message, extensions: { code, cdnCode } }] }`) so GraphQL clients show the
 * message: the body limit (CDN_API_MAX_BODY_BYTES, 413) and batched requests (400).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { CdnError } from '../../core/errors';
import { cdnErrorExtensions } from '../graphql/error.format';

export function sendGraphqlError(reply: FastifyReply, err: CdnError): FastifyReply {
  return reply
    .code(err.status)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify({ errors: [{ message: err.message, extensions: cdnErrorExtensions(err) }] }));
}

/** The route's errorHandler: a body over the limit gets the catalog's 413; anything else goes on to Fastify's handler. */
export function bodyLimitErrorHandler(maxBodyBytes: number) {
  return (error: FastifyError, _request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (error.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') throw error;
    return sendGraphqlError(reply, new CdnError('CDN_ERR_QUERY_BODY_TOO_LARGE', [maxBodyBytes], { maxBodyBytes }));
  };
}

/**
 * preHandler: a JSON array body (a batch of operations) is refused before Apollo sees it. One
 * request could otherwise carry any number of operations past the per-request limits.
 */
export async function refuseBatches(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  if (!Array.isArray(request.body)) return undefined;
  return sendGraphqlError(reply, new CdnError('CDN_ERR_QUERY_BATCH_OFF', []));
}
