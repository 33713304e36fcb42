/**
 * The layering of docs/ARCHITECTURE.md ("Source layout"), checked on the real import graph:
 * imports point inward (bin -> {api, edge, bus} -> obs -> core; api and edge reach the bus
 * only through core's ports); the edge never reaches TypeORM, GraphQL or Apollo (it must run
 * without them); api and edge never import each other. Inside the api and the edge, each
 * folder may import only what its README says (the rules below, one test each): in the api
 * graphql -> services -> db -> domain -> core, plugins and server.ts wiring them; in the edge
 * the pipeline over cache, origin and purge's ports, cache and purge joined by purge's port
 * alone, cluster and server.ts the wiring.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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

/** Paths relative to `root`, with `/` (so rules read the same on every platform). */
const relativeTo = (root: string, file: string): string => path.relative(root, file).split(path.sep).join('/');

/**
 * The imports from `unit` (a folder of `root`, or a file at its top) to files of `root`
 * outside it that `allows` refuses, each as `from -> to` relative to `root`. Imports leaving
 * `root` are the business of the tests above.
 */
function strayImports(root: string, unit: string, allows: (target: string) => boolean): string[] {
  const start = path.join(root, unit);
  const files = unit.endsWith('.ts') ? [start] : filesUnder(start);
  assert.ok(files.length > 0, `${unit} holds no files`);
  const stray: string[] = [];
  for (const file of files) {
    for (const to of importsOf(file).local) {
      const target = relativeTo(root, to);
      if (target.startsWith('../') || target === unit || target.startsWith(`${unit}/`)) continue;
      if (!allows(target)) stray.push(`${relativeTo(root, file)} -> ${target}`);
    }
  }
  return stray;
}

const only =
  (...patterns: RegExp[]) =>
  (target: string): boolean =>
    patterns.some((p) => p.test(target));

interface FolderRule {
  unit: string;
  /** What the unit may import of its root besides itself, as its README says. */
  may: string;
  allows: (target: string) => boolean;
}

/**
 * The api's layers (src/api/README.md). db/ returns the records of domain/, services/ run the
 * stores inside their units of work, graphql/ maps what services return; plugins/ and
 * server.ts only wire. config.ts, read by all of them, is not a layer.
 */
