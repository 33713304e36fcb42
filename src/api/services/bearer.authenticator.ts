/**
 * Who is calling. Two kinds of credentials:
 * - the bootstrap admin token (CDN_ADMIN_TOKEN), compared in constant time;
 * - API tokens (JWTs this api signed, see token-signing.ts), checked by the TokenVerifier:
 *   signature and expiry, then revocation (memory, Redis, PostgreSQL).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { cdnError } from '../../core/errors';
import type { Principal } from '../../core/roles';
import { looksLikeJwt } from './token-signing';
import type { TokenVerifier } from './token-verifier';

export type { Principal };

const BOOTSTRAP_ADMIN: Principal = Object.freeze({ kind: 'admin', role: 'admin' });

export class Authenticator {
  readonly #adminDigest: Buffer;
  readonly #tokens: TokenVerifier | undefined;

  constructor(adminToken: string, tokens?: TokenVerifier) {
    this.#adminDigest = digest(adminToken);
    this.#tokens = tokens;
  }

  /**
   * The principal for an `Authorization` header value: synchronous for the admin token and
   * for tokens this process decided recently. Throws (or rejects with) CDN_ERR_AUTH_MISSING,
   * CDN_ERR_AUTH_INVALID, CDN_ERR_AUTH_EXPIRED or CDN_ERR_AUTH_REVOKED.
   */
  authenticate(authorization: string | undefined): Principal | Promise<Principal> {
    if (authorization === undefined || authorization.trim() === '') throw cdnError('CDN_ERR_AUTH_MISSING');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
    if (!match) throw cdnError('CDN_ERR_AUTH_INVALID');
    const presented = match[1]!;
    if (this.#tokens !== undefined && looksLikeJwt(presented)) return this.#tokens.verify(presented);
    // Comparing fixed-length digests keeps the time independent of where the tokens differ
    // and of the presented token's length.
    if (!timingSafeEqual(digest(presented), this.#adminDigest)) throw cdnError('CDN_ERR_AUTH_INVALID');
    return BOOTSTRAP_ADMIN;
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
