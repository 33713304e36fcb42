/**
 * docker-compose.yaml and the Dockerfile agree with the code: every `cdn` service's environment
 * is accepted by its role's config reader (names it reads, values it takes), ports and health
 * checks are the ones the config gives, dependencies and volumes resolve, every mounted or
 * copied file exists, the demo origin script really serves (Basic Auth included) and the seed's
 * GraphQL is valid against schema/schema.graphql. The api load balancer (nginx,
 * deploy/lb/nginx.conf) sends HTTP and WebSocket upgrades to every api replica and fails over.
 * No docker needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { buildSchema, getVariableValues, parse, validate, type OperationDefinitionNode } from 'graphql';
import { parse as parseYaml } from 'yaml';
import { loadApiConfig, loadDatabaseConfig } from '../../src/api/config';
import { loadEdgeConfig } from '../../src/edge/config';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

/**
 * Compose's interpolation as if no variable were set: `${NAME:-default}` and `${NAME-default}`
 * give the default, `$$` a literal `$`. `${NAME}` without a default or a bare `$NAME` is an
 * error: the stack must start without a .env file, and a `$` meant literally must be `$$`.
 */
function interpolate(value: string, where: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_]\w*)(?::?-([^}]*))?\}|\$([A-Za-z_]\w*)?/g, (match, braced, fallback, bare) => {
    if (match === '$$') return '$';
    if (braced !== undefined && fallback !== undefined) return fallback as string;
    if (braced !== undefined) throw new Error(`${where}: \${${braced}} has no default; write \${${braced}:-<demo value>}`);
    throw new Error(`${where}: "${match}" would be interpolated by compose${bare === undefined ? '' : ` as the variable ${bare}`}; write $$ for a literal $`);
  });
}

function interpolateAll(node: unknown, where: string): unknown {
  if (typeof node === 'string') return interpolate(node, where);
  if (Array.isArray(node)) return node.map((v, i) => interpolateAll(v, `${where}[${i}]`));
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateAll(v, `${where}.${k}`)]));
  }
  return node;
}

interface Service {
  build?: string | { context: string; dockerfile?: string; target?: string };
  image?: string;
  stop_grace_period?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  restart?: string;
}

const compose = interpolateAll(parseYaml(read('docker-compose.yaml'), { merge: true }), 'docker-compose.yaml') as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;
const names = Object.keys(services);
const SECRETS_ONLY = { CDN_ADMIN_TOKEN: 'a'.repeat(16), CDN_SECRET_KEY: 's'.repeat(32) };
const apiDefaults = loadApiConfig(SECRETS_ONLY);
const edgeDefaults = loadEdgeConfig(SECRETS_ONLY);

/** The `cdn` sub-commands src/bin/cdn.ts dispatches. */
const CDN_COMMANDS = new Set([...read('src/bin/cdn.ts').matchAll(/^ {2}([a-z]+): \(\) => \{/gm)].map((m) => m[1]!));
/** ENV of the Dockerfile's last stage: every container of the image starts with it. */
const dockerfile = read('Dockerfile').replace(/\\\n\s*/g, ' ');
const stages = dockerfile.split(/^FROM\s+/m).slice(1);
const runtimeStage = stages[stages.length - 1]!;
const imageEnv: Record<string, string> = Object.fromEntries(
  [...runtimeStage.matchAll(/^ENV\s+(.+)$/gm)].flatMap((m) => [...m[1]!.matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)].map((kv) => [kv[1]!, kv[2]!])),
);

const isCdn = (s: Service): boolean => s.build !== undefined && s.entrypoint === undefined;
const role = (name: string): string | undefined => (isCdn(services[name]!) ? services[name]!.command?.[0] : undefined);
const withRole = (r: string): string[] => names.filter((n) => role(n) === r);
/** The config a `cdn edge` service loads, as in its container. */
const edgeConfigOf = (name: string) => loadEdgeConfig({ ...imageEnv, ...services[name]!.environment }, '/app');
/** The `cdn edge` services by CDN_EDGE_ROLE: `edge` serves clients, `shield` fills the edges' misses (docs/EDGE.md, "Origin shield"). */
const edgesOfRole = (r: 'edge' | 'shield'): string[] => withRole('edge').filter((n) => edgeConfigOf(n).shield.role === r);

