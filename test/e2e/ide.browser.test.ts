/**
 * The GraphQL IDE in a real browser (Debian chromium through playwright-core): the page
 * loads with no outside request, takes the token in its headers editor, runs a
 * `customers` query and shows the customers. Saves a screenshot under test-artifacts/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/chromium';
import { graphqlRequest, ROOT, spawnCdn, type CdnProcess } from '../support/processes';
import { createTestDatabase, createTestRedisPrefix, type TestDatabase, type TestRedis } from '../support/services';

const TOKEN = 'browser-admin-token-0123456789abcdef';
const ARTIFACTS = path.join(ROOT, 'test-artifacts');

let db: TestDatabase;
let redis: TestRedis;
let api: CdnProcess;
let apiUrl: string;
let browser: Browser;

before(async () => {
  db = await createTestDatabase();
  redis = createTestRedisPrefix();
  api = spawnCdn(['api'], {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    CDN_REDIS_PREFIX: redis.prefix,
    CDN_ADMIN_TOKEN: TOKEN,
    CDN_SECRET_KEY: 'browser-secret-key-0123456789abcdef-xyz',
    CDN_ALLOW_PRIVATE_ORIGINS: 'true',
    CDN_API_PORT: '0',
  });
  apiUrl = String((await api.waitForLog('api listening')).url).replace(/\/graphql$/, '');
  for (const id of ['customer-a', 'customer-b', 'customer-c']) {
    const res = await graphqlRequest(apiUrl, TOKEN, `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, {
      input: { id, name: `Demo ${id}`, originUrl: `http://origin.${id}.example`, domains: [`cdn.${id}.local`] },
    });
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  }
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  assert.equal(await api?.stop(), 0);
  await db?.drop();
  await redis?.cleanup();
});

test('the IDE runs a customers query with the token and shows the demo customers', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const outside: string[] = [];
  page.on('request', (req) => {
    const url = new URL(req.url());
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.origin !== new URL(apiUrl).origin) outside.push(req.url());
  });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  await page.goto(`${apiUrl}/graphql`);
  await page.locator('.graphiql-container').first().waitFor({ timeout: 30_000 });


  // The headers editor: open it, replace its content with the token.
  await page.getByRole('button', { name: /headers/i }).first().click();
  const headersEditor = page.locator('.graphiql-editor-tool .graphiql-editor').last();
  await headersEditor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${TOKEN}` }));

  // The query editor: a customers query.
  const queryEditor = page.locator('.graphiql-query-editor .graphiql-editor').first();
  await queryEditor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText('query Customers { customers { totalCount nodes { id name domains } } }');
  await page.locator('.graphiql-execute-button').click();

  const response = page.locator('.graphiql-response');
  await response.getByText('cdn.customer-c.local').waitFor({ timeout: 15_000 });
  const text = await response.innerText();
  for (const id of ['customer-a', 'customer-b', 'customer-c']) assert.match(text, new RegExp(id));
  // Monaco renders spaces as no-break spaces; \s matches both.
  assert.match(text, /"totalCount":\s3/);

  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'graphql-ide.png'), fullPage: true });
  assert.deepEqual(outside, [], 'the IDE makes no request outside the api');
  assert.deepEqual(pageErrors, []);
});

test('without the token the IDE shows the UNAUTHENTICATED error', async () => {
  const res = await fetch(`${apiUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ customers { totalCount } }' }),
  });
  assert.equal(res.status, 401);
  const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
  assert.equal(body.errors[0]!.extensions.code, 'UNAUTHENTICATED');
});
