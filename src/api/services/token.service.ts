/**
 * API tokens: creation (the token is returned once; only its hash is stored), listing,
 * revocation. Who may do what is the role table's (core/roles.ts `mayIssue`, `allows`):
 * an admin manages every token; a customer admin manages its own customer's tokens, up to
 * its own role. Revocation is recorded in PostgreSQL (the truth) and then on the
 * revocation channel, which tells every api process. Throws CdnError only.
 */
import { parseDuration } from '../../core/duration.rules';
import { randomUUID } from 'node:crypto';
import { cdnError, invalidInput, type FieldProblem } from '../../core/errors';
import type { RevocationChannel } from '../../core/revocation.port';
import { allows, isCustomerRole, isRole, mayIssue, type Role } from '../../core/roles';
import { checkText, isPlainText } from '../../core/text.rules';
import type { Logger } from '../../obs/logger.factory';
import { customerExists } from '../db/customer.store';
import type { Database } from '../db/database';
import { insertToken, lockToken, markTokenRevoked, readTokenCheck, readTokens } from '../db/token.store';
import type { ApiTokenRecord } from '../domain/token.types';
import type { Principal } from './bearer.authenticator';
import { signToken, tokenSha256 } from './token-signing';
import type { TokenRow, TokenVerifier } from './token-verifier';

export const TOKEN_EXPIRES_IN_DEFAULT = '90d';
/** A year: tokens are credentials that leak; long-lived automation should rotate. */
export const TOKEN_EXPIRES_IN_MAX_SECONDS = 366 * 24 * 3600;
export const TOKEN_EXPIRES_IN_MIN_SECONDS = 60;
export const TOKEN_NAME_MAX_CHARS = 200;

export interface CreateTokenCommand {
  name: string;
  role: string;
  customerId?: string | null;
  /** `90d`, `12h`, `30m`, `3600s` or a number of seconds. */
  expiresIn?: string | null;
}

export class TokenService {
  readonly #db: Database;
  readonly #key: Uint8Array;
  readonly #revocations: RevocationChannel;
  readonly #verifier: TokenVerifier | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #onRevoked: () => void;

  constructor(options: { db: Database; key: Uint8Array; revocations: RevocationChannel; verifier?: TokenVerifier; logger: Logger; now?: () => number; onRevoked?: () => void }) {
    this.#db = options.db;
    this.#key = options.key;
    this.#revocations = options.revocations;
    this.#verifier = options.verifier;
    this.#log = options.logger;
    this.#now = options.now ?? Date.now;
    this.#onRevoked = options.onRevoked ?? (() => {});
  }

  /** A new token and its secret (the JWT), which is never stored and never shown again. */
  async create(actor: Principal | 'cli', cmd: CreateTokenCommand): Promise<{ token: ApiTokenRecord; secret: string }> {
    const problems: FieldProblem[] = [];
    const name = typeof cmd.name === 'string' ? cmd.name.trim() : '';
    // The raw name: a control character is refused wherever it is, trimmed or not.
    const nameText = typeof cmd.name === 'string' ? checkText(cmd.name, 'input.name') : [];
    if (nameText.length > 0) problems.push(...nameText);
    else if (name === '' || name.length > TOKEN_NAME_MAX_CHARS) problems.push({ field: 'input.name', message: `must be 1 to ${TOKEN_NAME_MAX_CHARS} characters` });
    const role = isRole(cmd.role) ? cmd.role : undefined;
    if (role === undefined) problems.push({ field: 'input.role', message: 'must be one of admin, operator, viewer, customer-admin, customer-purger, customer-viewer' });
    const customerId = cmd.customerId ?? undefined;
    if (customerId !== undefined) problems.push(...checkText(customerId, 'input.customerId'));
    if (role !== undefined && isCustomerRole(role) && customerId === undefined) problems.push({ field: 'input.customerId', message: `is required for the customer role ${role}` });
    if (role !== undefined && !isCustomerRole(role) && customerId !== undefined) problems.push({ field: 'input.customerId', message: `must be left out for the platform role ${role} (it acts on every customer)` });
    const seconds = parseDuration(cmd.expiresIn ?? TOKEN_EXPIRES_IN_DEFAULT);
    if (seconds === undefined) problems.push({ field: 'input.expiresIn', message: 'must be a duration such as 90d, 12h, 30m or 3600s' });
    else if (seconds < TOKEN_EXPIRES_IN_MIN_SECONDS || seconds > TOKEN_EXPIRES_IN_MAX_SECONDS) problems.push({ field: 'input.expiresIn', message: `must be between ${TOKEN_EXPIRES_IN_MIN_SECONDS} seconds and 366 days` });
    if (problems.length > 0) throw invalidInput(problems);
    if (actor !== 'cli') {
      // A scoped caller asking about another customer learns nothing (NOT_FOUND, as if absent).
      if (customerId !== undefined && actor.customerId !== undefined && actor.customerId !== customerId) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
      if (!mayIssue(actor, role!, customerId)) throw cdnError('CDN_ERR_AUTH_FORBIDDEN', `create a ${role} token${customerId === undefined ? '' : ` for customer "${customerId}"`}`);
    }
    const now = this.#now();
    const id = randomUUID();
    const expiresAt = now + seconds! * 1000;
    const secret = await signToken(this.#key, { tokenId: id, role: role!, customerId, expiresAt }, now);
    const token = await this.#db.transaction(async (m) => {
      if (customerId !== undefined && !(await customerExists(m, customerId))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
      return insertToken(m, {
        id,
        name,
        role: role!,
        customerId: customerId ?? null,
        tokenSha256: tokenSha256(secret),
        createdAt: new Date(now),
        expiresAt: new Date(expiresAt),
        revokedAt: null,
        createdBy: createdBy(actor),
      });
    });
    this.#log.info({ tokenId: id, role, customer: customerId, by: createdBy(actor) }, 'api token created');
    return { token, secret };
  }

