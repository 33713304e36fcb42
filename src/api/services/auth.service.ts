/**
 * Who is calling. Today one admin token (CDN_ADMIN_TOKEN); the Principal already has the
 * shape scoped API tokens will need (kind, role, token id, customer scope), so resolvers
 * and the auth checker will not change when tokens arrive.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { cdnError } from '../../core/errors';

export type Role = 'admin';

export type Principal = {
  kind: 'admin' | 'token';
  role: Role;
  tokenId?: string;
  customerId?: string;
};

export class Authenticator {
  readonly #adminDigest: Buffer;

  constructor(adminToken: string) {
    this.#adminDigest = digest(adminToken);
  }

  /**
   * The principal for an `Authorization` header value. Throws CDN_ERR_AUTH_MISSING or
   * CDN_ERR_AUTH_INVALID.
   */
  authenticate(authorization: string | undefined): Principal {
    if (authorization === undefined || authorization.trim() === '') throw cdnError('CDN_ERR_AUTH_MISSING');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
    if (!match) throw cdnError('CDN_ERR_AUTH_INVALID');
    // Comparing fixed-length digests keeps the time independent of where the tokens differ
    // and of the presented token's length.
    if (!timingSafeEqual(digest(match[1]!), this.#adminDigest)) throw cdnError('CDN_ERR_AUTH_INVALID');
    return { kind: 'admin', role: 'admin' };
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The Authorization value from a graphql-ws connection_init payload. Clients put it in
 * different places; the common shapes are accepted.
 */
export function authorizationFromConnectionParams(params: Readonly<Record<string, unknown>> | undefined): string | undefined {
  if (!params) return undefined;
  const direct = params.Authorization ?? params.authorization;
  if (typeof direct === 'string') return direct;
  const headers = params.headers;
  if (headers && typeof headers === 'object') {
    const h = headers as Record<string, unknown>;
    const nested = h.Authorization ?? h.authorization;
    if (typeof nested === 'string') return nested;
  }
  return undefined;
}