/**
 * Variable names a config reader reads: the quoted CDN_*, DATABASE_*, REDIS_* names in its
 * function and in the file's top-level functions and constants it uses (e.g. the table of
 * Redis variable names it hands to core/redis-target.ts), followed transitively.
 */
function namesReadBy(file: string, fn: string): Set<string> {
  const text = read(file);
  const starts = [...text.matchAll(/^(?:export )?(?:async )?(?:function|const|let|class|interface|type|enum) (\w+)/gm)].map((m) => ({ name: m[1]!, at: m.index! }));
  const chunks = new Map(starts.map((d, i) => [d.name, text.slice(d.at, starts[i + 1]?.at ?? text.length)]));
  assert.ok(chunks.has(fn), `${fn} not found in ${file}`);
  const names = new Set<string>();
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const body = chunks.get(name)!;
    for (const m of body.matchAll(/'((?:CDN|DATABASE|REDIS)_[A-Z0-9_]+)'/g)) names.add(m[1]!);
    for (const other of chunks.keys()) if (other !== name && !/^load[A-Z]/.test(other) && new RegExp(`\\b${other}\\b`).test(body)) visit(other);
  };
  visit(fn);
  return names;
}

const ROLES: Record<string, { reads: Set<string>; load: (env: Record<string, string>) => unknown }> = {
  api: { reads: namesReadBy('src/api/config.ts', 'loadApiConfig'), load: (env) => loadApiConfig(env, '/app') },
  edge: { reads: namesReadBy('src/edge/config.ts', 'loadEdgeConfig'), load: (env) => loadEdgeConfig(env, '/app') },
  migrate: { reads: namesReadBy('src/api/config.ts', 'loadDatabaseConfig'), load: (env) => loadDatabaseConfig(env, '/app') },
};

/** `[ip:]host:container` -> { ip, host, container }. */
function parsePort(spec: string): { ip: string | undefined; host: number; container: number } {
  const parts = spec.split(':');
  const container = Number(parts.pop());
  const host = Number(parts.pop());
  return { ip: parts.pop(), host, container };
}

test('the stack has the services of the plan', () => {
  for (const name of ['postgres', 'redis', 'migrate', 'api-1', 'api-2', 'api-lb', 'edge-a', 'edge-b', 'shield', 'prometheus', 'grafana', 'seed']) {
    assert.ok(services[name], `docker-compose.yaml has no service ${name}`);
  }
  assert.deepEqual(withRole('edge').sort(), ['edge-a', 'edge-b', 'shield'], 'three `cdn edge` services');
  assert.deepEqual(edgesOfRole('edge').sort(), ['edge-a', 'edge-b'], 'two edges (CDN_EDGE_ROLE edge, the default)');
  assert.deepEqual(edgesOfRole('shield'), ['shield'], 'one origin shield (CDN_EDGE_ROLE=shield)');
  assert.deepEqual(withRole('api').sort(), ['api-1', 'api-2'], 'two api replicas');
  assert.deepEqual(withRole('migrate'), ['migrate']);
  assert.equal(names.filter((n) => services[n]!.environment?.DEMO_CUSTOMER !== undefined).length, 3, 'three demo origins');
});

test('every cdn service runs a real `cdn` command with an environment its config reader accepts', () => {
  for (const name of names.filter((n) => isCdn(services[n]!))) {
    const r = role(name)!;
    assert.ok(CDN_COMMANDS.has(r), `${name}: "${r}" is not a cdn command (${[...CDN_COMMANDS].join(', ')})`);
    const spec = ROLES[r];
    assert.ok(spec, `${name}: no config check for "cdn ${r}"`);
    const env = { ...imageEnv, ...services[name]!.environment };
    const unknown = Object.keys(services[name]!.environment ?? {}).filter((k) => !spec.reads.has(k));
    assert.deepEqual(unknown, [], `${name}: variables "cdn ${r}" does not read (typo?)`);
    for (const k of Object.keys(imageEnv).filter((k) => /^(CDN|DATABASE|REDIS)_/.test(k))) {
      assert.ok(spec.reads.has(k), `Dockerfile ENV ${k} is not read by "cdn ${r}"`);
    }
    assert.doesNotThrow(() => spec.load(env), `${name}: its environment is refused by the "${r}" config reader`);
  }
});

