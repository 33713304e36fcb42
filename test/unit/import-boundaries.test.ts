/**
 * The layering of docs/ARCHITECTURE.md ("Source layout"), checked on the real import graph:
 * imports point inward (bin -> {api, edge, bus} -> obs -> core; api and edge reach the bus
 * only through core's ports); the edge never reaches TypeORM, GraphQL or Apollo (it must run
 * without them); api and edge never import each other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const SRC = path.resolve(__dirname, '..', '..', 'src');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]|(?:^|[^.\w])(?:require|import)\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return filesUnder(full);
    return full.endsWith('.ts') ? [full] : [];
  });
}

function resolveLocal(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts'), base]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

function importsOf(file: string): { local: string[]; packages: string[] } {
  const text = readFileSync(file, 'utf8');
  const local: string[] = [];
  const packages: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (spec.startsWith('.')) {
      const resolved = resolveLocal(file, spec);
      assert.ok(resolved, `${path.relative(SRC, file)} imports ${spec}, which does not exist`);
      local.push(resolved);
    } else if (!spec.startsWith('node:')) {
      packages.push(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { local, packages };
}

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
