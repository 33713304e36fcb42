/**
 * API tokens are JWTs (jose, HS256) with the claims the api needs to decide without a
 * lookup: `jti` (the token's id, its row in `api_token`), `role`, `cid` (customer scope, for
 * customer roles) and `exp`. The signing key is derived from CDN_SECRET_KEY with HKDF under
 * a label of its own, so it is never the key that encrypts origin credentials; rotating
 * CDN_SECRET_KEY invalidates every token (the bootstrap CDN_ADMIN_TOKEN still works).
 */
import { createHash, hkdfSync } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { cdnError } from '../../core/errors';
import { isCustomerRole, isRole, type Role } from '../../core/roles';

export const TOKEN_ISSUER = 'edgeplane';

export interface TokenClaims {
  tokenId: string;
  role: Role;
  customerId?: string;
  /** Epoch ms. */
  expiresAt: number;
}

export function tokenSigningKey(secretKey: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secretKey, 'edgeplane', 'api token signing v1', 32));
}

/** Hex SHA-256 of a token as presented: what the database keeps instead of the token. */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Whether a bearer value has the shape of a JWT (three base64url parts). */
export function looksLikeJwt(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);
}

export async function signToken(key: Uint8Array, claims: TokenClaims, issuedAt: number): Promise<string> {
  const payload: Record<string, unknown> = { role: claims.role };
  if (claims.customerId !== undefined) payload.cid = claims.customerId;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setJti(claims.tokenId)
    .setIssuer(TOKEN_ISSUER)
    .setIssuedAt(Math.floor(issuedAt / 1000))
    .setExpirationTime(Math.floor(claims.expiresAt / 1000))
    .sign(key);
}

/**
 * The claims of a token this api signed. Throws CDN_ERR_AUTH_INVALID (bad signature,
 * malformed, unknown role) or CDN_ERR_AUTH_EXPIRED.
 */
export async function verifyToken(key: Uint8Array, token: string, now: number): Promise<TokenClaims> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, key, { issuer: TOKEN_ISSUER, algorithms: ['HS256'], currentDate: new Date(now) }));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) {
      const exp = (err.payload as { exp?: number }).exp;
      throw cdnError('CDN_ERR_AUTH_EXPIRED', exp === undefined ? 'an earlier time' : new Date(exp * 1000).toISOString());
    }
    throw cdnError('CDN_ERR_AUTH_INVALID');
  }
  const { jti, role, cid, exp } = payload as { jti?: unknown; role?: unknown; cid?: unknown; exp?: unknown };
  if (typeof jti !== 'string' || typeof role !== 'string' || !isRole(role) || typeof exp !== 'number') throw cdnError('CDN_ERR_AUTH_INVALID');
  if (isCustomerRole(role) !== (typeof cid === 'string')) throw cdnError('CDN_ERR_AUTH_INVALID');
  return { tokenId: jti, role, customerId: typeof cid === 'string' ? cid : undefined, expiresAt: exp * 1000 };
}
