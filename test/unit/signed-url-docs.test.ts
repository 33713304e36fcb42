/**
 * The signing snippets in docs/API.md ("Signed URLs") are what customers copy: the Node.js,
 * Python and shell ones are run here as written, and the links they print must pass the
 * edges' verifier (core/signed-url.ts). Go and PHP are not on this machine; they compute the
 * same string to sign.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { verifySignedUrl } from '../../src/core/signed-url';

const DOC = readFileSync(path.resolve(__dirname, '..', '..', 'docs', 'API.md'), 'utf8');
const SECTION = DOC.slice(DOC.indexOf('## Signed URLs'), DOC.indexOf('## Compression types'));
const SECRET = 'doc-secret-Zx9_-0123456789abcdefghij';
const KEY_ID = '3f9c0a12';

function block(language: string): string {
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(SECTION);
  assert.ok(match, `a ${language} block in docs/API.md, "Signed URLs"`);
  return match[1]!;
}

function verify(printed: string): void {
  const url = new URL(printed.trim());
  assert.equal(url.host, 'cdn.customer-a.com');
  const verdict = verifySignedUrl({ path: url.pathname, query: url.search.slice(1), clientAddress: '', nowMs: Date.now(), leewaySeconds: 0, keys: [{ id: KEY_ID, secret: SECRET }] });
  assert.deepEqual(verdict, { ok: true, keyId: KEY_ID }, printed);
}

test('the Node.js snippet signs links the edges accept', () => {
  const code = `const secret = ${JSON.stringify(SECRET)}, keyId = ${JSON.stringify(KEY_ID)};\n${block('js')}\nconsole.log(url);`;
  verify(execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' }));
});

test('the Python snippet signs links the edges accept', () => {
  const code = `secret = ${JSON.stringify(SECRET)}\nkey_id = ${JSON.stringify(KEY_ID)}\n${block('python')}\nprint(url)`;
  verify(execFileSync('python3', ['-c', code], { encoding: 'utf8' }));
});

test('the shell snippet signs links the edges accept', () => {
  const code = `secret='${SECRET}'; key_id='${KEY_ID}'\n${block('sh')}`;
  verify(execFileSync('bash', ['-c', code], { encoding: 'utf8' }));
});
