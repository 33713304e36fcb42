import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isCdnError } from '../../src/core/errors';
import { SecretBox } from '../../src/core/secret-box';
import { createStaticCustomerFeed, loadCustomersFile } from '../../src/edge/sync/static-feed';

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
      const feed = createStaticCustomerFeed(customers);
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

test('cache options: parsed with the same rules as the api; absent means no quota and keep', async () => {
  await withFile(
    [
      { id: 'plain', originUrl: 'https://plain.example', domains: ['cdn.plain.example'] },
      {
        id: 'tuned',
        originUrl: 'https://tuned.example',
        domains: ['cdn.tuned.example'],
        cacheQuotaBytes: 20 * 1024 ** 3,
        queryString: { mode: 'allowlist', allow: ['v', 'lang', 'v'] },
      },
      { id: 'bare', originUrl: 'https://bare.example', domains: ['cdn.bare.example'], cacheQuotaBytes: null, queryString: { mode: 'ignore' } },
    ],
    async (file) => {
      const [plain, tuned, bare] = await loadCustomersFile(file, SECRET);
      assert.equal(plain!.cacheQuotaBytes, null);
      assert.deepEqual(plain!.queryString, { mode: 'keep', allow: [] });
      assert.equal(tuned!.cacheQuotaBytes, 20 * 1024 ** 3);
      assert.deepEqual(tuned!.queryString, { mode: 'allowlist', allow: ['v', 'lang'] }, 'repeats dropped');
      assert.equal(bare!.cacheQuotaBytes, null);
      assert.deepEqual(bare!.queryString, { mode: 'ignore', allow: [] });
    },
  );
});

