/**
 * Request collapsing across the workers of one edge machine (pipeline/fill-locks.ts): with
 * CDN_EDGE_WORKERS=2, a burst of concurrent misses for one key reaches the origin once and
 * every client gets the same body, whichever worker accepted it. A worker killed while it
 * leads a fill does not leave the other worker's clients waiting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually, httpGet, spawnCdn, type CdnProcess } from '../support/processes';

const SECRET = 'cluster-secret-key-0123456789abcdef';
const HOST = 'cdn.collapse.test';

interface SlowOrigin {
  url: string;
  /** Origin requests by path. */
  requests: Map<string, number>;
  close(): Promise<void>;
}

/** An origin that takes `delayMs` to answer and numbers its answers, so two fetches give two bodies. */
async function startSlowOrigin(delayMs: number): Promise<SlowOrigin> {
  const requests = new Map<string, number>();
  let served = 0;
  const server: Server = createServer((req, res) => {
    requests.set(req.url!, (requests.get(req.url!) ?? 0) + 1);
    served += 1;
    const body = `answer #${served} for ${req.url}`;
    setTimeout(() => res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'text/plain' }).end(body), delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The worker of each request line logged for `path`. */
function requestLines(edge: CdnProcess, urlPath: string): unknown[] {
  const workers: unknown[] = [];
  for (const line of edge.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.msg === 'request' && parsed.path === urlPath) workers.push(parsed.worker);
    } catch {
      // a partial line
    }
  }
  return workers;
}

async function startCluster(originUrl: string): Promise<{ edge: CdnProcess; url: string; dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-collapse-'));
  const file = path.join(dir, 'customers.json');
  await writeFile(file, JSON.stringify([{ id: 'collapse-customer', name: 'Collapse', originUrl, domains: [HOST] }]));
  const edge = spawnCdn(['edge', '--config', file], {
    REDIS_URL: undefined,
    CDN_SECRET_KEY: SECRET,
    CDN_ALLOW_PRIVATE_ORIGINS: 'true',
    CDN_DATA_DIR: dir,
    CDN_EDGE_PORT: '0',
    CDN_EDGE_ADMIN_PORT: '0',
    CDN_EDGE_WORKERS: '2',
  });
  const listening = await edge.waitForLog('edge listening');
  const admin = String(listening.admin);
  await eventually(async () => (await fetch(`${admin}/readyz`)).status === 200, 15_000, 'every worker ready');
  return { edge, url: String(listening.url), dir };
}

test('200 concurrent misses for one key across two workers: one origin request, one body for all', async () => {
  const origin = await startSlowOrigin(400);
  const { edge, url, dir } = await startCluster(origin.url);
  try {
    // Connections spread over the workers as each accepts; a round in which one worker took
    // them all proves nothing about collapsing across workers, so it is repeated on a new key.
    let round = 0;
    let seen = new Set<unknown>();
    let urlPath = '';
    let bodies = new Set<string>();
    while (seen.size < 2 && round < 5) {
      round += 1;
      urlPath = `/burst-${round}.txt`;
      const answers = await Promise.all(Array.from({ length: 200 }, () => httpGet(`${url}${urlPath}`, HOST, { freshConnection: true })));
      for (const a of answers) assert.equal(a.status, 200, a.body);
      bodies = new Set(answers.map((a) => a.body));
      await eventually(async () => requestLines(edge, urlPath).length === answers.length, 10_000, 'a request line for every answer');
      seen = new Set(requestLines(edge, urlPath));
      assert.equal(origin.requests.get(urlPath), 1, `round ${round}: one origin request for ${[...seen].length} worker(s)`);
      assert.equal(bodies.size, 1, `round ${round}: every client got the same body`);
    }
    assert.equal(seen.size, 2, `both workers served the burst (rounds: ${round})`);
  } finally {
    await edge.stop();
    await origin.close();
    await rm(dir, { recursive: true, force: true });
  }
});
