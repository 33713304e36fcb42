/**
 * Turns a bearer JWT into a Principal, with revocation checked in three tiers:
 *
 *   L1  this process's memory (lru-cache): recent decisions by token, answered
 *       synchronously; each entry lives at most `l1TtlMs` and never past the token's expiry
 *   L2  the revocation channel (Redis): token ids revoked, kept until they expire
 *   DB  PostgreSQL, the truth: the token's row must exist, match the token's hash, and not
 *       be revoked
 *
 * A revocation anywhere reaches every api process as a notice on the channel, which drops
 * that token's L1 entry at once (the revoking process drops its own before answering). If
 * notices may have been missed (the channel says so, or reading it fails) every L1 entry is
 * dropped, and L1 stays off until reading works again: a decision is then always fresh.
 *
 * Listeners (`onRevoked`) hear the same: the token ids revoked, or that notices may have been
 * missed. A request is checked when it arrives, but a graphql-ws connection lives on after its
 * check, so the subscription server listens and closes the connections of revoked tokens (and
 * re-checks them all when notices were lost).
 */
import { LRUCache } from 'lru-cache';
import { cdnError, isCdnError, type CdnError } from '../../core/errors';
import type { RevocationChannel } from '../../core/revocation.port';
import type { Logger } from '../../obs/logger.factory';
import type { Principal } from '../../core/roles';
import { tokenSha256, verifyToken } from './token-signing';

export const TOKEN_L1_MAX_DEFAULT = 10_000;
export const TOKEN_L1_TTL_MS_DEFAULT = 60_000;

/** What the database says about a token id. */
export interface TokenRow {
  tokenSha256: string;
  name: string;
  expiresAt: Date;
  revokedAt: Date | null;
}

export interface TokenVerifierCounters {
  l1Hit(): void;
  l1Miss(): void;
  l2Hit(): void;
}

export interface TokenVerifierOptions {
  key: Uint8Array;
  revocations: RevocationChannel;
  lookup(tokenId: string): Promise<TokenRow | undefined>;
  logger: Logger;
  counters?: TokenVerifierCounters;
  l1Max?: number;
  l1TtlMs?: number;
  now?: () => number;
}

/** What a revocation listener hears: these token ids were revoked, or notices may have been missed (re-check every token). */
export type RevocationNotice = { tokenIds: readonly string[] } | { lost: true };
export type RevocationListener = (notice: RevocationNotice) => void;

type Decision = { principal: Principal; tokenId: string } | { error: CdnError; tokenId: string };

const NO_COUNTERS: TokenVerifierCounters = { l1Hit() {}, l1Miss() {}, l2Hit() {} };

export class TokenVerifier {
  readonly #key: Uint8Array;
  readonly #revocations: RevocationChannel;
  readonly #lookup: (tokenId: string) => Promise<TokenRow | undefined>;
  readonly #log: Logger;
  readonly #counters: TokenVerifierCounters;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #l1: LRUCache<string, Decision>;
  /** tokenId -> the token string its L1 entry is under. */
  readonly #byId = new Map<string, string>();
  /** Decisions being made, so concurrent requests with one token share one lookup. */
  readonly #pending = new Map<string, Promise<Decision>>();
  /** Bumped by every notice and every reset: a decision begun before one is not cached. */
  #epoch = 0;
  /** False while notices may be missed (channel unreadable): every decision is made afresh. */
  #l1On = false;
  #reading: Promise<void> | undefined;
  #stopped = false;
  readonly #listeners = new Set<RevocationListener>();

  constructor(options: TokenVerifierOptions) {
    this.#key = options.key;
    this.#revocations = options.revocations;
    this.#lookup = options.lookup;
    this.#log = options.logger;
    this.#counters = options.counters ?? NO_COUNTERS;
    this.#ttlMs = options.l1TtlMs ?? TOKEN_L1_TTL_MS_DEFAULT;
    this.#now = options.now ?? Date.now;
    this.#l1 = new LRUCache<string, Decision>({
      max: options.l1Max ?? TOKEN_L1_MAX_DEFAULT,
      ttlAutopurge: false,
      perf: { now: () => this.#now() },
      dispose: (decision, token) => {
        if (this.#byId.get(decision.tokenId) === token) this.#byId.delete(decision.tokenId);
      },
    });
  }

