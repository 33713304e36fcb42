/**
 * The change bus on Redis: a stream of changes plus the snapshot, under one key prefix.
 *
 *   `${prefix}changes`        stream, entry id `${seq}-0`, one field `c` = the Change as JSON
 *   `${prefix}snapshot`       string, the Snapshot as JSON
 *   `${prefix}published-seq`  string, the seq the snapshot and the stream's end reflect
 *
 * The seq is the entry id, so Redis itself refuses to go backwards; publishing is one Lua
 * script, so the changes, the snapshot and published-seq move together and two racing
 * relays cannot append one change twice. For Redis Cluster, give the prefix a hash tag
 * (e.g. `{edgeplane}:`) so the script's keys share a slot.
 *
 * While Redis is unreachable every call, `read` included, rejects within a few seconds
 * (ioredis gives up on a command after one reconnection attempt); callers retry with
 * backoff. A blocking read runs on a connection of its own, so it never delays publish.
 */
import type { ChangeBus, ReadOptions, ReadResult } from '../core/bus.port';
import type { Change, Snapshot } from '../core/bus.events';
import type { Logger } from '../obs/logger.factory';
import { CLOSED, RedisConnections, type RedisWhere, type StreamEntry, where } from './redis-connections';
import { checkPublishBatch, linkedLength, READ_COUNT_DEFAULT } from './chain.rules';

export const REDIS_STREAM_MAX_LENGTH_DEFAULT = 10_000;

export type RedisBusOptions = RedisWhere & {
  /** Prepended to every key, e.g. `edgeplane:` (`{edgeplane}:` under Redis Cluster). */
  prefix: string;
  /** Approximate (`MAXLEN ~`) bound on the stream; a consumer behind the trimmed part gets `gap`. */
  streamMaxLength?: number;
  logger?: Logger;
};

/**
 * Skips changes at or below published-seq (they are in the stream already), appends the
 * rest, then replaces the snapshot unless it is older than what is published (a slower
 * relay finishing late). A snapshot newer than the last change moves published-seq to it,
 * which is how a relay republishes after Redis lost the stream: readers between the two
 * then get `gap` and reload the snapshot.
 * KEYS: stream, snapshot, published-seq. ARGV: maxlen, snapshot json, snapshot seq,
 * then seq and change json for each change.
 */
const PUBLISH_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[3]) or '0')
local appended = 0
for i = 4, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if seq > current then
    -- pcall: if the stream somehow holds a later id than published-seq says, skip the
    -- entry rather than abort half way through the script.
    local added = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[i] .. '-0', 'c', ARGV[i + 1])
    if type(added) ~= 'table' or not added.err then
      current = seq
      appended = appended + 1
    end
  end
