/**
 * grafana/: every PromQL query of the dashboard names a metric the code declares (in the
 * edge's and the api's catalogs, or an explicitly allowed default), the panels the plan asks
 * for are there, Prometheus scrapes the ports the config defaults say, and the provisioning
 * files point at files that exist once docker-compose.yaml mounts them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { loadApiConfig } from '../../src/api/config';
import { apiMetricCatalog } from '../../src/api/plugins/metrics.catalog';
import { loadEdgeConfig } from '../../src/edge/config';
import { EDGE_METRICS, EDGE_PRIMARY_METRICS } from '../../src/edge/edge.metrics';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');
const yamlFile = (file: string): any => parseYaml(read(file), { merge: true });

/** Metrics Prometheus makes itself for every target. */
const PROMETHEUS_SYNTHETIC = ['up'];
/** prom-client's default metrics a query may use (both roles call collectDefaultMetrics). */
const PROM_CLIENT_DEFAULTS_ALLOWED = ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes'];
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

function catalogNames(): Map<string, string> {
  const names = new Map<string, string>();
  for (const [catalog, entries] of [
    ['EDGE_METRICS (src/edge/edge.metrics.ts)', EDGE_METRICS],
    ['EDGE_PRIMARY_METRICS (src/edge/edge.metrics.ts)', EDGE_PRIMARY_METRICS],
    ['apiMetricCatalog (src/api/plugins/metrics.catalog.ts)', apiMetricCatalog],
  ] as const) {
    for (const entry of Object.values(entries as Record<string, { name: string }>)) names.set(entry.name, catalog);
  }
  for (const name of [...PROMETHEUS_SYNTHETIC, ...PROM_CLIENT_DEFAULTS_ALLOWED]) names.set(name, 'allowed default');
  return names;
}

const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects. A small tokenizer rather than a full parser:
 * strings, label matchers `{...}`, ranges `[...]`, `offset <d>` and the label lists of
 * by/without/on/ignoring/group_* are removed; what is left are numbers, operators, function
 * and aggregation names (followed by `(`), keywords and metric names.
 */
function metricNamesIn(expr: string): string[] {
  const balanced = (open: string, close: string): boolean => {
    let depth = 0;
    for (const ch of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
      if (ch === open) depth += 1;
      if (ch === close) depth -= 1;
      if (depth < 0) return false;
    }
    return depth === 0;
  };
  for (const [open, close] of [['(', ')'], ['{', '}'], ['[', ']']] as const) {
    if (!balanced(open, close)) throw new Error(`unbalanced ${open}${close} in: ${expr}`);
  }
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^{}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\boffset\s+-?[0-9a-z$_]+/gi, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g, ' ');
  const names: string[] = [];
  const token = /(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(\$[A-Za-z_]\w*)|([A-Za-z_:][\w:]*)(\s*\()?/g;
  for (const m of s.matchAll(token)) {
    const [, number, variable, ident, call] = m;
    if (number !== undefined || variable !== undefined || ident === undefined || call !== undefined) continue;
    if (PROMQL_KEYWORDS.has(ident.toLowerCase())) continue;
    names.push(ident);
  }
  return names;
}

/** `name`, or the histogram it is a series of (`x_bucket` -> `x`), when that is declared. */
function declaredName(name: string, declared: Map<string, string>): string | undefined {
  if (declared.has(name)) return name;
  const suffix = HISTOGRAM_SUFFIXES.find((s) => name.endsWith(s));
  if (suffix === undefined) return undefined;
  const base = name.slice(0, -suffix.length);
  return declared.has(base) ? base : undefined;
}

interface Query {
  where: string;
  expr: string;
}

function dashboardQueries(dashboard: any): Query[] {
  const queries: Query[] = [];
  for (const panel of dashboard.panels as any[]) {
    for (const target of panel.targets ?? []) queries.push({ where: `panel "${panel.title}" target ${target.refId}`, expr: target.expr });
  }
  for (const variable of dashboard.templating?.list ?? []) {
    const q = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    const m = /^label_values\(\s*(.+?)\s*,\s*\w+\s*\)$/.exec(q ?? '');
    assert.ok(m, `variable "${variable.name}": expected label_values(<metric>, <label>), got ${JSON.stringify(q)}`);
    queries.push({ where: `variable "${variable.name}"`, expr: m[1]! });
  }
  return queries;
}

const DASHBOARD_DIR = 'grafana/dashboards';
const dashboards = readdirSync(path.join(ROOT, DASHBOARD_DIR))
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: `${DASHBOARD_DIR}/${f}`, json: JSON.parse(read(`${DASHBOARD_DIR}/${f}`)) as any }));

