/**
 * Token revocations on Redis, under one key prefix:
 *
 *   `${prefix}revoked:${tokenId}`   "1", expiring when the token does (PXAT): the second tier
 *                                   of the revocation check (PostgreSQL is the truth)
 *   `${prefix}token-revocations`    stream of notices, field `t` = token id, `MAXLEN ~` bounded;
 *                                   every api process tails it and drops its cached decision
 *
 * A record and its notice are one MULTI. A reader whose cursor is older than the oldest
 * notice kept is told `lost` (conservatively: the notice it read last may simply have been
 * trimmed), and must forget every cached decision. While Redis is unreachable every call
 * rejects within a few seconds.
 */
import type { Revocation, RevocationChannel, RevocationReadOptions } from '../core/revocation.port';
import type { Logger } from '../obs/logger.factory';
import { checkRevocation } from './memory-revocations';
import { CLOSED, RedisConnections, type RedisWhere, type StreamEntry, where } from './redis-connections';

export const REDIS_REVOCATION_NOTICES_MAX_DEFAULT = 10_000;
const READ_COUNT_DEFAULT = 500;
const STREAM_ID = /^\d+(-\d+)?$/;

export type RedisRevocationsOptions = RedisWhere & {
  prefix: string;
  logger?: Logger;
  maxNotices?: number;
};

export function createRedisRevocations(options: RedisRevocationsOptions): RevocationChannel {
  return new RedisRevocations(options);
}

class RedisRevocations implements RevocationChannel {
  readonly #redis: RedisConnections;
  readonly #prefix: string;
  readonly #stream: string;
  readonly #maxNotices: number;

  constructor(options: RedisRevocationsOptions) {
    this.#redis = new RedisConnections({ ...where(options), name: 'revocations', what: 'token revocations', logger: options.logger });
    this.#prefix = options.prefix;
    this.#stream = `${options.prefix}token-revocations`;
    this.#maxNotices = options.maxNotices ?? REDIS_REVOCATION_NOTICES_MAX_DEFAULT;
  }

  async revoke(revocation: Revocation): Promise<void> {
    checkRevocation(revocation);
    const multi = this.#redis.command.multi();
    // Already expired: nothing to remember, but the notice still clears cached decisions.
    if (revocation.expiresAt > Date.now()) multi.set(this.#key(revocation.tokenId), '1', 'PXAT', Math.ceil(revocation.expiresAt));
    multi.xadd(this.#stream, 'MAXLEN', '~', this.#maxNotices, '*', 't', revocation.tokenId);
    const results = await multi.exec();
    const failed = results?.find(([err]) => err !== null)?.[0];
    if (results === null || failed) throw failed ?? new Error('token revocations: the Redis transaction was aborted');
  }

  async isRevoked(tokenId: string): Promise<boolean> {
    return (await this.#redis.command.exists(this.#key(tokenId))) === 1;
  }

  async read(cursor: string, options: RevocationReadOptions): Promise<{ cursor: string; tokenIds: string[]; lost: boolean }> {
    if (cursor !== '$' && !STREAM_ID.test(cursor)) throw new RangeError(`not a revocation cursor: ${JSON.stringify(cursor)} (pass '$' or a cursor read returned)`);
    // '$' becomes the id of the newest notice now, so notices added before the next call are not skipped.
    const after = cursor === '$' ? await this.#lastId() : cursor;
    const oldest = after === '0' ? undefined : await this.#firstId();
    const lost = oldest !== undefined && compareIds(oldest, after) > 0;
    if (lost) return { cursor: await this.#lastId(), tokenIds: [], lost: true };
    const entries = await this.#redis.blockingRead(this.#stream, after, options.count ?? READ_COUNT_DEFAULT, Math.max(1, options.blockMs));
    if (entries === CLOSED || entries.length === 0) return { cursor: after, tokenIds: [], lost: false };
    return { cursor: entries[entries.length - 1]![0], tokenIds: entries.map(([, fields]) => fieldOf(fields, 't')).filter((t): t is string => t !== undefined), lost: false };
  }

  async close(): Promise<void> {
    await this.#redis.close();
  }

  #key(tokenId: string): string {
    return `${this.#prefix}revoked:${tokenId}`;
  }

  async #lastId(): Promise<string> {
    const newest = (await this.#redis.command.xrevrange(this.#stream, '+', '-', 'COUNT', 1)) as StreamEntry[];
    return newest[0]?.[0] ?? '0';
  }

  /** The oldest notice kept, if any. */
  async #firstId(): Promise<string | undefined> {
    const oldest = (await this.#redis.command.xrange(this.#stream, '-', '+', 'COUNT', 1)) as StreamEntry[];
    return oldest[0]?.[0];
  }
}

function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Orders stream ids (`<ms>-<seq>`; a bare `<ms>` counts as `<ms>-0`). */
function compareIds(a: string, b: string): number {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  const ms = BigInt(am!) - BigInt(bm!);
  if (ms !== 0n) return ms > 0n ? 1 : -1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq > 0n ? 1 : -1;
}
