/**
 * `cdn edge --config customers.json`: an edge without Redis or an api, serving a fixed
 * list of customers from a file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDemoOrigin } from '../../src/demo/demo-origin';
import { httpGet, spawnCdn } from '../support/processes';

const SECRET = 'standalone-secret-key-0123456789abcdef';

test('a standalone edge serves the customers of its file, with their Basic Auth', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-standalone-'));
  const origin = await startDemoOrigin({ customerId: 'file-customer', basicAuth: { username: 'u', password: 'file-pass' } });
  const file = path.join(dir, 'customers.json');
  await writeFile(
    file,
    JSON.stringify([{ id: 'file-customer', name: 'From a file', originUrl: origin.url, domains: ['cdn.file.test'], basicAuth: { username: 'u', password: 'file-pass' } }]),
  );
  const edge = spawnCdn(['edge', '--config', file], {
    REDIS_URL: undefined,
    CDN_SECRET_KEY: SECRET,
    CDN_ALLOW_PRIVATE_ORIGINS: 'true',
    CDN_DATA_DIR: dir,
    CDN_EDGE_PORT: '0',
    CDN_EDGE_ADMIN_PORT: '0',
  });
  try {
    const url = String((await edge.waitForLog('edge listening')).url);
    const miss = await httpGet(`${url}/a.json`, 'cdn.file.test');
    assert.equal(miss.status, 200, miss.body);
    assert.equal(miss.headers['x-cache'], 'MISS');
    assert.equal(JSON.parse(miss.body).customer, 'file-customer');
    const hit = await httpGet(`${url}/a.json`, 'CDN.FILE.TEST.');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(origin.requests.length, 1);
    assert.doesNotMatch(edge.output(), /file-pass/, 'the password is never logged');
  } finally {
    assert.equal(await edge.stop(), 0);
    await origin.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a customers file with mistakes is refused with every problem named', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-standalone-'));
  const file = path.join(dir, 'customers.json');
  await writeFile(file, JSON.stringify([{ id: 'Bad Id', originUrl: 'ftp://x', domains: [] }]));
  const edge = spawnCdn(['edge', '--config', file], { CDN_SECRET_KEY: SECRET, CDN_DATA_DIR: dir, CDN_EDGE_PORT: '0', CDN_EDGE_ADMIN_PORT: '0' });
  try {
    assert.equal(await edge.exited(), 1);
    const out = edge.output();
    assert.match(out, /id/);
    assert.match(out, /originUrl/);
    assert.match(out, /domains/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