test('the PromQL tokenizer finds metric names and only them', () => {
  assert.deepEqual(
    metricNamesIn('histogram_quantile(0.95, sum by (customer, le) (rate(a_seconds_bucket{customer=~"$customer", x="b_total"}[$__rate_interval]))) / on(instance) group_left(job) b_total offset 5m'),
    ['a_seconds_bucket', 'b_total'],
  );
  assert.deepEqual(metricNamesIn('count(sum by (customer) (rate(c_total[5m])) > 0) or vector(1e3)'), ['c_total']);
  assert.throws(() => metricNamesIn('sum(rate(c_total[5m])'), /unbalanced/);
});

test('prom-client defaults allowed in queries really are prom-client defaults', async () => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const defaults = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
  assert.deepEqual(PROM_CLIENT_DEFAULTS_ALLOWED.filter((n) => !defaults.has(n)), [], 'not among prom-client default metrics');
});

test('every metric a dashboard query names is declared in a metric catalog of the code', () => {
  assert.ok(dashboards.length > 0, `no dashboard JSON in ${DASHBOARD_DIR}`);
  const declared = catalogNames();
  const missing: string[] = [];
  for (const { file, json } of dashboards) {
    for (const q of dashboardQueries(json)) {
      const names = metricNamesIn(q.expr);
      assert.ok(names.length > 0, `${file} ${q.where}: no metric name found in ${q.expr}`);
      for (const name of names) {
        if (declaredName(name, declared) === undefined) missing.push(`${name} (${file}, ${q.where})`);
      }
    }
  }
  assert.deepEqual(missing, [], `metrics queried by a dashboard but declared in no catalog (EDGE_METRICS, EDGE_PRIMARY_METRICS, apiMetricCatalog): ${missing.join('; ')}`);
});

test('the dashboard has the panels of the plan, each querying the metric it is about', () => {
  const { json } = dashboards.find((d) => d.file.endsWith('edgeplane.json'))!;
  const byTitle = (pattern: RegExp): any => {
    const panel = (json.panels as any[]).find((p) => pattern.test(p.title));
    assert.ok(panel, `no panel titled like ${pattern}`);
    return panel;
  };
  const uses = (panel: any, metric: string, perCustomer: boolean): void => {
    const exprs = (panel.targets as any[]).map((t) => t.expr as string);
    assert.ok(exprs.some((e) => metricNamesIn(e).some((n) => n === metric || n === `${metric}_bucket`)), `panel "${panel.title}" does not query ${metric}`);
    if (perCustomer) assert.ok(exprs.some((e) => /by \([^)]*customer/.test(e)), `panel "${panel.title}" is not broken down by customer`);
  };
  uses(byTitle(/^request rate per customer/i), 'cdn_edge_requests_total', true);
  uses(byTitle(/^cache hit ratio per customer/i), 'cdn_edge_requests_total', true);
  uses(byTitle(/^bandwidth per customer/i), 'cdn_edge_response_bytes_total', true);
  uses(byTitle(/^top customers by traffic/i), 'cdn_edge_requests_total', true);
  uses(byTitle(/^origin response time p95 per customer/i), 'cdn_edge_origin_request_duration_seconds', true);
  uses(byTitle(/^active customers/i), 'cdn_edge_requests_total', true);
  uses(byTitle(/^purge lag/i), 'cdn_edge_purge_lag_seconds', false);
  uses(byTitle(/^bus lag/i), 'cdn_edge_bus_lag_seq', false);
  const ids = (json.panels as any[]).map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids must be unique');
});

