/**
 * Token revocations in one process (an api without REDIS_URL). Same contract as the Redis
 * one: records that expire with their token, and a bounded list of notices read with a
 * cursor. The clock is injectable so tests can expire records without waiting.
 */
import type { Revocation, RevocationChannel, RevocationReadOptions } from '../core/revocation.port';
import { Signal, wokenOrTimeout } from './signal';

export const MEMORY_REVOCATION_NOTICES_MAX_DEFAULT = 10_000;
const READ_COUNT_DEFAULT = 500;

export class MemoryRevocations implements RevocationChannel {
  readonly #now: () => number;
  readonly #maxNotices: number;
  /** tokenId -> expiry (epoch ms). */
  readonly #revoked = new Map<string, number>();
  /** Ascending by n, no holes; the cursor is n as a decimal string ('0': before everything). */
  #notices: Array<{ n: number; tokenId: string }> = [];
  #lastN = 0;
  #wake = new Signal();
  #closed = false;

  constructor(options: { now?: () => number; maxNotices?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxNotices = options.maxNotices ?? MEMORY_REVOCATION_NOTICES_MAX_DEFAULT;
  }

  async revoke(revocation: Revocation): Promise<void> {
    this.#assertOpen();
    checkRevocation(revocation);
    if (revocation.expiresAt > this.#now()) this.#revoked.set(revocation.tokenId, revocation.expiresAt);
    this.#lastN += 1;
    this.#notices.push({ n: this.#lastN, tokenId: revocation.tokenId });
    if (this.#notices.length > this.#maxNotices) this.#notices.splice(0, this.#notices.length - this.#maxNotices);
    this.#prune();
    this.#wake.fire();
    this.#wake = new Signal();
  }

  async isRevoked(tokenId: string): Promise<boolean> {
    this.#assertOpen();
    const until = this.#revoked.get(tokenId);
    if (until === undefined) return false;
    if (until > this.#now()) return true;
    this.#revoked.delete(tokenId);
    return false;
  }

  async read(cursor: string, options: RevocationReadOptions): Promise<{ cursor: string; tokenIds: string[]; lost: boolean }> {
    this.#assertOpen();
    const count = options.count ?? READ_COUNT_DEFAULT;
    const after = cursor === '$' ? this.#lastN : parseCursor(cursor);
    const first = this.#peek(after, count);
    if (first.tokenIds.length > 0 || first.lost || options.blockMs <= 0) return first;
    await wokenOrTimeout(this.#wake.fired, options.blockMs);
    if (this.#closed) return { cursor: String(after), tokenIds: [], lost: false };
    return this.#peek(after, count);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wake.fire();
  }

  #peek(after: number, count: number): { cursor: string; tokenIds: string[]; lost: boolean } {
    const oldest = this.#notices[0];
    // Notices after `after` were trimmed away: the reader cannot know which tokens they named.
    const lost = oldest !== undefined && after < oldest.n - 1;
    const start = oldest === undefined || after < oldest.n ? 0 : after - oldest.n + 1;
    const run = this.#notices.slice(start, start + count);
    if (run.length === 0) return { cursor: String(after), tokenIds: [], lost };
    return { cursor: String(run[run.length - 1]!.n), tokenIds: run.map((e) => e.tokenId), lost };
  }

  /** Drops expired records once there are many (bounded memory without a timer). */
  #prune(): void {
    if (this.#revoked.size < 1024) return;
    const now = this.#now();
    for (const [id, until] of this.#revoked) if (until <= now) this.#revoked.delete(id);
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('the revocation channel is closed');
  }
}

/** Shared with redis-revocations.ts. */
export function checkRevocation(revocation: Revocation): void {
  if (typeof revocation.tokenId !== 'string' || revocation.tokenId === '' || revocation.tokenId.length > 200) {
    throw new TypeError(`a revocation needs a token id of 1 to 200 characters, got ${JSON.stringify(revocation.tokenId)}`);
  }
  if (!Number.isFinite(revocation.expiresAt)) throw new TypeError(`a revocation needs the token's expiry in epoch ms, got ${revocation.expiresAt}`);
}

function parseCursor(cursor: string): number {
  const n = Number(cursor);
  if (!Number.isInteger(n) || n < 0) throw new TypeError(`not a revocation cursor: ${JSON.stringify(cursor)} (pass '$' or a cursor read returned)`);
  return n;
}