test('the api and the edges get what their commands require and listen where compose and Prometheus expect', () => {
  for (const name of withRole('api')) {
    const env = { ...imageEnv, ...services[name]!.environment };
    const config = loadApiConfig(env, '/app');
    assert.ok(config.databaseUrl !== undefined && config.redisUrl !== undefined, `${name}: cdn api needs DATABASE_URL and REDIS_URL`);
    assert.equal(new URL(config.databaseUrl).hostname, 'postgres');
    assert.equal(new URL(config.redisUrl).hostname, 'redis');
    assert.equal(config.host, '0.0.0.0', `${name}: must listen on all interfaces to be reached from other containers`);
    assert.equal(config.port, apiDefaults.port, `${name}: keep the default port (${apiDefaults.port}) that grafana/prometheus.yml scrapes`);
    assert.deepEqual(services[name]!.ports!.map((p) => parsePort(p).container), [config.port]);
    assert.ok(services[name]!.ports!.every((p) => parsePort(p).ip === '127.0.0.1'), `${name}: a replica is published on the host's loopback only; clients go through the load balancer`);
    assert.match(services[name]!.healthcheck!.test.join(' '), new RegExp(`127\\.0\\.0\\.1:${config.port}/readyz`), `${name}: health check on /readyz of port ${config.port}`);
    const pg = services.postgres!.environment!;
    const url = new URL(config.databaseUrl);
    assert.deepEqual([url.username, decodeURIComponent(url.password), url.pathname.slice(1)], [pg.POSTGRES_USER, pg.POSTGRES_PASSWORD, pg.POSTGRES_DB], `${name}: DATABASE_URL must match the postgres service's user, password and database`);
  }
  const edgeIds = new Set<string>();
  for (const name of withRole('edge')) {
    const env = { ...imageEnv, ...services[name]!.environment };
    const config = loadEdgeConfig(env, '/app');
    assert.ok(config.redisUrl !== undefined && new URL(config.redisUrl).hostname === 'redis', `${name}: cdn edge follows the api over REDIS_URL (the redis service)`);
    assert.equal(config.host, '0.0.0.0', `${name}: CDN_EDGE_HOST must be 0.0.0.0 to be reachable`);
    assert.equal(config.adminHost, '0.0.0.0', `${name}: CDN_EDGE_ADMIN_HOST must be 0.0.0.0 so Prometheus can scrape it`);
    assert.equal(config.port, edgeDefaults.port);
    assert.equal(config.adminPort, edgeDefaults.adminPort, `${name}: keep the default admin port (${edgeDefaults.adminPort}) that grafana/prometheus.yml scrapes`);
    edgeIds.add(config.edgeId);
    const ports = services[name]!.ports!.map(parsePort);
    if (config.shield.role === 'shield') {
      // Clients go to the edges; only the edges reach a shield, on the compose network.
      assert.deepEqual(ports.map((p) => p.container), [config.adminPort], `${name}: a shield publishes its admin port only, never its public port`);
    } else {
      assert.deepEqual(ports.map((p) => p.container).sort(), [config.port, config.tlsPort!, config.adminPort].sort(), `${name}: publishes its plain, HTTPS and admin ports`);
    }
    assert.equal(ports.find((p) => p.container === config.adminPort)!.ip, '127.0.0.1', `${name}: the admin port is published on the host's loopback only`);
    assert.match(services[name]!.healthcheck!.test.join(' '), new RegExp(`127\\.0\\.0\\.1:${config.adminPort}/readyz`), `${name}: health check on the admin port's /readyz`);
    assert.ok(config.cacheDir.startsWith(config.dataDir), `${name}: the cache lives in the data directory, which is the edge's volume`);
  }
  assert.equal(edgeIds.size, withRole('edge').length, 'each edge and the shield have their own CDN_EDGE_ID');
});

test('the edges and the shield share nothing but Redis', () => {
  const sources = (s: Service): string[] => (s.volumes ?? []).map((v) => v.split(':')[0]!);
  for (const a of withRole('edge')) {
    for (const b of withRole('edge').filter((n) => n !== a)) {
      assert.deepEqual(sources(services[a]!).filter((v) => sources(services[b]!).includes(v)), [], `${a} and ${b}: no volume in common`);
    }
  }
  for (const name of withRole('edge')) {
    assert.deepEqual(Object.keys(services[name]!.depends_on ?? {}), ['redis'], `${name}: depends on Redis only`);
    const dataDir = loadEdgeConfig({ ...imageEnv, ...services[name]!.environment }, '/app').dataDir;
    assert.ok((services[name]!.volumes ?? []).some((v) => v.split(':')[1] === dataDir), `${name}: its data directory ${dataDir} is a volume of its own`);
  }
});