test('every panel and query uses the provisioned Prometheus datasource', () => {
  const provisioned = yamlFile('grafana/provisioning/datasources/prometheus.yaml');
  const uids = new Set((provisioned.datasources as any[]).map((d) => d.uid));
  for (const { file, json } of dashboards) {
    for (const panel of json.panels as any[]) {
      for (const ds of [panel.datasource, ...(panel.targets ?? []).map((t: any) => t.datasource)]) {
        assert.ok(uids.has(ds?.uid), `${file} panel "${panel.title}": datasource ${JSON.stringify(ds)} is not one provisioned (${[...uids].join(', ')})`);
      }
    }
  }
});

test('prometheus.yml scrapes the api and every edge of the compose stack on the ports the config defaults say', () => {
  const secrets = { CDN_ADMIN_TOKEN: 'a'.repeat(16), CDN_SECRET_KEY: 's'.repeat(32) };
  const apiPort = loadApiConfig(secrets).port;
  const edgeAdminPort = loadEdgeConfig(secrets).adminPort;
  const prometheus = yamlFile('grafana/prometheus.yml');
  const compose = yamlFile('docker-compose.yaml');
  const services = compose.services as Record<string, any>;
  const targets = new Map<string, string[]>();
  for (const job of prometheus.scrape_configs as any[]) {
    assert.equal(job.metrics_path ?? '/metrics', '/metrics', `job ${job.job_name}: the roles serve /metrics`);
    targets.set(job.job_name, (job.static_configs as any[]).flatMap((c) => c.targets as string[]));
  }
  const role = (name: string): string | undefined => (Array.isArray(services[name]?.command) ? services[name].command[0] : undefined);
  const expected = (cmd: string): string[] => Object.keys(services).filter((name) => role(name) === cmd).sort();
  const hosts = (job: string): string[] => (targets.get(job) ?? []).map((t) => t.split(':')[0]!).sort();
  assert.deepEqual(hosts('api'), expected('api'), 'job api must scrape every compose service running `cdn api`');
  assert.deepEqual(hosts('edge'), expected('edge'), 'job edge must scrape every compose service running `cdn edge`');
  assert.ok(expected('edge').length >= 2, 'the compose stack has two edges');
  for (const t of targets.get('api')!) assert.equal(Number(t.split(':')[1]), apiPort, `api target ${t}: CDN_API_PORT defaults to ${apiPort}`);
  for (const t of targets.get('edge')!) {
    assert.equal(Number(t.split(':')[1]), edgeAdminPort, `edge target ${t}: /metrics is on the admin port, CDN_EDGE_ADMIN_PORT (default ${edgeAdminPort})`);
  }
  const prometheusService = services.prometheus;
  assert.ok(prometheusService, 'docker-compose.yaml has a prometheus service');
  assert.ok(
    (prometheusService.volumes as string[]).some((v) => v.startsWith('./grafana/prometheus.yml:') && v.includes(':/etc/prometheus/prometheus.yml')),
    'the prometheus service mounts grafana/prometheus.yml as its configuration',
  );
});

