/**
 * Highly available Redis for tests, from Debian's `redis-server` and `redis-sentinel`, all on
 * free loopback ports and without persistence, never the shared Redis on 6379:
 *
 * - startSentinelRedis(): a master, a replica of it, and three sentinels watching them
 *   (quorum 2, down after 1 s), returned once the sentinels know each other and the replica.
 * - startRedisCluster(): a three-master Redis Cluster (no replicas), returned once every
 *   node says `cluster_state:ok`.
 *
 * Every process is one this helper started; stop() SIGKILLs them and removes their files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import type { RedisTarget } from '../../src/core/redis-target';
import { freePort } from './redis-server';
import type { RedisWhere } from '../../src/bus/redis-connections';
import { createTestRedisPrefix, uniqueName } from './services';

export interface RedisProcess {
  port: number;
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  running(): boolean;
  /** SIGKILL; resolves once it is gone. No-op when it is not running. */
  kill(): Promise<void>;
}

export interface SentinelRedis {
  masterName: string;
  master: RedisProcess;
  replica: RedisProcess;
  sentinels: RedisProcess[];
  /** `127.0.0.1:<port>,…` of the sentinels: the value of REDIS_SENTINELS. */
  sentinelList: string;
  /** The master's port as the sentinels now name it (asks them in turn). */
  masterPort(): Promise<number>;
  /** Everything every process wrote, for a failure message. */
  output(): string;
  stop(): Promise<void>;
}

