/**
 * `npm start` as a newcomer runs it: no DATABASE_URL, no REDIS_URL, a fresh data
 * directory. The banner tells where everything is; the demo curl answers MISS then HIT;
 * SIGTERM exits cleanly; a second start reuses the data and still serves the demo.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { graphqlRequest, httpGet, ROOT, spawnCdn } from '../support/processes';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function startNewcomer(dataDir: string, how: 'npm start' | 'cdn start') {
  const env = {
    CDN_DATA_DIR: dataDir,
    CDN_API_PORT: '0',
    CDN_EDGE_PORT: '0',
    CDN_EDGE_ADMIN_PORT: '0',
    DATABASE_URL: undefined,
    REDIS_URL: undefined,
    CDN_ADMIN_TOKEN: undefined,
    CDN_SECRET_KEY: undefined,
    CDN_ALLOW_PRIVATE_ORIGINS: undefined,
  };
  return how === 'npm start' ? spawnCdn([], env, { command: ['npm', 'start', '--silent'] }) : spawnCdn(['start'], env);
}

async function readBanner(proc: ReturnType<typeof startNewcomer>) {
  const api = (await proc.waitForOutput(/GraphQL API \+ IDE\s+(http:\S+)\/graphql/, 90_000))[1]!;
  const edge = (await proc.waitForOutput(/edge \(public\)\s+(http:\S+)/))[1]!;
  const admin = (await proc.waitForOutput(/edge admin\s+(http:\S+)/))[1]!;
  const token = (await proc.waitForOutput(/admin token\s+(\S+)/))[1]!;
  return { api, edge, admin, token };
}

test('npm start serves the demo customers: MISS then HIT, and restarts on the same data', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'edgeplane-newcomer-'));
  dirs.push(dataDir);

  // Exactly what a newcomer types.
  const first = startNewcomer(dataDir, 'npm start');
  let token: string;
  try {
    const banner = await readBanner(first);
    token = banner.token;
    assert.match(first.output(), /embedded PGlite/);
    assert.match(first.output(), /curl -i -H 'Host: cdn\.customer-a\.local'/);

    const miss = await httpGet(`${banner.edge}/test.json`, 'cdn.customer-a.local');
    assert.equal(miss.status, 200, miss.body);
    assert.equal(miss.headers['x-cache'], 'MISS');
    const body = JSON.parse(miss.body);
    assert.equal(body.customer, 'customer-a');
    assert.equal(body.path, '/test.json');
    const hit = await httpGet(`${banner.edge}/test.json`, 'cdn.customer-a.local');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.body, miss.body);
    // customer-a's demo delivery rules: a campaign link is the same object, with the security header.
    const campaign = await httpGet(`${banner.edge}/test.json?utm_source=newsletter`, 'cdn.customer-a.local');
    assert.equal(campaign.headers['x-cache'], 'HIT');
    assert.equal(campaign.headers['x-content-type-options'], 'nosniff');

    for (const id of ['customer-b', 'customer-c']) {
      const res = await httpGet(`${banner.edge}/test.json`, `cdn.${id}.local`);
      assert.equal(JSON.parse(res.body).customer, id);
    }

    const list = await graphqlRequest<{ customers: { nodes: { id: string }[] } }>(banner.api, banner.token, '{ customers { nodes { id } } }');
    assert.deepEqual(list.data?.customers.nodes.map((n) => n.id), ['customer-a', 'customer-b', 'customer-c']);

    const health = await fetch(`${banner.admin}/healthz`);
    assert.equal(health.status, 200);
    await stat(path.join(dataDir, 'admin-token'));
  } finally {
    // SIGTERM reaches npm and node alike (as Ctrl-C would); start-lifecycle.e2e checks npm's exit status.
    await first.stop();
  }
  assert.match(first.output(), /api stopped/, 'the api drained on SIGTERM');

  // What `npm start` runs, as a process manager would run it: SIGTERM must exit 0.
  const second = startNewcomer(dataDir, 'cdn start');
  try {
    const banner = await readBanner(second);
    assert.equal(banner.token, token, 'the generated admin token is kept in the data directory');
    const res = await httpGet(`${banner.edge}/again.json`, 'cdn.customer-a.local');
    assert.equal(res.status, 200, res.body);
    assert.equal(JSON.parse(res.body).customer, 'customer-a');
  } finally {
    assert.equal(await second.stop(), 0, `second start exits 0 on SIGTERM. Output:\n${second.output()}`);
  }
});

test('cdn --help and each command --help describe the command', async () => {
  for (const [args, pattern] of [
    [['--help'], /Commands:[\s\S]*start[\s\S]*api[\s\S]*edge[\s\S]*migrate/],
    [['start', '--help'], /Usage: cdn start/],
    [['api', '--help'], /Usage: cdn api/],
    [['edge', '--help'], /Usage: cdn edge/],
    [['migrate', '--help'], /Usage: cdn migrate/],
  ] as const) {
    const proc = spawnCdn([...args], {});
    await proc.waitForOutput(pattern, 20_000);
    assert.equal(await proc.exited(), 0);
  }
});

test('an invalid configuration is reported at once, naming every bad variable', async () => {
  const proc = spawnCdn(['api'], { CDN_API_PORT: 'eighty', CDN_SECRET_KEY: 'short', CDN_ADMIN_TOKEN: 'x', DATABASE_URL: 'mysql://x', REDIS_URL: 'redis://127.0.0.1:6379' });
  assert.equal(await proc.exited(), 1);
  const out = proc.output();
  for (const name of ['CDN_API_PORT', 'CDN_SECRET_KEY', 'CDN_ADMIN_TOKEN', 'DATABASE_URL']) assert.match(out, new RegExp(name));
});

test('npm start runs `cdn start`', async () => {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };
  // `exec`: the shell npm runs scripts with becomes node, so npm's forwarded signals reach it.
  assert.equal(pkg.scripts.start, 'exec node bin/cdn.js start');
  assert.equal(pkg.bin.cdn, 'bin/cdn.js');
});