  /** Starts following revocation notices; L1 is used once the first read succeeded. */
  start(): void {
    if (this.#reading === undefined) this.#reading = this.#follow();
  }

  /**
   * The principal for a token this api signed, synchronously when L1 knows the token.
   * Throws (or rejects with) CDN_ERR_AUTH_INVALID, CDN_ERR_AUTH_EXPIRED or CDN_ERR_AUTH_REVOKED.
   */
  verify(token: string): Principal | Promise<Principal> {
    if (this.#l1On) {
      const known = this.#l1.get(token);
      if (known !== undefined) {
        this.#counters.l1Hit();
        if ('error' in known) throw known.error;
        return known.principal;
      }
    }
    this.#counters.l1Miss();
    let pending = this.#pending.get(token);
    if (pending === undefined) {
      pending = this.#decide(token).finally(() => this.#pending.delete(token));
      this.#pending.set(token, pending);
    }
    return pending.then((d) => {
      if ('error' in d) throw d.error;
      return d.principal;
    });
  }

  /**
   * Drops the token's L1 entry in this process (the revoking api, before it answers, and every
   * api on a notice) and tells the listeners.
   */
  forget(tokenId: string): void {
    this.#epoch += 1;
    const token = this.#byId.get(tokenId);
    if (token !== undefined) this.#l1.delete(token);
    this.#tell({ tokenIds: [tokenId] });
  }

  /** Calls `listener` for every revocation this process hears of; returns the unsubscribe. */
  onRevoked(listener: RevocationListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #tell(notice: RevocationNotice): void {
    for (const listener of this.#listeners) {
      try {
        listener(notice);
      } catch (err) {
        this.#log.error({ err: errorMessage(err) }, 'revocation listener failed');
      }
    }
  }

  /** Stops following notices; closing the channel afterwards ends a read in progress. */
  close(): void {
    this.#stopped = true;
  }

  async #decide(token: string): Promise<Decision> {
    const epoch = this.#epoch;
    const claims = await verifyToken(this.#key, token, this.#now()); // invalid or expired: thrown, not cached
    const decision = await this.#check(token, claims.tokenId).then(
      (): Decision => ({
        tokenId: claims.tokenId,
        principal: { kind: 'token', role: claims.role, tokenId: claims.tokenId, expiresAt: claims.expiresAt, ...(claims.customerId === undefined ? {} : { customerId: claims.customerId }) },
      }),
      (err: unknown): Decision => {
        if (isCdnError(err)) return { tokenId: claims.tokenId, error: err };
        throw err;
      },
    );
    const ttl = Math.min(this.#ttlMs, claims.expiresAt - this.#now());
    if (this.#l1On && epoch === this.#epoch && ttl > 0) {
      this.#l1.set(token, decision, { ttl });
      this.#byId.set(claims.tokenId, token);
    }
    return decision;
  }

  /** Resolves when the token may be used; rejects with a CdnError when not. */
  async #check(token: string, tokenId: string): Promise<void> {
    const revoked = await this.#revocations.isRevoked(tokenId).catch((err: unknown) => {
      this.#log.warn({ err: errorMessage(err) }, 'token revocations unreachable; checking the database only');
      return false;
    });
    if (revoked) {
      this.#counters.l2Hit();
      throw cdnError('CDN_ERR_AUTH_REVOKED');
    }
    const row = await this.#lookup(tokenId);
    if (row === undefined || row.tokenSha256 !== tokenSha256(token)) throw cdnError('CDN_ERR_AUTH_INVALID');
    if (row.revokedAt !== null) {
      // The database knows, the channel did not (a lost record): tell it again.
      this.#revocations.revoke({ tokenId, expiresAt: row.expiresAt.getTime() }).catch(() => {});
      throw cdnError('CDN_ERR_AUTH_REVOKED');
    }
  }

  async #follow(): Promise<void> {
    let cursor = '$';
    let backoffMs = 200;
    // A quick read first (and after every failure): L1 goes on as soon as the channel answers.
    let quick = true;
    while (!this.#stopped) {
      try {
        const read = await this.#revocations.read(cursor, { blockMs: quick ? 0 : 2_000 });
        quick = false;
        if (this.#stopped) return;
        cursor = read.cursor;
        if (read.lost) this.#reset('revocation notices were trimmed before this api read them');
        for (const tokenId of read.tokenIds) this.forget(tokenId);
        if (!this.#l1On) this.#log.debug('token decisions cached again (revocation notices readable)');
        this.#l1On = true;
        backoffMs = 200;
      } catch (err) {
        if (this.#stopped) return;
        if (this.#l1On) this.#reset(`cannot read revocation notices (${errorMessage(err)})`);
        this.#l1On = false;
        quick = true;
        await new Promise((r) => setTimeout(r, backoffMs));
        backoffMs = Math.min(backoffMs * 2, 5_000);
      }
    }
  }

  #reset(why: string): void {
    this.#epoch += 1;
    this.#l1.clear();
    this.#byId.clear();
    this.#log.warn(`${why}: every cached token decision dropped`);
    this.#tell({ lost: true });
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