test('the origin shield: role shield, reached by the edges at its own service and public port, in their fleet with their secret', () => {
  const [name] = edgesOfRole('shield');
  assert.ok(name !== undefined, 'docker-compose.yaml has no `cdn edge` service with CDN_EDGE_ROLE=shield');
  const shield = edgeConfigOf(name);
  assert.equal(shield.shield.role, 'shield');
  // CDN_EDGE_SHIELD_URL is what the edges connect to: this service's name (compose's DNS) and its public port.
  assert.ok(shield.shield.url !== undefined, `${name}: CDN_EDGE_SHIELD_URL is required (CDN_EDGE_HOST is 0.0.0.0)`);
  const url = new URL(shield.shield.url);
  assert.equal(url.protocol, 'http:', `${name}: the edges reach it over plain HTTP`);
  assert.equal(url.hostname, name, `${name}: CDN_EDGE_SHIELD_URL must name this service, which the edges resolve on the compose network`);
  assert.equal(Number(url.port || 80), shield.port, `${name}: CDN_EDGE_SHIELD_URL must name its public port (CDN_EDGE_PORT ${shield.port})`);
  assert.equal(shield.tlsPort, undefined, `${name}: no TLS listener (no client comes to a shield)`);
  for (const edge of edgesOfRole('edge')) {
    const config = edgeConfigOf(edge);
    assert.equal(config.shield.role, 'edge', `${edge}: an edge, not a shield`);
    assert.equal(config.shield.url, undefined, `${edge}: CDN_EDGE_SHIELD_URL is a shield's only`);
    assert.ok(config.shield.use, `${edge}: sends its misses to the live shields (CDN_EDGE_SHIELDS not off)`);
    // The same fleet (the heartbeats list the shield) and the same hop key (derived from CDN_SECRET_KEY).
    assert.equal(shield.redisUrl, config.redisUrl, `${name} and ${edge}: the same REDIS_URL`);
    assert.equal(shield.redisPrefix, config.redisPrefix, `${name} and ${edge}: the same CDN_REDIS_PREFIX`);
    assert.equal(shield.secretKey, config.secretKey, `${name} and ${edge}: the same CDN_SECRET_KEY, or the shield refuses the edges' hops`);
  }
});

test('published host ports are distinct, dependencies resolve, long-running services have health checks', () => {
  const hostPorts = names.flatMap((n) => (services[n]!.ports ?? []).map((p) => `${parsePort(p).ip ?? '*'}:${parsePort(p).host} (${n})`));
  const byPort = new Map<number, string[]>();
  for (const p of hostPorts) {
    const port = Number(p.split(' ')[0]!.split(':')[1]);
    byPort.set(port, [...(byPort.get(port) ?? []), p]);
  }
  assert.deepEqual([...byPort.values()].filter((v) => v.length > 1), [], 'host port published twice');
  for (const name of names) {
    const s = services[name]!;
    const oneShot = s.restart === 'no';
    if (!oneShot) assert.ok(s.healthcheck, `${name}: a long-running service needs a health check`);
    for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
      assert.ok(services[dep], `${name} depends on ${dep}, which is no service`);
      if (condition === 'service_healthy') assert.ok(services[dep]!.healthcheck, `${name} waits for ${dep} to be healthy, but it has no health check`);
      else if (condition === 'service_completed_successfully') assert.equal(services[dep]!.restart, 'no', `${name} waits for ${dep} to complete, but it is not a one-shot`);
      else assert.equal(condition, 'service_started', `${name} -> ${dep}: unknown condition ${condition}`);
    }
  }
  for (const name of withRole('api')) {
    assert.equal(services[name]!.depends_on?.migrate?.condition, 'service_completed_successfully', `${name} starts after the migration`);
  }
});

test('the api replicas are alike: same environment, health check and drain time', () => {
  const [first, ...others] = withRole('api').map((n) => services[n]!);
  for (const other of others) {
    assert.deepEqual(other.environment, first!.environment, 'the same environment (same database, Redis, secrets)');
    assert.deepEqual(other.healthcheck, first!.healthcheck);
    assert.deepEqual(other.depends_on, first!.depends_on);
    assert.equal(other.stop_grace_period, first!.stop_grace_period);
  }
});

