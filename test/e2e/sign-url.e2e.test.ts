/**
 * `cdn sign-url`: the command line signs offline exactly as the edges verify (core's
 * verifySignedUrl), takes the secret from the environment or a file and never from argv, and
 * refuses what it cannot sign with a message naming the flag.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { verifySignedUrl } from '../../src/core/signed-url';
import { spawnCdn } from '../support/processes';

const SECRET = 'a-secret-of-the-customer-0123456789';
const dir = mkdtempSync(path.join(tmpdir(), 'edgeplane-sign-url-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; out: string }> {
  const proc = spawnCdn(['sign-url', ...args], { CDN_SIGNING_SECRET: undefined, ...env });
  const code = await proc.exited();
  return { code, out: proc.output() };
}

test('signs a link the edges accept: with the key from the environment, a prefix, an address', async () => {
  const { code, out } = await run(['--url', 'https://cdn.a.example/dl/file.zip?v=2', '--key-id', 'abcd0123', '--expires-in', '1h'], { CDN_SIGNING_SECRET: SECRET });
  assert.equal(code, 0, out);
  const url = new URL(out.trim());
  assert.equal(url.host, 'cdn.a.example');
  assert.equal(url.searchParams.get('v'), '2');
  const exp = Number(url.searchParams.get('ep_exp'));
  assert.ok(Math.abs(exp - (Date.now() / 1000 + 3600)) < 10, String(exp));
  const keys = [{ id: 'abcd0123', secret: SECRET }];
  const check = (u: URL, address = '') => verifySignedUrl({ path: u.pathname, query: u.search.slice(1), clientAddress: address, nowMs: Date.now(), leewaySeconds: 0, keys });
  assert.deepEqual(check(url), { ok: true, keyId: 'abcd0123' });
  assert.equal(check(new URL(url.href.replace('file.zip', 'other.zip'))).ok, false);

  const file = path.join(dir, 'secret');
  writeFileSync(file, `${SECRET}\n`);
  const prefixed = await run(['--url', 'https://cdn.a.example/dl/x/file.zip', '--key-id', 'abcd0123', '--expires-in', '600', '--prefix', '/dl/', '--ip', '198.51.100.7', '--secret-file', file]);
  assert.equal(prefixed.code, 0, prefixed.out);
  const p = new URL(prefixed.out.trim());
  assert.equal(check(p, '198.51.100.7').ok, true);
  assert.equal(check(new URL(p.href.replace('/dl/x/', '/dl/y/')), '198.51.100.7').ok, true, 'any path under the prefix');
  assert.equal(check(p, '198.51.100.8').ok, false, 'bound to the address');
});

test('refuses with the flag named: no secret, a bad URL, a prefix that is not one, an unknown flag', async () => {
  const noSecret = await run(['--url', 'https://cdn.a.example/f', '--key-id', 'abcd0123', '--expires-in', '1h']);
  assert.equal(noSecret.code, 1);
  assert.match(noSecret.out, /CDN_SIGNING_SECRET/);
  const bad = await run(['--url', 'not a url', '--key-id', 'abcd0123', '--expires-in', 'soon'], { CDN_SIGNING_SECRET: SECRET });
  assert.equal(bad.code, 1);
  assert.match(bad.out, /--url/);
  assert.match(bad.out, /--expires-in/);
  const prefix = await run(['--url', 'https://cdn.a.example/f', '--key-id', 'abcd0123', '--expires-in', '1h', '--prefix', '/g/'], { CDN_SIGNING_SECRET: SECRET });
  assert.match(prefix.out, /--prefix/);
  const unknown = await run(['--url', 'https://cdn.a.example/f', '--secret', SECRET], { CDN_SIGNING_SECRET: SECRET });
  assert.equal(unknown.code, 1);
  assert.match(unknown.out, /--secret/);
  assert.match(unknown.out, /--help/);
});
