/**
 * `cdn edge` as a cluster: a primary and CDN_EDGE_WORKERS worker processes on one public
 * port (port 0 included), one shared disk cache, one admin port with the workers' metrics
 * summed, a worker killed by SIGKILL restarted, and a clean drain on SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDemoOrigin } from '../../src/demo/demo-origin';
import { eventually, httpGet, logLines, spawnCdn, type CdnProcess, type HttpResult } from '../support/processes';

const SECRET = 'cluster-secret-key-0123456789abcdef';

/** One request on a fresh connection: whichever worker accepts it first serves it. */
function fresh(url: string, host: string, method = 'GET'): Promise<HttpResult> {
  return httpGet(url, host, { method, freshConnection: true });
}


function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sum of a metric's samples whose labels include `labels`. */
function sumOf(metrics: string, name: string, labels: string): number {
  let sum = 0;
  for (const line of metrics.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

test('two workers share the port and the disk cache; metrics are summed; a killed worker is restarted; SIGTERM drains all', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-cluster-'));
  const origin = await startDemoOrigin({ customerId: 'cluster-customer' });
  const file = path.join(dir, 'customers.json');
  await writeFile(file, JSON.stringify([{ id: 'cluster-customer', name: 'Cluster', originUrl: origin.url, domains: ['cdn.cluster.test'] }]));
  const edge = spawnCdn(['edge', '--config', file], {
    REDIS_URL: undefined,
    CDN_SECRET_KEY: SECRET,
    CDN_ALLOW_PRIVATE_ORIGINS: 'true',
    CDN_DATA_DIR: dir,
    CDN_EDGE_PORT: '0',
    CDN_EDGE_ADMIN_PORT: '0',
    CDN_EDGE_WORKERS: '2',
  });
  const pids = new Set<number>();
  let code: number | null = null;
  try {
    const listening = await edge.waitForLog('edge listening');
    assert.equal(listening.workers, 2);
    const url = String(listening.url);
    const admin = String(listening.admin);
    assert.equal(logLines(edge, 'edge listening').length, 1, 'announced once, by the primary');
    const started = logLines(edge, 'edge worker started');
    assert.equal(started.length, 2);
    for (const s of started) pids.add(Number(s.pid));

    await eventually(async () => (await fetch(`${admin}/readyz`)).status === 200, 10_000, 'every worker ready');
    const ready = (await (await fetch(`${admin}/readyz`)).json()) as Record<string, unknown>;
    assert.equal(ready.workers, 2);
    assert.equal(ready.workersReady, 2);

    const results: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fresh(`${url}/shared.json`, 'cdn.cluster.test');
      assert.equal(res.status, 200, res.body);
      results.push(String(res.headers['x-cache']));
    }
    assert.deepEqual(results, ['MISS', 'HIT', 'HIT', 'HIT', 'HIT', 'HIT']);
    assert.equal(origin.requests.length, 1, 'one origin request for both workers: the disk cache is shared');
    // Workers accept from the shared socket themselves (no round robin): more fresh
    // connections until both have served (an idle pair splits about evenly).
    let sent = 6;
    const workersSeen = async (): Promise<Set<unknown>> => {
      await eventually(async () => logLines(edge, 'request').length >= sent, 5_000, 'request log lines');
      return new Set(logLines(edge, 'request').map((l) => l.worker));
    };
    while ((await workersSeen()).size < 2 && sent < 60) {
      assert.equal((await fresh(`${url}/shared.json`, 'cdn.cluster.test')).headers['x-cache'], 'HIT');
      sent += 1;
    }
    const seen = await workersSeen();
    assert.equal(seen.size, 2, `both workers served (request lines carry a worker field): ${[...seen].join(', ')} after ${sent} connections`);

    const metrics = await (await fetch(`${admin}/metrics`)).text();
    assert.equal(sumOf(metrics, 'cdn_edge_requests_total', 'customer="cluster-customer"'), sent, 'requests summed across workers');
    assert.equal(sumOf(metrics, 'cdn_edge_requests_total', 'cache="HIT"'), sent - 1);
    assert.match(metrics, /^cdn_edge_customers 1$/m, 'gauges are not summed');
    assert.match(metrics, /^cdn_edge_workers 2$/m);

    // A POST through one worker invalidates the URL in every worker's memory tier, not
    // only its own: afterwards no worker serves the old body.
    const oldBody = (await fresh(`${url}/shared.json`, 'cdn.cluster.test')).body;
    const gets = origin.requests.filter((r) => r.method === 'GET').length;
    const posted = await fresh(`${url}/shared.json`, 'cdn.cluster.test', 'POST');
    assert.equal(posted.headers['x-cache'], 'BYPASS');
    await new Promise((r) => setTimeout(r, 100)); // the forget message crosses two IPC hops
    const bodiesAfter = new Set<string>();
    const linesBefore = logLines(edge, 'request').length;
    const workersAfter = (): Set<unknown> => new Set(logLines(edge, 'request').slice(linesBefore).map((l) => l.worker));
    for (let i = 0; i < 60 && (i < 6 || workersAfter().size < 2); i++) {
      bodiesAfter.add((await fresh(`${url}/shared.json`, 'cdn.cluster.test')).body);
      await eventually(async () => logLines(edge, 'request').length > linesBefore + i, 5_000, 'request log line');
    }
    assert.equal(workersAfter().size, 2, 'both workers answered after the POST');
    assert.ok(!bodiesAfter.has(oldBody), 'no worker serves the invalidated object');
    assert.equal(bodiesAfter.size, 1, 'every worker serves the one new copy');
    assert.equal(origin.requests.filter((r) => r.method === 'GET').length, gets + 1, 'refetched once, then shared');

    // A worker killed outright: the primary starts another; the other one serves meanwhile.
    const victim = Number(started[0]!.pid);
    process.kill(victim, 'SIGKILL');
    await edge.waitForLog('edge worker exited unexpectedly; restarting it', 10_000);
    for (let i = 0; i < 4; i++) assert.equal((await fresh(`${url}/shared.json`, 'cdn.cluster.test')).status, 200);
    await eventually(async () => logLines(edge, 'edge worker listening').length === 3, 15_000, 'a replacement worker listening');
    const replacement = logLines(edge, 'edge worker started')[2]!;
    pids.add(Number(replacement.pid));
    await eventually(async () => (await fetch(`${admin}/readyz`)).status === 200, 10_000, 'ready again');
    const after = await fresh(`${url}/other.json`, 'cdn.cluster.test');
    assert.equal(after.status, 200);
    assert.match(await (await fetch(`${admin}/metrics`)).text(), /^cdn_edge_worker_restarts_total 1$/m);
  } finally {
    code = await edge.stop();
    await origin.close();
    await rm(dir, { recursive: true, force: true });
  }
  assert.equal(code, 0, `the primary exits 0 after draining. Output:\n${edge.output().slice(-3000)}`);
  assert.equal(logLines(edge, 'edge worker stopped').length, 2);
  for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} is gone`);
});

test('with several workers, a customers file with mistakes is refused by the primary before any worker starts', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-cluster-'));
  const file = path.join(dir, 'customers.json');
  await writeFile(file, JSON.stringify([{ id: 'Bad Id', originUrl: 'ftp://x', domains: [] }]));
  const edge = spawnCdn(['edge', '--config', file], { CDN_SECRET_KEY: SECRET, CDN_DATA_DIR: dir, CDN_EDGE_PORT: '0', CDN_EDGE_ADMIN_PORT: '0', CDN_EDGE_WORKERS: '2' });
  try {
    assert.equal(await edge.exited(), 1);
    assert.match(edge.output(), /originUrl/);
    assert.doesNotMatch(edge.output(), /edge worker started/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