test('named volumes are declared and used, bind mounts name files of the repository', () => {
  const declared = new Set(Object.keys(compose.volumes ?? {}));
  const used = new Set<string>();
  for (const name of names) {
    for (const spec of services[name]!.volumes ?? []) {
      const [source, target] = spec.split(':');
      assert.ok(target?.startsWith('/'), `${name}: volume ${spec} has no absolute container path`);
      if (source!.startsWith('.') || source!.startsWith('/')) {
        assert.ok(existsSync(path.join(ROOT, source!)), `${name}: mounts ${source}, which does not exist in the repository`);
      } else {
        assert.ok(declared.has(source!), `${name}: named volume ${source} is not declared under volumes:`);
        used.add(source!);
      }
    }
  }
  assert.deepEqual([...declared].filter((v) => !used.has(v)), [], 'declared volumes no service uses');
});

test('the Dockerfile: multi-stage, copies files that exist, runs `cdn` as a non-root user', () => {
  for (const name of names.filter((n) => services[n]!.build !== undefined)) {
    const build = services[name]!.build!;
    const context = typeof build === 'string' ? build : build.context;
    assert.ok(existsSync(path.join(ROOT, context, typeof build === 'string' ? 'Dockerfile' : (build.dockerfile ?? 'Dockerfile'))), `${name}: no Dockerfile in ${context}`);
  }
  const stageNames = stages.map((s) => /^\S+\s+AS\s+(\S+)/i.exec(s)?.[1]);
  assert.ok(stages.length >= 2, 'multi-stage: a build stage and a runtime stage');
  const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const [i, stage] of stages.entries()) {
    for (const m of stage.matchAll(/^COPY\s+(.+)$/gm)) {
      const words = m[1]!.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      const sources = paths.slice(0, -1);
      if (from !== undefined) {
        assert.ok(stageNames.slice(0, i).includes(from), `COPY --from=${from}: no earlier stage of that name`);
        continue;
      }
      for (const src of sources) {
        assert.ok(existsSync(path.join(ROOT, src)), `COPY ${src}: not in the repository`);
        assert.ok(!ignored.includes(src), `COPY ${src}: excluded by .dockerignore`);
      }
    }
  }
  assert.match(stages[0]!, /tsc -p tsconfig\.build\.json/, 'the build stage compiles with tsconfig.build.json');
  assert.match(runtimeStage, /npm install[^\n]*--omit=dev/, 'the runtime stage installs production dependencies only');
  assert.doesNotMatch(runtimeStage, /COPY\s+(\.\/)?src\b/, 'the runtime stage holds no TypeScript sources');
  assert.equal(imageEnv.NODE_ENV, 'production', 'the image runs with NODE_ENV=production (introspection is CDN_API_INTROSPECTION\'s, see api.limits test)');
  const user = [...runtimeStage.matchAll(/^USER\s+(\S+)/gm)].pop()?.[1];
  assert.ok(user !== undefined && user !== 'root' && user !== '0', 'the runtime stage runs as a non-root USER');
  const entrypoint = JSON.parse(/^ENTRYPOINT\s+(\[.*\])$/m.exec(runtimeStage)![1]!) as string[];
  const workdir = /^WORKDIR\s+(\S+)/m.exec(runtimeStage)![1]!;
  const script = entrypoint.find((a) => a.endsWith('cdn.js'))!;
  assert.ok(script.startsWith(`${workdir}/`) && existsSync(path.join(ROOT, path.relative(workdir, script))), `ENTRYPOINT ${script} is not the repository's bin/cdn.js`);
  assert.match(runtimeStage, /^COPY\s+bin\s/m, 'the runtime stage copies bin/');
  assert.match(runtimeStage, /^COPY\s+--from=\S+\s+\/app\/dist\s/m, 'the runtime stage copies the compiled dist/ from the build stage');
  for (const dir of new Set(withRole('edge').map((n) => loadEdgeConfig({ ...imageEnv, ...services[n]!.environment }, '/app').dataDir))) {
    assert.match(runtimeStage, new RegExp(`chown\\s+${user}\\S*\\s+${dir}`), `the image must give ${dir} (the edges' volume) to ${user}, or a named volume there is not writable`);
  }
});

/** The inline `node -e` script of a service. */
function inlineScript(name: string): string {
  const entrypoint = services[name]!.entrypoint!;
  assert.deepEqual(entrypoint.slice(0, 2), ['node', '-e'], `${name}: runs an inline node script`);
  return entrypoint[2]!;
}

