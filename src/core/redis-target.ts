/**
 * Where the Redis of an installation is, as the api's and the edge's config.ts read it:
 * one server (REDIS_URL), a master watched by Redis Sentinel (REDIS_SENTINELS), or a Redis
 * Cluster (REDIS_CLUSTER_NODES); at most one of them. Each config.ts passes the variable
 * names, so the environment is still read there (and the README table checked against it);
 * the rules live here once, so the api and the edge cannot disagree on them.
 *
 * Redis Cluster routes each key by its hash slot, and the bus, the fleet and the revocations
 * write several keys in one script or MULTI, which Cluster allows only within one slot. So
 * under Cluster the key prefix must carry a hash tag (`{edgeplane}:`): every key of the
 * installation then lives in one slot. The default prefix there is `{edgeplane}:`; a prefix
 * set without a hash tag is refused rather than rewritten, since every api and edge must use
 * exactly the same keys and a silent rewrite would surprise whoever reads Redis by hand.
 */
import type { EnvReader } from './env.reader';

export interface RedisNode {
  host: string;
  port: number;
}

export type RedisTarget =
  | { mode: 'server'; url: string }
  | {
      mode: 'sentinel';
      sentinels: RedisNode[];
      /** The master group name the sentinels monitor (`sentinel monitor <name> ...`). */
      masterName: string;
      /** The data nodes' AUTH (ACL user and password). */
      username?: string;
      password?: string;
      /** The sentinels' own `requirepass`, when they have one. */
      sentinelPassword?: string;
    }
  | { mode: 'cluster'; nodes: RedisNode[]; username?: string; password?: string };

/** The variables, named by each config.ts. */
export interface RedisVariables {
  url: string;
  sentinels: string;
  sentinelMaster: string;
  sentinelPassword: string;
  clusterNodes: string;
  username: string;
  password: string;
  prefix: string;
}

export const REDIS_PREFIX_DEFAULT = 'edgeplane:';
export const REDIS_CLUSTER_PREFIX_DEFAULT = '{edgeplane}:';
export const REDIS_SENTINEL_MASTER_DEFAULT = 'mymaster';

/** The target (undefined: no Redis configured) and the key prefix that goes with it. */
export function readRedisTarget(r: EnvReader, v: RedisVariables): { target: RedisTarget | undefined; prefix: string } {
  const url = r.url(v.url, ['redis:', 'rediss:']);
  const sentinelsRaw = r.string(v.sentinels);
  const clusterRaw = r.string(v.clusterNodes);
  const masterRaw = r.string(v.sentinelMaster);
  const sentinelPassword = r.string(v.sentinelPassword);
  const username = r.string(v.username);
  const password = r.string(v.password);
  const prefixRaw = r.string(v.prefix);

  const given = [
    [v.url, r.string(v.url)],
    [v.sentinels, sentinelsRaw],
    [v.clusterNodes, clusterRaw],
  ].filter(([, value]) => value !== undefined);
  if (given.length > 1) {
    for (const [name] of given.slice(1)) {
      r.problem(name!, `cannot be set together with ${given[0]![0]}: set one of ${v.url} (one server), ${v.sentinels} (Redis Sentinel) or ${v.clusterNodes} (Redis Cluster)`);
    }
  }
  if (sentinelsRaw === undefined) {
    for (const [name, value] of [[v.sentinelMaster, masterRaw], [v.sentinelPassword, sentinelPassword]] as const) {
      if (value !== undefined) r.problem(name, `applies only with ${v.sentinels}, which is not set`);
    }
  }
  if (sentinelsRaw === undefined && clusterRaw === undefined) {
    for (const [name, value] of [[v.username, username], [v.password, password]] as const) {
      if (value === undefined) continue;
      r.problem(name, r.string(v.url) !== undefined ? `is for ${v.sentinels} or ${v.clusterNodes}: with ${v.url}, put the credentials in the URL (redis://user:password@host:port)` : `applies only with ${v.sentinels} or ${v.clusterNodes}`);
    }
  }
  const credentials = { ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };

  if (sentinelsRaw !== undefined && given[0]![0] === v.sentinels) {
    const sentinels = readNodes(r, v.sentinels, sentinelsRaw, 26379);
    const masterName = masterRaw ?? REDIS_SENTINEL_MASTER_DEFAULT;
    if (!/^[\x21-\x7e]{1,128}$/.test(masterName)) {
      r.problem(v.sentinelMaster, `must be the master name the sentinels monitor (printable, no spaces, at most 128 characters), got ${JSON.stringify(masterName)}`);
    }
    const target: RedisTarget = { mode: 'sentinel', sentinels, masterName, ...credentials, ...(sentinelPassword === undefined ? {} : { sentinelPassword }) };
    return { target, prefix: prefixRaw ?? REDIS_PREFIX_DEFAULT };
  }
  if (clusterRaw !== undefined && given[0]![0] === v.clusterNodes) {
    const nodes = readNodes(r, v.clusterNodes, clusterRaw, 6379);
    const prefix = prefixRaw ?? REDIS_CLUSTER_PREFIX_DEFAULT;
    if (!hasHashTag(prefix)) {
      r.problem(
        v.prefix,
        `must carry a Redis Cluster hash tag under ${v.clusterNodes}, e.g. "{${prefix.replace(/[{}]/g, '').replace(/:$/, '') || 'edgeplane'}}:" (got ${JSON.stringify(prefix)}): ` +
          'the bus writes several keys in one script, which Redis Cluster allows only within one hash slot',
      );
    }
    return { target: { mode: 'cluster', nodes, ...credentials }, prefix };
  }
  return { target: url === undefined ? undefined : { mode: 'server', url }, prefix: prefixRaw ?? REDIS_PREFIX_DEFAULT };
}

/**
 * Whether every key `${prefix}…` hashes by the prefix alone: Redis hashes the part between
 * the first `{` and the first `}` after it, when that part is not empty.
 */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  if (open < 0) return false;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1;
}

/** `host:port,host:port` (`[v6]:port` for IPv6); a missing port is `defaultPort`. */
function readNodes(r: EnvReader, name: string, raw: string, defaultPort: number): RedisNode[] {
  const nodes: RedisNode[] = [];
  for (const item of raw.split(',').map((s) => s.trim())) {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(item);
    const port = m?.[3] === undefined ? defaultPort : Number(m[3]);
    if (m === null || port < 1 || port > 65535) {
      r.problem(name, `must be a comma-separated list of host:port (e.g. "10.0.0.1:${defaultPort},10.0.0.2:${defaultPort}"), got ${JSON.stringify(item)}`);
      continue;
    }
    nodes.push({ host: m[1] ?? m[2]!, port });
  }
  return nodes;
}