end
local snapshotSeq = tonumber(ARGV[3])
if snapshotSeq >= current then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('SET', KEYS[3], ARGV[3])
end
return appended
`;

type Peek = { kind: 'changes'; changes: Change[] } | { kind: 'gap'; publishedSeq: number } | { kind: 'idle' };

export class RedisBus implements ChangeBus {
  readonly #maxLength: number;
  readonly #keys: { stream: string; snapshot: string; published: string };
  readonly #redis: RedisConnections;

  constructor(options: RedisBusOptions) {
    const maxLength = options.streamMaxLength ?? REDIS_STREAM_MAX_LENGTH_DEFAULT;
    if (!Number.isInteger(maxLength) || maxLength < 1) {
      throw new RangeError(`streamMaxLength must be a whole number of at least 1, got ${maxLength}`);
    }
    this.#maxLength = maxLength;
    this.#keys = {
      stream: `${options.prefix}changes`,
      snapshot: `${options.prefix}snapshot`,
      published: `${options.prefix}published-seq`,
    };
    this.#redis = new RedisConnections({ ...where(options), name: 'bus', what: 'change bus', logger: options.logger });
  }

  async publishedSeq(): Promise<number | null> {
    this.#assertOpen();
    return parseSeq(await this.#redis.command.get(this.#keys.published));
  }

  async publish(changes: Change[], snapshot: Snapshot): Promise<void> {
    this.#assertOpen();
    checkPublishBatch(changes, snapshot);
    const args: (string | number)[] = [this.#maxLength, JSON.stringify(snapshot), snapshot.seq];
    for (const change of changes) args.push(change.seq, JSON.stringify(change));
    const { stream, snapshot: snapshotKey, published } = this.#keys;
    await this.#redis.command.eval(PUBLISH_SCRIPT, 3, stream, snapshotKey, published, ...args);
  }

  async readSnapshot(): Promise<Snapshot | null> {
    this.#assertOpen();
    const json = await this.#redis.command.get(this.#keys.snapshot);
    return json === null ? null : (JSON.parse(json) as Snapshot);
  }

  async read(afterSeq: number, options: ReadOptions): Promise<ReadResult> {
    this.#assertOpen();
    const count = options.count ?? READ_COUNT_DEFAULT;
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a whole number of at least 1, got ${count}`);
    const first = await this.#peek(afterSeq, count);
    if (first.kind !== 'idle') return first;
    // BLOCK 0 would mean "forever" to Redis.
    if (options.blockMs > 0) {
      const entries = await this.#redis.blockingRead(this.#keys.stream, `${afterSeq}-0`, count, Math.ceil(options.blockMs));
      if (entries === CLOSED) return { kind: 'changes', changes: [] };
      const woken = entries.map((entry) => this.#decode(entry));
      if (woken.length > 0) {
        const linked = linkedLength(afterSeq, woken);
        if (linked > 0) return { kind: 'changes', changes: woken.slice(0, linked) };
        // The entry right after afterSeq is not its successor: fall through to the
        // peek, which reports the gap with a consistent publishedSeq.
      }
    }
    // Also catches a gap that opened while we waited (the keys flushed, a snapshot
    // republished) and a change that landed just after the block timed out.
    const second = await this.#peek(afterSeq, count);
    return second.kind === 'idle' ? { kind: 'changes', changes: [] } : second;
  }

  async close(): Promise<void> {
    await this.#redis.close();
  }

  /** One atomic look at the stream after afterSeq and at published-seq. */
  async #peek(afterSeq: number, count: number): Promise<Peek> {
    const replies = await this.#redis.command
      .multi()
      .xrange(this.#keys.stream, `(${afterSeq}-0`, '+', 'COUNT', count)
      .get(this.#keys.published)
      .exec();
    if (replies === null) throw new Error('Redis aborted the read transaction');
    const [[rangeError, range], [getError, publishedRaw]] = replies as [[Error | null, StreamEntry[]], [Error | null, string | null]];
    if (rangeError !== null) throw rangeError;
    if (getError !== null) throw getError;
    const published = parseSeq(publishedRaw) ?? 0;
    if (range.length > 0) {
      const changes = range.map((entry) => this.#decode(entry));
      const linked = linkedLength(afterSeq, changes);
      return linked > 0 ? { kind: 'changes', changes: changes.slice(0, linked) } : { kind: 'gap', publishedSeq: published };
    }
    // Nothing after afterSeq: fine only if afterSeq is exactly where the chain ends (an
    // empty bus counts as ending at 0); otherwise entries were lost or the consumer is ahead.
    return published === afterSeq ? { kind: 'idle' } : { kind: 'gap', publishedSeq: published };
  }

  #decode([id, fields]: StreamEntry): Change {
    const at = fields.indexOf('c');
    const json = at >= 0 && at % 2 === 0 ? fields[at + 1] : undefined;
    if (json === undefined) throw new Error(`stream entry ${id} in ${this.#keys.stream} has no "c" field`);
    return JSON.parse(json) as Change;
  }

  #assertOpen(): void {
    // Rejecting (rather than answering "no changes") keeps a consumer that forgot to
    // stop from spinning on an already-resolved read.
    if (this.#redis.closed) throw new Error('the change bus is closed');
  }
}

export function createRedisBus(options: RedisBusOptions): ChangeBus {
  return new RedisBus(options);
}

function parseSeq(raw: string | null): number | null {
  if (raw === null) return null;
  const seq = Number(raw);
  if (!Number.isSafeInteger(seq)) throw new Error(`published-seq holds "${raw}", not a sequence number`);
  return seq;
}