const DEMO_ORIGINS = names.filter((n) => services[n]!.environment?.DEMO_CUSTOMER !== undefined);

test('the demo origin script serves each customer, one behind Basic Auth', async (t) => {
  const script = inlineScript(DEMO_ORIGINS[0]!);
  const required = /require\('\/app\/dist\/(src\/[\w/-]+)\.js'\)/.exec(script)?.[1];
  assert.ok(required !== undefined && existsSync(path.join(ROOT, `${required}.ts`)), `the demo origin script requires ${required}, which has no source file`);
  for (const name of DEMO_ORIGINS) assert.equal(inlineScript(name), script, `${name} runs the same script`);
  const usedVars = new Set([...script.matchAll(/env\.(DEMO_[A-Z_]+)/g)].map((m) => m[1]!));
  for (const name of DEMO_ORIGINS) {
    for (const k of Object.keys(services[name]!.environment!)) assert.ok(usedVars.has(k), `${name}: ${k} is not read by the script`);
  }
  const withAuth = DEMO_ORIGINS.filter((n) => services[n]!.environment!.DEMO_ORIGIN_USERNAME !== undefined);
  assert.equal(withAuth.length, 1, 'exactly one demo origin is behind Basic Auth');

  // Run it for real, from the sources, as the Basic Auth origin on a free port.
  const env: Record<string, string> = { ...services[withAuth[0]!]!.environment!, DEMO_ORIGIN_PORT: '0' };
  const child = spawn(process.execPath, ['--require', '@swc-node/register', '-e', script.replace(`/app/dist/${required}.js`, path.join(ROOT, `${required}.ts`))], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGTERM'));
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('the demo origin script printed nothing within 15 s')), 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) {
        clearTimeout(timer);
        resolve(buf.slice(0, buf.indexOf('\n')));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo origin script exited (${code}) before it listened`));
    });
  });
  const started = JSON.parse(line) as { port: number; customer: string; basicAuth: boolean };
  assert.deepEqual([started.customer, started.basicAuth], [env.DEMO_CUSTOMER, true]);
  const url = `http://127.0.0.1:${started.port}/test.json`;
  assert.equal((await fetch(url)).status, 401, 'without credentials');
  const auth = `Basic ${Buffer.from(`${env.DEMO_ORIGIN_USERNAME}:${env.DEMO_ORIGIN_PASSWORD}`).toString('base64')}`;
  const ok = await fetch(url, { headers: { authorization: auth } });
  assert.equal(ok.status, 200);
  assert.match(ok.headers.get('cache-control') ?? '', /max-age=3600/);
  assert.equal(((await ok.json()) as { customer: string }).customer, env.DEMO_CUSTOMER);
});

test('the seed creates one customer per demo origin through valid GraphQL', () => {
  const script = inlineScript('seed');
  assert.doesNotThrow(() => new vm.Script(script), 'the seed script is valid JavaScript');
  const schema = buildSchema(read('schema/schema.graphql'));
  const documents = [...script.matchAll(/'((?:query|mutation)\b[^']*)'/g)].map((m) => m[1]!);
  assert.ok(documents.length >= 2, 'a query to find a customer and a mutation to create one');
  const create = documents.map((d) => parse(d)).find((doc) => (doc.definitions[0] as OperationDefinitionNode).operation === 'mutation')!;
  for (const doc of documents) assert.deepEqual(validate(schema, parse(doc)).map((e) => e.message), [], doc);

  const env = services.seed!.environment!;
  const api = new URL(env.SEED_API_URL!);
  assert.equal(Number(api.port), apiDefaults.port);
  assert.equal(api.hostname, LOAD_BALANCER, 'SEED_API_URL names the api load balancer, as any client does');
  for (const name of withRole('api')) assert.equal(env.SEED_TOKEN, services[name]!.environment!.CDN_ADMIN_TOKEN, `the seed uses the admin token of ${name}`);
  const customers = JSON.parse(env.SEED_CUSTOMERS!) as { id: string; originUrl: string; basicAuth?: { username: string; password: string } }[];
  const createOp = create.definitions[0] as OperationDefinitionNode;
  for (const customer of customers) {
    const coerced = getVariableValues(schema, createOp.variableDefinitions ?? [], { input: customer });
    assert.deepEqual(coerced.errors?.map((e) => e.message) ?? [], [], `${customer.id}: not a valid CreateCustomerInput`);
    const origin = new URL(customer.originUrl);
    const service = services[origin.hostname];
    assert.ok(service?.environment?.DEMO_CUSTOMER === customer.id, `${customer.id}: ${origin.hostname} is not its demo origin`);
    assert.equal(origin.port, service.environment.DEMO_ORIGIN_PORT, `${customer.id}: the origin listens on ${service.environment.DEMO_ORIGIN_PORT}`);
    const auth = service.environment.DEMO_ORIGIN_USERNAME === undefined ? undefined : { username: service.environment.DEMO_ORIGIN_USERNAME, password: service.environment.DEMO_ORIGIN_PASSWORD };
    assert.deepEqual(customer.basicAuth, auth, `${customer.id}: Basic Auth must match its origin's`);
    assert.ok(services.seed!.depends_on?.[origin.hostname], `the seed waits for ${origin.hostname}`);
  }
  assert.deepEqual(customers.map((c) => c.id).sort(), DEMO_ORIGINS.map((n) => services[n]!.environment!.DEMO_CUSTOMER).sort());
  assert.equal(services.seed!.depends_on?.[LOAD_BALANCER]?.condition, 'service_healthy', 'the seed waits for the balancer to reach a ready api');
  assert.ok(apiAllowsPrivateOrigins(), 'the api must allow private origins: the demo origins are containers on a private network');
});

