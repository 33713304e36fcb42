/**
 * Token revocations between api processes: a revoked token must be refused by every api
 * instance within a second, and keep being refused until it expires.
 *
 * - `revoke` records the token id as revoked until the token's own expiry (the second tier
 *   of the revocation check; PostgreSQL stays the truth) and appends a notice that every
 *   api process reads, so each drops its in-memory decision for that token at once.
 * - `read` returns the notices after a cursor, blocking like the fleet channel's acks.
 *
 * One contract, two implementations (Redis, and in-process for a single api without
 * REDIS_URL); one contract suite runs against both.
 */

export interface Revocation {
  tokenId: string;
  /** When the token expires (epoch ms): no need to remember the revocation after that. */
  expiresAt: number;
}

export interface RevocationReadOptions {
  blockMs: number;
  count?: number;
}

export interface RevocationChannel {
  /** Records the revocation and notifies every reader; resolves once both are stored. */
  revoke(revocation: Revocation): Promise<void>;
  /** Whether the token id is recorded as revoked (false also when the record expired or was lost). */
  isRevoked(tokenId: string): Promise<boolean>;
  /**
   * Token ids revoked after `cursor` (opaque; '$' for only new ones), waiting up to blockMs for
   * the first. `lost` is true when notices may have been missed (the cursor fell behind what
   * is kept): a reader must then forget every cached decision.
   */
  read(cursor: string, options: RevocationReadOptions): Promise<{ cursor: string; tokenIds: string[]; lost: boolean }>;
  /** Stops pending reads (they answer with nothing) and releases connections. */
  close(): Promise<void>;
}
