#!/usr/bin/env node
// `npm run bench:scrape`: how long one /metrics scrape of an edge takes with many customers
// (the issue: 10,000 customers must not make a scrape slower than a second).
//
// Builds the edge's real metrics registry (src/edge/edge.metrics.ts, through the same
// CustomerMeter calls the request path makes) with realistic per-customer series: several
// cache results and status classes, the origin latency histogram, some origin errors,
// collapsed requests and evictions, and the stored objects/bytes gauges filled at collect
// time. Then times the single-process scrape (registry.metrics()) and, for a cluster, what
// the primary does: prom-client's AggregatorRegistry over the workers' small registries,
// plus the workers' per-customer rows (serialised and parsed as IPC would), summed and
// rendered (edge/cluster/edge.primary.ts). Medians of several runs, wall-clock and this
// process's CPU time (wall time suffers when the machine is busy). Asserts nothing.
'use strict';
process.env.SWC_NODE_PROJECT ??= require('node:path').resolve(__dirname, '..', 'tsconfig.json');
require('@swc-node/register');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { AggregatorRegistry } = require('prom-client');
const { EDGE_METRICS, EdgeMetrics } = require('../src/edge/edge.metrics.ts');
const { maxStored, renderCustomerFamilies, sumRows } = require('../src/edge/stats/customer.series.ts');

const HELP = `Usage: npm run bench:scrape [-- options]

  --customers <n>   customers with traffic (default 10000)
  --runs <n>        scrapes timed, the median is reported (default 7)
  --workers <n>     cluster workers whose registries the primary aggregates (default 2)
`;

function options(argv) {
  const o = { customers: 10_000, runs: 7, workers: 2 };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      process.exit(0);
    }
    const key = a.replace(/^--/, '');
    if (!(key in o) || argv[i + 1] === undefined) {
      process.stderr.write(`unknown or incomplete option ${a}\n\n${HELP}`);
      process.exit(2);
    }
    const n = Number(argv[(i += 1)]);
    if (!Number.isInteger(n) || n < 1) {
      process.stderr.write(`${a} needs a whole number of at least 1, got ${argv[i]}\n`);
      process.exit(2);
    }
    o[key] = n;
  }
  return o;
}

/** One edge process's registry after traffic from `customers` customers. */
function edgeRegistry(customers) {
  const stored = {};
  for (let i = 0; i < customers; i += 1) stored[`customer-${i}`] = { objects: 100 + i, bytes: 1_000_000 + i };
  const metrics = new EdgeMetrics({
    appliedSeq: () => 42,
    customers: () => customers,
    busLag: () => 0,
    lurkerBacklog: () => 3,
    cacheStats: () => ({ objects: 0, bytes: 0, customers: stored, evictions: { quota: 0, capacity: 0, memory: 0 } }),
  });
  for (let i = 0; i < customers; i += 1) {
    const meter = metrics.meter(`customer-${i}`);
    meter.answered('HIT', 200, 1024);
    meter.answered('HIT', 304, 0);
    meter.answered('MISS', 200, 4096);
    meter.answered('MISS', 404, 90);
    meter.answered('STALE', 200, 1024);
    meter.answered('BYPASS', 200, 512);
    if (i % 5 === 0) meter.answered('MISS', 502, 80);
    for (const ms of [3, 12, 48, 230]) meter.originResponse(ms, 200);
    if (i % 10 === 0) meter.originFailure('timeout');
    if (i % 2 === 0) meter.collapsedRequest();
    if (i % 10 === 0) metrics.evicted(`customer-${i}`);
  }
  for (let i = 0; i < 20; i += 1) metrics.purgeApply.observe(0.01 * i);
  return metrics;
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time(runs, fn) {
  await fn(); // warm-up
  const ms = [];
  const cpu = [];
  let out;
  for (let i = 0; i < runs; i += 1) {
    const started = process.hrtime.bigint();
    const cpuStarted = process.cpuUsage();
    out = await fn();
    const used = process.cpuUsage(cpuStarted);
    cpu.push((used.user + used.system) / 1000);
    ms.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return { median: median(ms), min: Math.min(...ms), max: Math.max(...ms), cpu: median(cpu), out };
}

async function main() {
  const o = options(process.argv.slice(2));
  const built = process.hrtime.bigint();
  const registry = edgeRegistry(o.customers).registry;
  const buildMs = Number(process.hrtime.bigint() - built) / 1e6;

  // A single-process edge scrapes on the loop that serves requests: how long is its longest stall?
  await registry.metrics(); // warm-up (JIT) outside the stall measurement
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const single = await time(o.runs, () => registry.metrics());
  delay.disable();
  const stallMs = delay.max / 1e6;
  const text = single.out;
  const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;

  // The cluster primary. Workers' own work (their JSON, their rows) is counted too, as if
  // this one process did it all: an upper bound of the scrape's cost.
  const workers = Array.from({ length: o.workers }, () => edgeRegistry(o.customers));
  const cluster = await time(o.runs, async () => {
    const parts = await Promise.all(workers.map((w) => w.registry.getMetricsAsJSON()));
    const series = workers.map((w) => JSON.parse(JSON.stringify(w.customerSeries())));
    const families = await renderCustomerFamilies(EDGE_METRICS, sumRows(series.map((s) => s.rows)), maxStored(series.map((s) => s.stored)));
    return `${(await AggregatorRegistry.aggregate(parts).metrics()).trimEnd()}\n\n${families}`;
  });

  const fmt = (t) => `median ${t.median.toFixed(1)} ms wall, ${t.cpu.toFixed(1)} ms CPU (wall min ${t.min.toFixed(1)}, max ${t.max.toFixed(1)})`;
  process.stdout.write(
    [
      `customers            ${o.customers}`,
      `series               ${series} (${(Buffer.byteLength(text) / 1024 / 1024).toFixed(1)} MiB of text)`,
      `registry built in    ${buildMs.toFixed(0)} ms`,
      `scrape, one process  ${fmt(single)} over ${o.runs} runs`,
      `  longest event-loop stall during those scrapes: ${stallMs.toFixed(1)} ms`,
      `scrape, primary of ${o.workers} workers  ${fmt(cluster)} (collect + aggregate + render)`,
      `target               < 1000 ms: ${single.cpu < 1000 && cluster.cpu < 1000 ? 'met' : 'NOT met'} (by CPU time)`,
      '',
    ].join('\n'),
  );
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
