import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isCdnError } from '../../src/core/errors';
import { SecretBox } from '../../src/core/secret-box';
import { createStaticTenantFeed, loadCustomersFile } from '../../src/edge/sync/static-feed';

const SECRET = 'customers-file-secret-0123456789abcdef';

async function withFile(content: unknown, fn: (file: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-customers-'));
  const file = path.join(dir, 'customers.json');
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
  try {
    await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a valid file becomes CustomerConfigs with the password sealed and hosts normalised', async () => {
  await withFile(
    [
      { id: 'shop', originUrl: 'https://origin.shop.example/assets/', domains: ['CDN.Shop.Example.'], basicAuth: { username: 'u', password: 'pw' } },
      { id: 'blog', name: 'Blog', originUrl: 'http://blog.example', domains: ['cdn.blog.example'], cacheTtl: 60 },
    ],
    async (file) => {
      const customers = await loadCustomersFile(file, SECRET);
      assert.equal(customers.length, 2);
      const shop = customers[0]!;
      assert.equal(shop.originUrl, 'https://origin.shop.example/assets');
      assert.deepEqual(shop.domains, ['cdn.shop.example']);
      assert.equal(shop.cacheTtl, 3600);
      assert.equal(shop.basicAuth!.username, 'u');
      assert.doesNotMatch(JSON.stringify(shop), /"pw"/);
      assert.equal(new SecretBox(SECRET).open(shop.basicAuth!.passwordCiphertext), 'pw');
      assert.equal(customers[1]!.cacheTtl, 60);
      const feed = createStaticTenantFeed(customers);
      assert.equal(feed.byHost('cdn.shop.example')?.id, 'shop');
      assert.equal(feed.isReady(), true);
    },
  );
});

test('every problem in the file is named in one error', async () => {
  await withFile(
    [
      { id: 'Bad Id', originUrl: 'ftp://x', domains: [] },
      { id: 'ok', originUrl: 'http://o.example', domains: ['a.example'], cacheTtl: -5, basicAuth: { username: 'x:y', password: '' } },
      { id: 'ok', originUrl: 'http://o.example', domains: ['A.example'] },
    ],
    async (file) => {
      await assert.rejects(loadCustomersFile(file, SECRET), (err: unknown) => {
        assert.ok(isCdnError(err));
        assert.equal(err.code, 'CDN_ERR_INPUT_INVALID');
        for (const field of ['[0].id', '[0].originUrl', '[0].domains', '[1].cacheTtl', '[1].basicAuth.username', '[1].basicAuth.password', '[2].id', '[2].domains']) {
          assert.ok(err.message.includes(`${field}:`), `${field} in ${err.message}`);
        }
        return true;
      });
    },
  );
});

test('a file that is not JSON, or not an array, is refused clearly', async () => {
  await withFile('{ nope', async (file) => {
    await assert.rejects(loadCustomersFile(file, SECRET), /Cannot read the customers file/);
  });
  await withFile({ id: 'x' }, async (file) => {
    await assert.rejects(loadCustomersFile(file, SECRET), /must be a JSON array/);
  });
});