const API_RULES: FolderRule[] = [
  { unit: 'domain', may: 'nothing (core types only)', allows: only() },
  { unit: 'db', may: 'domain; never services, graphql or plugins', allows: only(/^domain\//) },
  {
    unit: 'services',
    may: 'domain, and of db only database.ts, the stores and the outbox (no entity, no mapper); never graphql or plugins',
    allows: only(/^domain\//, /^db\/database\.ts$/, /^db\/[^/]+\.store\.ts$/, /^db\/change-log\.writer\.ts$/),
  },
  { unit: 'graphql', may: 'services and domain; never db or plugins', allows: only(/^services\//, /^domain\//) },
  {
    unit: 'plugins',
    may: "config.ts and graphql's wiring (context.type.ts, error.format.ts, subscriptions.server.ts); never services or db",
    allows: only(/^config\.ts$/, /^graphql\/(context\.type|error\.format|subscriptions\.server)\.ts$/),
  },
  { unit: 'server.ts', may: 'every folder, but of db only database.ts (no entity, no store: it runs no query)', allows: (t) => !t.startsWith('db/') || t === 'db/database.ts' },
];

for (const rule of API_RULES) {
  test(`api/${rule.unit} may import, of the api: ${rule.may}`, () => {
    assert.deepEqual(strayImports(path.join(SRC, 'api'), rule.unit, rule.allows), [], `api/${rule.unit} may import, of the api: ${rule.may}`);
  });
}

const PERSISTENCE = ['typeorm', 'typeorm-pglite', 'pg', '@electric-sql/pglite'];
const GRAPHQL_AND_HTTP = ['graphql', 'type-graphql', 'graphql-ws', 'graphql-scalars', '@apollo/server', '@as-integrations/fastify', '@graphql-yoga/subscription', 'fastify'];

test('api/domain imports only core, and no package', () => {
  for (const file of filesUnder(path.join(SRC, 'api', 'domain'))) {
    const { local, packages } = importsOf(file);
    const name = relativeTo(SRC, file);
    assert.deepEqual(packages, [], `${name} imports packages`);
    assert.deepEqual(local.map((f) => relativeTo(SRC, f)).filter((f) => !f.startsWith('core/')), [], `${name} imports outside core`);
  }
});

test('only api/db reaches TypeORM and the PostgreSQL drivers; services reach neither GraphQL nor HTTP', () => {
  const forbidden: Record<string, string[]> = { services: [...PERSISTENCE, ...GRAPHQL_AND_HTTP], graphql: PERSISTENCE, plugins: PERSISTENCE };
  for (const [unit, packages] of Object.entries(forbidden)) {
    for (const file of filesUnder(path.join(SRC, 'api', unit))) {
      const used = importsOf(file).packages.filter((p) => packages.includes(p));
      assert.deepEqual(used, [], `${relativeTo(SRC, file)} imports ${used.join(', ')}`);
    }
  }
});

test('queries live in api/db: no other file of the api calls the query API', () => {
  const api = path.join(SRC, 'api');
  const QUERY_CALL = /\b(?:getRepository|createQueryBuilder|createQueryRunner)\s*\(|\.query\s*\(/;
  const offenders = filesUnder(api)
    .filter((f) => !relativeTo(api, f).startsWith('db/'))
    .filter((f) => QUERY_CALL.test(readFileSync(f, 'utf8')))
    .map((f) => relativeTo(SRC, f));
  assert.deepEqual(offenders, [], 'these run queries; move them into a db/ store');
});

/**
 * The edge's folders (the READMEs of src/edge/*). The customer feed port sits at the edge's
 * root (`*.port.ts`); sync implements it and purge is handed purges through it.
 */
const FEED_PORT = /^[^/]+\.port\.ts$/;
const EDGE_RULES: FolderRule[] = [
  {
    unit: 'cache',
    may: 'of purge only the port it implements and the records it keeps (purge/*.port.ts, purge/purge.records.ts)',
    allows: only(/^purge\/[^/]+\.port\.ts$/, /^purge\/purge\.records\.ts$/),
  },
  { unit: 'origin', may: 'cache/cache-store.port.ts (object metadata types)', allows: only(/^cache\/cache-store\.port\.ts$/) },
  {
    unit: 'purge',
    may: "cache's keys and object metadata (cache/cache-key.ts, cache/cache-store.port.ts; never a store or the index) and the feed port",
    allows: only(/^cache\/cache-key\.ts$/, /^cache\/cache-store\.port\.ts$/, FEED_PORT),
  },
  {
    unit: 'pipeline',
    may: "cache, origin, access (per-client rate budgets), shield (the route to origin shields, the hop gate), purge's ports and records, edge.metrics.ts and metrics.catalog.ts (never sync, stats, cluster or server.ts)",
    allows: only(/^cache\//, /^origin\//, /^access\//, /^shield\//, /^purge\/[^/]+\.port\.ts$/, /^purge\/purge\.records\.ts$/, /^edge\.metrics\.ts$/, /^metrics\.catalog\.ts$/),
  },
  { unit: 'shield', may: 'nothing of the edge (the pipeline calls it; it speaks HTTP to shields and judges hops on its own)', allows: only() },
  { unit: 'stats', may: 'edge.metrics.ts and metrics.catalog.ts', allows: only(/^edge\.metrics\.ts$/, /^metrics\.catalog\.ts$/) },
  { unit: 'sync', may: 'the feed port it implements (never pipeline, cache or purge)', allows: only(FEED_PORT) },
  { unit: 'cluster', may: 'anything but sync (feeds are wired in src/bin)', allows: (t) => !t.startsWith('sync/') },
  { unit: 'logs', may: 'pipeline/transaction.ts (the request types and the sink the access log implements)', allows: only(/^pipeline\/transaction\.ts$/) },
  { unit: 'warm', may: 'metrics.catalog.ts (its outcome labels); it reaches the pipeline only over its own public port', allows: only(/^metrics\.catalog\.ts$/) },
];

for (const rule of EDGE_RULES) {
  test(`edge/${rule.unit} may import, of the edge: ${rule.may}`, () => {
    assert.deepEqual(strayImports(path.join(SRC, 'edge'), rule.unit, rule.allows), [], `edge/${rule.unit} may import, of the edge: ${rule.may}`);
  });
}

test('edge/server.ts and edge/cluster are wiring: nothing in the edge imports them but cluster (a worker starts a server)', () => {
  const edge = path.join(SRC, 'edge');
  const stray = filesUnder(edge)
    .filter((f) => !relativeTo(edge, f).startsWith('cluster/'))
    .flatMap((f) => importsOf(f).local.map((to) => `${relativeTo(edge, f)} -> ${relativeTo(edge, to)}`))
    .filter((line) => / -> (server\.ts|cluster\/.*)$/.test(line));
  assert.deepEqual(stray, []);
});

test('a folder rule names each import it refuses, type-only imports included', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'edgeplane-boundaries-'));
  try {
    await mkdir(path.join(root, 'low'));
    await mkdir(path.join(root, 'high'));
    await writeFile(path.join(root, 'low', 'a.ts'), "import type { B } from '../high/b';\nimport { c } from './c';\nexport const a = c as B;\n");
    await writeFile(path.join(root, 'low', 'c.ts'), 'export const c = 1;\n');
    await writeFile(path.join(root, 'high', 'b.ts'), "import { a } from '../low/a';\nexport type B = typeof a;\n");
    assert.deepEqual(strayImports(root, 'low', only()), ['low/a.ts -> high/b.ts']);
    assert.deepEqual(strayImports(root, 'high', only(/^low\//)), []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