const LOAD_BALANCER = 'api-lb';
const NGINX_CONF = 'deploy/lb/nginx.conf';

/**
 * deploy/lb/nginx.conf without comments, as directives: `name args...` for each statement,
 * with the enclosing blocks' names, e.g. { block: 'http/upstream edgeplane_api', name: 'server', args: [...] }.
 */
function nginxDirectives(text: string): Array<{ block: string; name: string; args: string[] }> {
  const out: Array<{ block: string; name: string; args: string[] }> = [];
  const stack: string[] = [];
  let words: string[] = [];
  const tokens = text.replace(/#[^\n]*/g, ' ').match(/"(?:[^"\\]|\\.)*"|'[^']*'|[{};]|[^\s{};]+/g) ?? [];
  for (const token of tokens) {
    if (token === ';') {
      if (words.length > 0) out.push({ block: stack.join('/'), name: words[0]!, args: words.slice(1) });
      words = [];
    } else if (token === '{') {
      stack.push(words.join(' '));
      words = [];
    } else if (token === '}') {
      assert.deepEqual(words, [], `${NGINX_CONF}: a statement without ";" before "}"`);
      assert.ok(stack.pop() !== undefined, `${NGINX_CONF}: unbalanced "}"`);
    } else words.push(token);
  }
  assert.deepEqual(stack, [], `${NGINX_CONF}: unclosed block`);
  return out;
}

/** Seconds of an nginx time (`90`, `90s`, `5m`, `1h`). */
function nginxSeconds(value: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value);
  assert.ok(m, `not an nginx time: ${value}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 'ms']!;
}

test('the api load balancer: one address (port 4000) for every api replica, WebSocket upgrades included, failing over', () => {
  const lb = services[LOAD_BALANCER]!;
  assert.ok(lb, `docker-compose.yaml has no service ${LOAD_BALANCER}`);
  const version = /^nginx:(\d+)\.(\d+)(?:\.(\d+))?-alpine$/.exec(lb.image ?? '');
  assert.ok(version, `${LOAD_BALANCER}: an official nginx alpine image with a pinned version, got ${lb.image}`);
  const [major, minor, patch] = [Number(version[1]), Number(version[2]), Number(version[3] ?? 99)];
  assert.ok(major > 1 || minor > 27 || (minor === 27 && patch >= 3), `${LOAD_BALANCER}: \`server ... resolve\` needs nginx 1.27.3 or later, got ${lb.image}`);
  assert.deepEqual(lb.volumes, [`./${NGINX_CONF}:/etc/nginx/conf.d/default.conf:ro`], 'the config replaces the image\'s default server');
  const published = (lb.ports ?? []).map(parsePort);
  assert.deepEqual(published.map((p) => [p.ip, p.host, p.container]), [[undefined, apiDefaults.port, apiDefaults.port]], 'the api\'s one public address is the balancer on :4000');
  assert.deepEqual(Object.keys(lb.depends_on ?? {}).sort(), withRole('api').sort(), 'the balancer starts with the replicas');
  assert.ok(Object.values(lb.depends_on ?? {}).every((d) => d.condition === 'service_started'), 'not service_healthy: one api that cannot start must not keep the balancer down');
  assert.match(lb.healthcheck!.test.join(' '), new RegExp(`127\\.0\\.0\\.1:${apiDefaults.port}/readyz`), 'healthy while it reaches a ready api');

  const conf = nginxDirectives(read(NGINX_CONF));
  const find = (name: string, block?: RegExp) => conf.filter((d) => d.name === name && (block === undefined || block.test(d.block)));
  const one = (name: string, block?: RegExp): string[] => {
    const found = find(name, block);
    assert.equal(found.length, 1, `${NGINX_CONF}: one ${name}${block ? ` in ${block}` : ''}, found ${found.length}`);
    return found[0]!.args;
  };
  assert.deepEqual(one('listen'), [String(apiDefaults.port)], 'nginx listens on the port compose publishes');
  const upstream = one('proxy_pass', /(^|\/)location \/$/)[0]!.replace(/^http:\/\//, '');
  const servers = find('server', new RegExp(`^upstream ${upstream}$`));
  assert.deepEqual(servers.map((d) => d.args[0]).sort(), withRole('api').map((n) => `${n}:${apiDefaults.port}`).sort(), `upstream ${upstream} lists every api replica on CDN_API_PORT`);
  for (const { args } of servers) {
    assert.ok(args.includes('resolve'), `${args[0]}: resolve, so nginx starts and recovers while a replica's container is gone`);
    assert.ok(args.some((a) => /^max_fails=[1-9]/.test(a)) && args.some((a) => /^fail_timeout=/.test(a)), `${args[0]}: a passive health check (max_fails, fail_timeout)`);
  }
  assert.ok(find('zone', new RegExp(`^upstream ${upstream}$`)).length === 1, 'resolve needs the upstream in a shared memory zone');
  assert.equal(one('resolver')[0], '127.0.0.11', 'Docker\'s embedded DNS resolves the replicas');

  // WebSockets: HTTP/1.1 upstream, Upgrade passed on, Connection from a map of $http_upgrade.
  const location = /(^|\/)location \/$/;
  assert.deepEqual(one('proxy_http_version', location), ['1.1']);
  const headers = new Map(find('proxy_set_header', location).map((d) => [d.args[0]!.toLowerCase(), d.args[1]!]));
  assert.equal(headers.get('upgrade'), '$http_upgrade');
  const connection = headers.get('connection')!;
  const mapped = new Map(conf.filter((d) => d.block === `map $http_upgrade ${connection}`).map((d) => [d.name, d.args[0]]));
  assert.equal(mapped.get('default'), 'upgrade', `Connection comes from a map of $http_upgrade that gives "upgrade" for an upgrade, got ${connection}`);
  // Subscriptions: graphql-ws pings every 12 s; the read timeout must outlast that by far.
  assert.ok(nginxSeconds(one('proxy_read_timeout', location)[0]!) >= 600, 'a long proxy_read_timeout for subscriptions');
  // Failing over: a refused connection or a draining api's 503 goes to the other replica.
  const nextUpstream = one('proxy_next_upstream', location);
  for (const cause of ['error', 'http_503']) assert.ok(nextUpstream.includes(cause), `proxy_next_upstream ${cause}`);
  assert.ok(!nextUpstream.includes('non_idempotent'), 'never resend a mutation that reached a replica');
  assert.ok(Number(one('proxy_next_upstream_tries', location)[0]) >= 2);
  assert.ok(nginxSeconds(one('proxy_connect_timeout', location)[0]!) <= 5, 'a replica that is gone is given up on quickly');
  assert.equal(find('keepalive', new RegExp(`^upstream ${upstream}$`)).length, 0, 'no upstream keepalive: a draining api is skipped at connect time');
});

function apiAllowsPrivateOrigins(): boolean {
  return withRole('api').every((n) => loadApiConfig({ ...imageEnv, ...services[n]!.environment }, '/app').allowPrivateOrigins)
    && withRole('edge').every((n) => loadEdgeConfig({ ...imageEnv, ...services[n]!.environment }, '/app').allowPrivateOrigins);
}

test('the interpolation check catches what compose would mangle', () => {
  assert.equal(interpolate('a ${X:-d} $$id ${Y-e}', 't'), 'a d $id e');
  assert.throws(() => interpolate('query($id: ID!)', 't'), /write \$\$/);
  assert.throws(() => interpolate('${SECRET}', 't'), /has no default/);
});