export interface RedisClusterProcesses {
  nodes: RedisProcess[];
  /** `127.0.0.1:<port>,…`: the value of REDIS_CLUSTER_NODES. */
  nodeList: string;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A short-lived client that fails at once rather than retrying. */
async function withClient<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, output: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last error: ${String(last)}). Output:\n${output()}`);
    await sleep(50);
  }
}

function startProcess(command: string, args: string[], port: number): RedisProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    port,
    child,
    output: () => out,
    running,
    async kill() {
      if (!running()) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await gone;
    },
  };
}

async function answers(proc: RedisProcess): Promise<void> {
  await until(
    `${path.basename(String(proc.child.spawnfile))} on port ${proc.port} answers PING`,
    10_000,
    async () => {
      if (!proc.running()) throw new Error('exited');
      return (await withClient(proc.port, (r) => r.ping())) === 'PONG' ? true : undefined;
    },
    proc.output,
  );
}

function serverArgs(port: number, dir: string, extra: string[] = []): string[] {
  // No wait before a full sync to a replica (the default waits 5 s for more replicas to join).
  return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', '--dir', dir, ...extra];
}

export async function startSentinelRedis(options: { masterName?: string; downAfterMs?: number; failoverTimeoutMs?: number } = {}): Promise<SentinelRedis> {
  const masterName = options.masterName ?? 'mymaster';
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-sentinel-'));
  const started: RedisProcess[] = [];
  const output = (): string => started.map((p) => `--- ${path.basename(String(p.child.spawnfile))} :${p.port}\n${p.output().slice(-3000)}`).join('\n');
  const stop = async (): Promise<void> => {
    await Promise.all(started.map((p) => p.kill()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const masterPort = await freePort();
    const master = startProcess('redis-server', serverArgs(masterPort, dir), masterPort);
    started.push(master);
    await answers(master);
    const replicaPort = await freePort();
    const replica = startProcess('redis-server', serverArgs(replicaPort, dir, ['--replicaof', '127.0.0.1', String(masterPort)]), replicaPort);
    started.push(replica);
    await answers(replica);
    // Sentinels learn the replicas from the master's INFO: let it have one first.
    await until('the replica is in sync', 10_000, async () => ((await withClient(replicaPort, (r) => r.info('replication'))).includes('master_link_status:up') ? true : undefined), output);

    const sentinels: RedisProcess[] = [];
    for (let i = 0; i < 3; i += 1) {
      const port = await freePort();
      const file = path.join(dir, `sentinel-${port}.conf`);
      // Sentinels rewrite their own file (what they learn), so each has its own, writable one.
      await writeFile(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'daemonize no',
          `dir ${dir}`,
          'sentinel announce-ip 127.0.0.1',
          `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1_000}`,
          `sentinel failover-timeout ${masterName} ${options.failoverTimeoutMs ?? 3_000}`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      const sentinel = startProcess('redis-sentinel', [file], port);
      started.push(sentinel);
      sentinels.push(sentinel);
    }
    await Promise.all(sentinels.map((s) => answers(s)));
    // A failover needs a quorum of sentinels that know each other, and a replica they know.
    for (const s of sentinels) {
      await until(
        `sentinel :${s.port} knows the other sentinels and the replica`,
        20_000,
        async () => {
          const fields = await withClient(s.port, (r) => r.call('SENTINEL', 'MASTER', masterName) as Promise<string[]>);
          const info = new Map<string, string>();
          for (let i = 0; i + 1 < fields.length; i += 2) info.set(fields[i]!, fields[i + 1]!);
          return info.get('num-other-sentinels') === '2' && info.get('num-slaves') === '1' ? true : undefined;
        },
        output,
      );
    }
    const masterPortNow = async (): Promise<number> => {
      let last: unknown;
      for (const s of sentinels) {
        if (!s.running()) continue;
        try {
          const [, port] = await withClient(s.port, (r) => r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName) as Promise<[string, string]>);
          return Number(port);
        } catch (err) {
          last = err;
        }
      }
      throw new Error(`no sentinel answers: ${String(last)}`);
    };
    return {
      masterName,
      master,
      replica,
      sentinels,
      sentinelList: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      masterPort: masterPortNow,
      output,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A free port whose cluster bus port (+10000) is free too. */
async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535) continue;
    try {
      await new Promise<void>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(port + 10_000, '127.0.0.1', () => server.close(() => resolve()));
      });
      return port;
    } catch {
      // the bus port is taken: another one
    }
  }
}

export async function startRedisCluster(): Promise<RedisClusterProcesses> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-cluster-'));
  const nodes: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((p) => p.kill()));
    await rm(dir, { recursive: true, force: true });
  };
  const output = (): string => nodes.map((p) => `--- redis-server :${p.port}\n${p.output().slice(-3000)}`).join('\n');
  try {
    for (let i = 0; i < 3; i += 1) {
      const port = await freeClusterPort();
      const node = startProcess(
        'redis-server',
        serverArgs(port, dir, ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000']),
        port,
      );
      nodes.push(node);
    }
    await Promise.all(nodes.map((n) => answers(n)));
    const create = startProcess('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-yes'], 0);
    const code = await new Promise<number | null>((resolve) => create.child.once('exit', (c) => resolve(c)));
    if (code !== 0) throw new Error(`redis-cli --cluster create exited ${code}:\n${create.output()}`);
    for (const n of nodes) {
      await until(`cluster node :${n.port} is ok`, 20_000, async () => ((await withClient(n.port, (r) => r.cluster('INFO'))).includes('cluster_state:ok') ? true : undefined), output);
    }
    return { nodes, nodeList: nodes.map((n) => `127.0.0.1:${n.port}`).join(','), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * One Redis Cluster for a whole test file (the contract suites run against it as one more
 * implementation): started on first use, stopped by stopSharedCluster() in the file's `after`.
 */
let sharedCluster: Promise<RedisClusterProcesses> | undefined;

export async function stopSharedCluster(): Promise<void> {
  const cluster = sharedCluster;
  sharedCluster = undefined;
  await (await cluster?.catch(() => undefined))?.stop();
}

export interface ClusterTestPrefix {
  target: RedisTarget;
  /** Unique to the caller, with a hash tag (`{edgeplane_test_…}:`), as Cluster requires. */
  prefix: string;
  /** Deletes every key under the prefix. */
  cleanup(): Promise<void>;
}

export async function createClusterTestPrefix(): Promise<ClusterTestPrefix> {
  const processes = await (sharedCluster ??= startRedisCluster());
  const target: RedisTarget = { mode: 'cluster', nodes: processes.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })) };
  const prefix = `{${uniqueName('edgeplane_test')}}:`;
  return {
    target,
    prefix,
    async cleanup() {
      // Every key of the prefix is in one slot, on one master; ask each.
      for (const node of processes.nodes) {
        await withClient(node.port, async (redis) => {
          let cursor = '0';
          do {
            const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
            cursor = next;
            for (const key of keys) await redis.del(key);
          } while (cursor !== '0');
        });
      }
    },
  };
}

/** Where a contract suite's Redis implementation connects, under a prefix of its own. */
export interface TestRedisTarget {
  where: RedisWhere;
  prefix: string;
  /** A single node, for commands that name no key (TIME). */
  nodeUrl: string;
  cleanup(): Promise<void>;
}

/** The shared Redis on 6379 (TEST_REDIS_URL). */
export async function serverTestTarget(): Promise<TestRedisTarget> {
  const redis = createTestRedisPrefix();
  return { where: { url: redis.url }, prefix: redis.prefix, nodeUrl: redis.url, cleanup: () => redis.cleanup() };
}

/** The file's shared Redis Cluster. */
export async function clusterTestTarget(): Promise<TestRedisTarget> {
  const cluster = await createClusterTestPrefix();
  const node = (cluster.target as Extract<RedisTarget, { mode: 'cluster' }>).nodes[0]!;
  return { where: { target: cluster.target }, prefix: cluster.prefix, nodeUrl: `redis://${node.host}:${node.port}`, cleanup: () => cluster.cleanup() };
}
