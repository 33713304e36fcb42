/**
 * No import cycles anywhere in src/, type-only imports included: two modules that import each
 * other cannot be read, tested or moved one without the other. A shared piece gets a module of
 * its own instead (docs/CONTRIBUTING.md).
 */
import { test } from 'node:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { filesUnder, importCycles, SRC } from '../support/import-graph';

test('src/ has no import cycles', () => {
  const files = filesUnder(SRC);
  assert.ok(files.length > 100);
  const cycles = importCycles(files);
  assert.deepEqual(cycles, [], `import cycles (each line: the modules of one cycle):\n${cycles.map((c) => c.join(' <-> ')).join('\n')}`);
});

test('the cycle finder names the modules of a cycle, type-only imports included', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-cycles-'));
  try {
    await writeFile(path.join(dir, 'a.ts'), "import { b } from './b';\nexport const a = b;\n");
    await writeFile(path.join(dir, 'b.ts'), "import type { C } from './c';\nexport const b = 1 as C;\n");
    await writeFile(path.join(dir, 'c.ts'), "import { a } from './a';\nexport type C = typeof a;\n");
    await writeFile(path.join(dir, 'd.ts'), "import { a } from './a';\nexport const d = a;\n");
    const cycles = importCycles(['a', 'b', 'c', 'd'].map((n) => path.join(dir, `${n}.ts`)));
    assert.equal(cycles.length, 1);
    assert.deepEqual(cycles[0]!.map((f) => path.basename(f)), ['a.ts', 'b.ts', 'c.ts']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
