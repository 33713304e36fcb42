/** The control-character rule for free text (core/text.rules.ts) and the customer rules that apply it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkBasicAuth, checkCustomerName, checkDomains, checkOriginUrl, checkQueryString } from '../../src/core/customer.rules';
import { checkText, escapeForbidden, findForbiddenCharacter, isPlainText } from '../../src/core/text.rules';

const REFUSED: Array<[string, string]> = [
  ['\u0000', 'U+0000'],
  ['\t', 'U+0009'],
  ['\n', 'U+000A'],
  ['\r', 'U+000D'],
  ['\u001b', 'U+001B'],
  ['\u001f', 'U+001F'],
  ['\u007f', 'U+007F'],
  ['\u0080', 'U+0080'],
  ['\u0085', 'U+0085'],
  ['\u009f', 'U+009F'],
  ['\u2028', 'U+2028'],
  ['\u2029', 'U+2029'],
  ['\ud800', 'U+D800'],
  ['\udfff', 'U+DFFF'],
];

test('every C0 and C1 control, DEL, the line/paragraph separators and unpaired surrogates are refused, with the code point and its position', () => {
  for (const [ch, codePoint] of REFUSED) {
    const value = `ab${ch}cd`;
    assert.deepEqual(findForbiddenCharacter(value)?.codePoint, codePoint, JSON.stringify(value));
    assert.equal(findForbiddenCharacter(value)?.position, 3, JSON.stringify(value));
    assert.equal(isPlainText(value), false, JSON.stringify(value));
    const problems = checkText(value, 'input.name');
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.field, 'input.name');
    assert.match(problems[0]!.message, new RegExp(`${codePoint.replace('+', '\\+')} at position 3`));
  }
  for (let c = 0; c <= 0x9f; c += 1) {
    const expected = c < 0x20 || c >= 0x7f;
    assert.equal(isPlainText(`x${String.fromCharCode(c)}`), !expected, `U+${c.toString(16)}`);
  }
  assert.match(checkText('a\u0000', 'f')[0]!.message, /must not contain control characters \(found U\+0000 at position 2\); send the text without it/);
  assert.match(checkText('a\u2028', 'f')[0]!.message, /must be one line/);
  assert.match(checkText('a\udc00', 'f')[0]!.message, /unpaired surrogate/);
});

test('positions count characters, not UTF-16 units; ordinary text (accents, emoji, other scripts) passes', () => {
  assert.equal(findForbiddenCharacter('😀😀\u001b')?.position, 3);
  for (const ok of ['Acme GmbH', 'Zürich Ästhetik', 'café 😀', '東京 株式会社', 'a\u00a0b', 'x-y_z.!@#$%^&*()', 'x\u200by', '']) {
    assert.deepEqual(checkText(ok, 'f'), [], JSON.stringify(ok));
  }
});

test('the customer rules apply it to names, Basic Auth, origin URLs, domains and query parameter names', () => {
  assert.equal(checkCustomerName('Acme\u0000', 'input.name')[0]!.field, 'input.name');
  // Trailing control characters are refused too, not trimmed away.
  assert.match(checkCustomerName('Acme\n', 'input.name')[0]!.message, /U\+000A/);
  assert.deepEqual(checkCustomerName('  Acme  ', 'input.name'), []);
  const auth = checkBasicAuth({ username: 'u\u0000', password: 'p\r\nX-Injected: 1' }, 'input.basicAuth');
  assert.deepEqual(auth.map((p) => p.field), ['input.basicAuth.username', 'input.basicAuth.password']);
  assert.match(checkOriginUrl('https://origin.example/a\nb', 'input.originUrl')[0]!.message, /control characters/);
  assert.match(checkOriginUrl('https://origin.example/a\u0000', 'input.originUrl')[0]!.message, /control characters/);
  assert.deepEqual(checkOriginUrl('https://origin.example/a', 'input.originUrl'), []);
  assert.match(checkDomains(['cdn.example.com\u0000'], 'input.domains')[0]!.message, /control characters/);
  assert.equal(checkQueryString({ mode: 'allowlist', allow: ['v', 'a\u001b'] }, 'input.queryString')[0]!.field, 'input.queryString.allow[1]');
});

test('escapeForbidden makes stored text safe to print: each refused character becomes \\u{…}', () => {
  assert.equal(escapeForbidden('ci\u001b[2Jbot\r\n😀\ud800'), 'ci\\u{1b}[2Jbot\\u{d}\\u{a}😀\\u{d800}');
  assert.equal(escapeForbidden('plain name'), 'plain name');
});
