/**
 * The layering of docs/ARCHITECTURE.md ("Source layout"), checked on the real import graph:
 * imports point inward (bin -> {api, edge, bus} -> obs -> core; api and edge reach the bus
 * only through core's ports); the edge never reaches TypeORM, GraphQL or Apollo (it must run
 * without them); api and edge never import each other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { filesUnder, importsOf, SRC } from '../support/import-graph';

/** Every file and package reachable from the entry files. */
function reach(entries: string[]): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const { local, packages: pkgs } = importsOf(file);
    for (const p of pkgs) if (!packages.has(p)) packages.set(p, path.relative(SRC, file));
    queue.push(...local);
  }
  return { files, packages };
}

const area = (file: string): string => path.relative(SRC, file).split(path.sep)[0]!;

test('the edge never reaches TypeORM, GraphQL, Apollo, PostgreSQL drivers or the api', () => {
  const edgeFiles = filesUnder(path.join(SRC, 'edge'));
  assert.ok(edgeFiles.length > 0);
  const { files, packages } = reach(edgeFiles);
  const forbidden = ['typeorm', 'typeorm-pglite', 'graphql', 'type-graphql', 'graphql-ws', 'graphql-scalars', 'pg', '@apollo/server', '@as-integrations/fastify', '@electric-sql/pglite', '@graphql-yoga/render-graphiql'];
  for (const pkg of forbidden) {
    assert.ok(!packages.has(pkg), `the edge reaches ${pkg} (through ${packages.get(pkg)})`);
  }
  const areas = new Set([...files].map(area));
  assert.ok(!areas.has('api'), 'the edge imports the api');
  assert.ok(!areas.has('bin'), 'the edge imports bin');
});

test('the api never imports the edge or a concrete bus adapter', () => {
  const { files } = reach(filesUnder(path.join(SRC, 'api')));
  const reached = [...files].map((f) => path.relative(SRC, f));
  assert.deepEqual(reached.filter((f) => f.startsWith('edge') || f.startsWith('bin') || f.startsWith('bus')), []);
});

test('core imports nothing of ours but core, and no package', () => {
  for (const file of filesUnder(path.join(SRC, 'core'))) {
    const { local, packages } = importsOf(file);
    assert.deepEqual(packages, [], `${path.relative(SRC, file)} imports packages`);
    assert.deepEqual(local.map(area).filter((a) => a !== 'core'), [], `${path.relative(SRC, file)} imports outside core`);
  }
});

test('bus and obs import only core (and their packages)', () => {
  for (const dir of ['bus', 'obs']) {
    if (!existsSync(path.join(SRC, dir))) continue;
    for (const file of filesUnder(path.join(SRC, dir))) {
      const outside = importsOf(file).local.map(area).filter((a) => a !== 'core' && a !== dir && a !== 'obs');
      assert.deepEqual(outside, [], `${path.relative(SRC, file)} imports ${outside.join(', ')}`);
    }
  }
});
