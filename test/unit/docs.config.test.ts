/** The README's configuration table names every variable the roles read, and no other. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');
const varsIn = (text: string): Set<string> => new Set([...text.matchAll(/\b((?:CDN|DATABASE|REDIS)_[A-Z0-9_]+)\b/g)].map((m) => m[1]!));

test('every configuration variable of the api and the edge is in the README table, and the table has no stale ones', () => {
  const fromCode = new Set([...varsIn(read('src/api/config.ts')), ...varsIn(read('src/edge/config.ts'))]);
  const readme = read('README.md');
  const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## GraphQL'));
  const documented = new Set([...table.matchAll(/^\| `([A-Z0-9_]+)`/gm)].map((m) => m[1]!));
  assert.deepEqual([...fromCode].filter((v) => !documented.has(v)).sort(), [], 'read by the code but not in the README table');
  assert.deepEqual([...documented].filter((v) => !fromCode.has(v)).sort(), [], 'in the README table but read by no config.ts');
});