  /** Tokens the actor may manage: all (admin), or its customer's (customer admin); newest first. */
  async list(actor: Principal, customerId?: string | null): Promise<ApiTokenRecord[]> {
    const scope = customerId ?? actor.customerId;
    if (scope !== undefined && !allows(actor, 'token.manage', scope)) {
      if (actor.customerId !== undefined && actor.customerId !== scope) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', scope);
      throw cdnError('CDN_ERR_AUTH_FORBIDDEN', 'list tokens');
    }
    if (scope === undefined && actor.role !== 'admin') throw cdnError('CDN_ERR_AUTH_FORBIDDEN', 'list tokens');
    // No customer id holds control characters (ids are slugs): as for an unknown customer, no tokens.
    if (scope !== undefined && !isPlainText(scope)) return [];
    return this.#db.read((m) => readTokens(m, scope));
  }

  /**
   * Revokes the token (idempotent) and tells every api process; from then on it is refused
   * everywhere. A token the actor may not manage is NOT_FOUND.
   */
  async revoke(actor: Principal, id: string): Promise<ApiTokenRecord> {
    const token = await this.#db.transaction(async (m) => {
      const row = isUuidLike(id) ? await lockToken(m, id) : null;
      if (row === null || !this.#mayManage(actor, row)) throw cdnError('CDN_ERR_TOKEN_NOT_FOUND', id);
      if (row.revokedAt === null) {
        row.revokedAt = new Date(this.#now());
        await markTokenRevoked(m, id, row.revokedAt);
        this.#onRevoked();
      }
      return row;
    });
    this.#verifier?.forget(token.id);
    try {
      await this.#revocations.revoke({ tokenId: token.id, expiresAt: token.expiresAt.getTime() });
    } catch (err) {
      // PostgreSQL has it, so every api refuses the token once its cached decision ends (at most the L1 time to live).
      this.#log.error({ tokenId: token.id, err: err instanceof Error ? err.message : String(err) }, 'token revoked in the database, but other api processes could not be told at once');
    }
    this.#log.info({ tokenId: token.id, by: createdBy(actor) }, 'api token revoked');
    return token;
  }

  /** The verifier's database lookup. */
  async lookup(tokenId: string): Promise<TokenRow | undefined> {
    return (await this.#db.read((m) => readTokenCheck(m, tokenId))) ?? undefined;
  }

  #mayManage(actor: Principal, row: ApiTokenRecord): boolean {
    if (row.customerId === null) return actor.role === 'admin' && actor.customerId === undefined;
    return allows(actor, 'token.manage', row.customerId);
  }
}

function createdBy(actor: Principal | 'cli'): string {
  if (actor === 'cli') return 'cli';
  return actor.kind === 'admin' ? 'admin-token' : `token:${actor.tokenId}`;
}

function isUuidLike(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}