test('the provisioning files reference files that exist once compose mounts them', () => {
  const compose = yamlFile('docker-compose.yaml');
  const grafana = compose.services.grafana;
  assert.ok(grafana, 'docker-compose.yaml has a grafana service');
  /** Container path -> repository path, from the grafana service's bind mounts. */
  const mounts = (grafana.volumes as string[])
    .map((v) => v.split(':'))
    .filter(([src]) => src!.startsWith('./'))
    .map(([src, dst]) => ({ src: path.normalize(src!), dst: dst! }));
  const inRepo = (containerPath: string): string | undefined => {
    const mount = mounts.find((m) => containerPath === m.dst || containerPath.startsWith(`${m.dst}/`));
    return mount === undefined ? undefined : path.join(mount.src, containerPath.slice(mount.dst.length));
  };
  assert.equal(inRepo('/etc/grafana/provisioning'), 'grafana/provisioning', 'grafana/provisioning is mounted at /etc/grafana/provisioning');

  const datasources = yamlFile('grafana/provisioning/datasources/prometheus.yaml');
  for (const ds of datasources.datasources as any[]) {
    const url = new URL(ds.url);
    assert.ok(compose.services[url.hostname], `datasource ${ds.name}: ${url.hostname} is not a compose service`);
    assert.ok((compose.services[url.hostname].ports as string[]).some((p) => p.endsWith(`:${url.port}`)), `datasource ${ds.name}: ${url.hostname} does not serve port ${url.port}`);
  }

  const providers = yamlFile('grafana/provisioning/dashboards/edgeplane.yaml');
  for (const provider of providers.providers as any[]) {
    assert.equal(provider.type, 'file');
    const folder = inRepo(provider.options.path);
    assert.ok(folder !== undefined, `provider ${provider.name}: ${provider.options.path} is not mounted from the repository`);
    assert.ok(existsSync(path.join(ROOT, folder)), `provider ${provider.name}: ${folder} does not exist`);
    assert.ok(readdirSync(path.join(ROOT, folder)).some((f) => f.endsWith('.json')), `provider ${provider.name}: no dashboard JSON in ${folder}`);
  }
  const home = grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
  if (home !== undefined) {
    const file = inRepo(home);
    assert.ok(file !== undefined && existsSync(path.join(ROOT, file)), `GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ${home} names no file of the repository`);
  }
});

test('grafana/alerts.yml: every rule names only declared metrics, is labelled and described, covers the customers\' alerts and the fleet; Prometheus loads it as compose mounts it', () => {
  const rules = yamlFile('grafana/alerts.yml');
  const declared = catalogNames();
  const all = (rules.groups as any[]).flatMap((g) => g.rules as any[]);
  assert.ok(all.length > 0, 'grafana/alerts.yml has no rule');
  const missing: string[] = [];
  for (const rule of all) {
    assert.match(rule.alert ?? '', /^[A-Z][A-Za-z0-9]+$/, `a rule without an alert name: ${JSON.stringify(rule)}`);
    const names = metricNamesIn(String(rule.expr));
    assert.ok(names.length > 0, `${rule.alert}: no metric name in ${rule.expr}`);
    for (const name of names) if (declaredName(name, declared) === undefined) missing.push(`${name} (${rule.alert})`);
    assert.ok(['warning', 'critical'].includes(rule.labels?.severity), `${rule.alert}: labels.severity must be warning or critical`);
    assert.ok(typeof rule.annotations?.summary === 'string' && rule.annotations.summary.length > 0, `${rule.alert}: no summary`);
  }
  assert.deepEqual(missing, [], `metrics named by an alert rule but declared in no catalog: ${missing.join('; ')}`);
  const uses = (metric: string) => all.some((r) => metricNamesIn(String(r.expr)).includes(metric));
  for (const metric of ['cdn_api_alert_firing', 'up', 'cdn_edge_origin_up', 'cdn_edge_bus_lag_seq']) assert.ok(uses(metric), `no alert rule on ${metric}`);

  const prometheus = yamlFile('grafana/prometheus.yml');
  const compose = yamlFile('docker-compose.yaml');
  const mounts = compose.services.prometheus.volumes as string[];
  for (const file of prometheus.rule_files as string[]) {
    assert.ok(
      mounts.some((v) => v.startsWith('./grafana/') && v.split(':')[1] === file && existsSync(path.join(ROOT, v.split(':')[0]!))),
      `rule file ${file} is not mounted from grafana/ by the prometheus service`,
    );
  }
  assert.ok((prometheus.rule_files as string[]).includes('/etc/prometheus/alerts.yml'), 'prometheus.yml does not load alerts.yml');
});