test('bad cache options are each named in the one error', async () => {
  const base = (id: string, extra: Record<string, unknown>) => ({ id, originUrl: `https://${id}.example`, domains: [`cdn.${id}.example`], ...extra });
  const expected: Array<[string, RegExp]> = [
    ['[0].cacheQuotaBytes', /1 MiB/],
    ['[1].cacheQuotaBytes', /must be a number of bytes/],
    ['[2].cacheQuotaBytes', /1 PiB/],
    ['[3].queryString.allow', /only used with mode allowlist/],
    ['[4].queryString.mode', /"KEEP" is not one of keep, ignore, allowlist/],
    ['[5].queryString', /must be \{ "mode"/],
    ['[6].queryString.allow[1]', /must not be empty/],
    ['[7].queryString.allow', /at least one/],
    ['[8].queryString', /must be \{ "mode"/],
    ['[9].queryString.allow', /at most 100/],
  ];
  await withFile(
    [
      base('c0', { cacheQuotaBytes: 4096 }),
      base('c1', { cacheQuotaBytes: '10GB' }),
      base('c2', { cacheQuotaBytes: 2 * 1024 ** 5 }),
      base('c3', { queryString: { mode: 'keep', allow: ['a'] } }),
      base('c4', { queryString: { mode: 'KEEP' } }),
      base('c5', { queryString: 'ignore' }),
      base('c6', { queryString: { mode: 'allowlist', allow: ['a', ''] } }),
      base('c7', { queryString: { mode: 'allowlist' } }),
      base('c8', { queryString: { mode: 'allowlist', allow: ['a', 7] } }),
      base('c9', { queryString: { mode: 'allowlist', allow: Array.from({ length: 101 }, (_, i) => `p${i}`) } }),
    ],
    async (file) => {
      await assert.rejects(loadCustomersFile(file, SECRET), (err: unknown) => {
        assert.ok(isCdnError(err));
        assert.equal(err.code, 'CDN_ERR_INPUT_INVALID');
        const problems = err.details.fields as Array<{ field: string; message: string }>;
        assert.deepEqual(problems.map((p) => p.field), expected.map(([field]) => field));
        expected.forEach(([field, message], i) => assert.match(problems[i]!.message, message, field));
        return true;
      });
    },
  );
});

test('staleIfErrorSeconds: parsed with the api rule; absent or null means off; bad values named', async () => {
  const base = (id: string, extra: Record<string, unknown>) => ({ id, originUrl: `https://${id}.example`, domains: [`cdn.${id}.example`], ...extra });
  await withFile([base('s0', {}), base('s1', { staleIfErrorSeconds: null }), base('s2', { staleIfErrorSeconds: 600 })], async (file) => {
    const [absent, off, on] = await loadCustomersFile(file, SECRET);
    assert.equal(absent!.staleIfErrorSeconds, null);
    assert.equal(off!.staleIfErrorSeconds, null);
    assert.equal(on!.staleIfErrorSeconds, 600);
  });
  await withFile([base('b0', { staleIfErrorSeconds: -1 }), base('b1', { staleIfErrorSeconds: '60' }), base('b2', { staleIfErrorSeconds: 604801 })], async (file) => {
    await assert.rejects(loadCustomersFile(file, SECRET), (err: unknown) => {
      assert.ok(isCdnError(err));
      const problems = err.details.fields as Array<{ field: string; message: string }>;
      assert.deepEqual(problems.map((p) => p.field), ['[0].staleIfErrorSeconds', '[1].staleIfErrorSeconds', '[2].staleIfErrorSeconds']);
      assert.match(problems[0]!.message, /0 to 604800/);
      assert.match(problems[1]!.message, /must be a number of seconds/);
      assert.match(problems[2]!.message, /one week/);
      return true;
    });
  });
});

test('rules and compressTypes: checked by the rules validator and stored normalised; every problem named under its customer', async () => {
  const base = (id: string, extra: Record<string, unknown>) => ({ id, originUrl: `https://${id}.example`, domains: [`cdn.${id}.example`], ...extra });
  const rules = [
    { name: 'images', match: { extensions: ['PNG'] }, actions: { cache: { edgeTtl: { seconds: 86400, mode: 'override' } }, responseHeaders: [{ op: 'set', name: 'X-Img', value: '1' }] } },
    { name: 'tracking', actions: { cacheKey: { query: { mode: 'deny', names: ['utm_*'] } } } },
  ];
  await withFile([base('r0', { rules, compressTypes: ['Application/X-NDJSON', 'application/x-ndjson'] }), base('r1', { rules: null, compressTypes: [] }), base('r2', {})], async (file) => {
    const [withRules, empty, absent] = await loadCustomersFile(file, SECRET);
    assert.deepEqual(withRules!.rules, [
      { name: 'images', match: { extensions: ['png'] }, actions: { cache: { edgeTtl: { seconds: 86400, mode: 'override' } }, responseHeaders: [{ op: 'set', name: 'x-img', value: '1' }] } },
      { name: 'tracking', actions: { cacheKey: { query: { mode: 'deny', names: ['utm_*'] } } } },
    ]);
    assert.deepEqual(withRules!.compressTypes, ['application/x-ndjson']);
    assert.equal(empty!.rules, undefined);
    assert.deepEqual(empty!.compressTypes, []);
    assert.equal(absent!.rules, undefined);
    assert.equal(absent!.compressTypes, undefined);
  });
  await withFile(
    [
      base('b0', { rules: [{ name: 'ok', actions: { cache: { bypass: true } } }, { name: 'images', match: { globs: ['img/*'] }, actions: { cache: { bypass: true }, rewrite: {} } }] }),
      base('b1', { rules: { name: 'x' } }),
      base('b2', { compressTypes: ['text/*', 'application/json'] }),
      base('b3', { compressTypes: Array.from({ length: 51 }, (_, i) => `text/x-${i}`) }),
      base('b4', { rules: Array.from({ length: 101 }, (_, i) => ({ name: `r${i}`, actions: { cache: { bypass: true } } })) }),
    ],
    async (file) => {
      await assert.rejects(loadCustomersFile(file, SECRET), (err: unknown) => {
        assert.ok(isCdnError(err));
        assert.equal(err.code, 'CDN_ERR_INPUT_INVALID');
        const problems = err.details.fields as Array<{ field: string; message: string }>;
        assert.deepEqual(problems.map((p) => p.field), [
          '[0].rules[1] (images).match.globs[0]',
          '[0].rules[1] (images).actions.rewrite',
          '[1].rules',
          '[2].compressTypes[0]',
          '[3].compressTypes',
          '[4].rules',
        ]);
        assert.match(problems[0]!.message, /must start with "\/"/);
        assert.match(problems[1]!.message, /is not a known field/);
        assert.match(problems[2]!.message, /must be a list of rules/);
        assert.match(problems[3]!.message, /not a media type/);
        assert.match(problems[4]!.message, /at most 50/);
        assert.match(problems[5]!.message, /at most 100 rules/);
        return true;
      });
    },
  );
});
