/**
 * One error vocabulary (src/core/errors.ts) for the api, the edge and the command line, kept
 * in step with docs/ERRORS.md: every code documented once, every code used by the code, no
 * code named anywhere that the catalog does not define, and no two codes that the edge's
 * short names would confuse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { errorCatalog, httpErrorBody, cdnError, shortName, type ErrorCode } from '../../src/core/errors';
import { filesUnder, SRC } from '../support/import-graph';

const ROOT = path.resolve(SRC, '..');
const CODES = Object.keys(errorCatalog) as ErrorCode[];
const CODE_PATTERN = /CDN_ERR_[A-Z0-9_]+/g;

test('every code is documented in docs/ERRORS.md, once, with its status', () => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'ERRORS.md'), 'utf8');
  for (const code of CODES) {
    const rows = doc.split('\n').filter((line) => line.startsWith(`| \`${code}\` |`));
    assert.equal(rows.length, 1, `${code}: ${rows.length} rows in docs/ERRORS.md (want 1)`);
    assert.ok(rows[0]!.includes(`| ${errorCatalog[code].status} |`), `${code}: the row does not give HTTP ${errorCatalog[code].status}`);
  }
});

test('every code is used by the code, and the code names no code the catalog lacks', () => {
  const sources = filesUnder(SRC).filter((f) => !f.endsWith(path.join('core', 'errors.ts')));
  const used = new Set<string>();
  for (const file of sources) for (const m of readFileSync(file, 'utf8').matchAll(CODE_PATTERN)) used.add(m[0]);
  // invalidInput() is the catalog's own shorthand for CDN_ERR_INPUT_INVALID.
  if (sources.some((f) => readFileSync(f, 'utf8').includes('invalidInput('))) used.add('CDN_ERR_INPUT_INVALID');
  const unused = CODES.filter((c) => !used.has(c));
  assert.deepEqual(unused, [], 'catalog codes nothing raises');
  // A prefix of codes (`CDN_ERR_AUTH` in a pattern) names an area, not a code.
  const known = new Set<string>(CODES);
  const docs = ['README.md', 'DEVELOPERS.md', ...filesUnder(path.join(ROOT, 'test')).map((f) => path.relative(ROOT, f))]
    .concat(['API.md', 'EDGE.md', 'ERRORS.md', 'OPERATIONS.md', 'ONBOARDING.md', 'ARCHITECTURE.md'].map((d) => path.join('docs', d)));
  for (const file of [...sources, ...docs.map((d) => path.join(ROOT, d))]) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const unknown = [...new Set([...text.matchAll(CODE_PATTERN)].map((m) => m[0]))].filter((c) => !known.has(c) && !CODES.some((k) => k.startsWith(`${c.replace(/_+$/, '')}_`)));
    assert.deepEqual(unknown, [], `${path.relative(ROOT, file)} names codes the catalog does not define`);
  }
});

test('codes are not reused: distinct short names and distinct messages', () => {
  const names = new Map<string, ErrorCode>();
  const messages = new Map<string, ErrorCode>();
  for (const code of CODES) {
    const name = shortName(code);
    assert.equal(names.get(name), undefined, `${code} and ${names.get(name)} share the short name ${name}`);
    names.set(name, code);
    const template = String(errorCatalog[code].message);
    assert.equal(messages.get(template), undefined, `${code} and ${messages.get(template)} share one message`);
    messages.set(template, code);
  }
});

test('the edge body carries the code, its derived short name and the message', () => {
  const err = cdnError('CDN_ERR_EDGE_UNKNOWN_HOST', 'x.example');
  assert.deepEqual(httpErrorBody(err, { host: 'x.example' }), { error: 'unknown_host', code: 'CDN_ERR_EDGE_UNKNOWN_HOST', message: err.message, host: 'x.example' });
  assert.equal(shortName('CDN_ERR_ORIGIN_TIMEOUT'), 'origin_timeout');
});
