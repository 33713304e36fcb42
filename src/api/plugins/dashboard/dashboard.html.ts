/**
 * The dashboard's HTML document and style sheet. The charts are declared once here (which
 * CacheStats fields, in which unit); the script finds them by their data attributes, so
 * adding a chart is one entry below.
 */

interface ChartSpec {
  id: string;
  title: string;
  /** How the script formats values: rate (per second), ratio (percent), bytes (per second), ms. */
  format: 'rate' | 'ratio' | 'bytes' | 'ms';
  /** CacheStats fields drawn, one line each. */
  series: Array<{ key: string; label: string }>;
}

const CHARTS: readonly ChartSpec[] = [
  { id: 'rps', title: 'Requests per second', format: 'rate', series: [{ key: 'requestsPerSecond', label: 'requests/s' }] },
  { id: 'hit', title: 'Hit ratio', format: 'ratio', series: [{ key: 'hitRatio', label: 'hits' }] },
  { id: 'bw', title: 'Bandwidth', format: 'bytes', series: [{ key: 'bytesPerSecond', label: 'sent' }] },
  {
    id: 'latency',
    title: 'Origin latency',
    format: 'ms',
    series: [
      { key: 'originP50Ms', label: 'p50' },
      { key: 'originP95Ms', label: 'p95' },
    ],
  },
];

/** Hashed into the page's Content-Security-Policy, so it must be byte-identical to what is inlined. */
export const DASHBOARD_STYLE = `
:root { --fg:#1d2330; --muted:#5b6475; --bg:#f5f6f8; --card:#fff; --line:#dde1e8; --s0:#2563eb; --s1:#d97706; --bad:#b42318; --ok:#067647; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 16px; padding: 10px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 15px; margin: 0 0 8px; }
#conn { margin: 0 0 0 auto; color: var(--muted); }
#conn[data-state=live] { color: var(--ok); }
#conn[data-state=error], #conn[data-state=reconnecting] { color: var(--bad); }
#alert { margin: 12px 20px 0; padding: 10px 14px; border: 1px solid var(--bad); border-radius: 6px; background: #fef3f2; color: var(--bad); white-space: pre-line; }
form, .bar { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; padding: 12px 20px; }
.bar { padding: 12px 0 0; }
input, select, button { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 5px; background: var(--card); color: var(--fg); }
input { min-width: 22em; }
button { cursor: pointer; }
small, .muted { color: var(--muted); }
main { padding: 0 20px 20px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin-top: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); gap: 12px; }
figure { margin: 0; }
figcaption { font-weight: 600; }
.values { display: flex; gap: 14px; margin: 2px 0 4px; }
.v { font-variant-numeric: tabular-nums; }
.sw { display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; }
.s0 { background: var(--s0); } .s1 { background: var(--s1); }
canvas { width: 100%; height: 120px; display: block; border-bottom: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.n, th.n { text-align: right; }
dl { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 6px 16px; margin: 0 0 10px; }
dt { color: var(--muted); } dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
.pending { color: var(--s1); } .done { color: var(--ok); } .pre { white-space: pre-line; }
.state-firing { color: var(--bad); font-weight: 600; } .state-pending { color: var(--s1); } .state-ok { color: var(--ok); }
`;

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function chartHtml(c: ChartSpec): string {
  const values = c.series
    .map((s, i) => `<span><span class="sw s${i}" aria-hidden="true"></span>${esc(s.label)} <b class="v" data-key="${esc(s.key)}" data-value="">–</b></span>`)
    .join('');
  return `<figure class="chart" id="chart-${esc(c.id)}" data-format="${c.format}" data-points="0">
<figcaption id="chart-${esc(c.id)}-title">${esc(c.title)}</figcaption>
<div class="values" aria-live="off">${values}</div>
<canvas role="img" aria-label="${esc(c.title)}: no data yet"></canvas>
</figure>`;
}

function table(id: string, caption: string, headers: string[], numeric: number): string {
  const ths = headers.map((h, i) => `<th scope="col"${i >= headers.length - numeric ? ' class="n"' : ''}>${esc(h)}</th>`).join('');
  return `<table id="${id}"><caption class="muted">${esc(caption)}</caption><thead><tr>${ths}</tr></thead><tbody></tbody></table>`;
}

export function dashboardHtml(options: { graphqlPath: string; scripts: string[] }): string {
  const scripts = options.scripts.map((src) => `<script src="${esc(src)}"></script>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Edgeplane dashboard</title>
<link rel="icon" href="data:,">
<style>${DASHBOARD_STYLE}</style>
</head>
<body data-graphql-path="${esc(options.graphqlPath)}">
<header><h1>Edgeplane dashboard</h1><p id="conn" role="status" data-state="idle">Not connected</p></header>
<div id="alert" role="alert" hidden></div>
<form id="login">
<label for="token">Api token</label>
<input id="token" name="token" type="password" autocomplete="off" required placeholder="CDN_ADMIN_TOKEN (cdn start prints it)">
<button type="submit">Connect</button>
<small>Kept in this browser tab only (sessionStorage).</small>
</form>
<main id="main" hidden>
<div class="bar">
<label for="customer">Customer</label>
<select id="customer"></select>
<span id="customer-note" class="muted"></span>
<button id="logout" type="button">Forget token</button>
</div>
<section aria-labelledby="h-traffic">
<h2 id="h-traffic">Traffic, last 5 minutes, every second, summed over all edges</h2>
<p>Requests in these 5 minutes: <b id="requests-total" class="v" data-value="0">0</b></p>
<div class="charts">
${CHARTS.map(chartHtml).join('\n')}
</div>
</section>
<section aria-labelledby="h-edges">
<h2 id="h-edges">Per edge</h2>
${table('edges', 'The customer\'s traffic in the last second, per edge process', ['Edge', 'Requests/s', 'Hit ratio', 'Bandwidth', 'Origin p50', 'Origin p95', 'Errors'], 6)}
</section>
<section id="fleet-section" aria-labelledby="h-fleet">
<h2 id="h-fleet">Fleet, all customers</h2>
<dl id="fleet">
<div><dt>Requests/s</dt><dd data-key="requestsPerSecond">–</dd></div>
<div><dt>Hit ratio</dt><dd data-key="hitRatio">–</dd></div>
<div><dt>Bandwidth</dt><dd data-key="bytesPerSecond">–</dd></div>
<div><dt>Origin p95</dt><dd data-key="originP95Ms">–</dd></div>
<div><dt>Errors</dt><dd data-key="errorRatio">–</dd></div>
<div><dt>Active customers</dt><dd data-key="activeCustomers">–</dd></div>
<div><dt>Edges with traffic</dt><dd data-key="edges">–</dd></div>
</dl>
${table('top', 'Top customers by requests in the last second', ['Customer', 'Requests/s', 'Hit ratio', 'Bandwidth'], 3)}
</section>
<section aria-labelledby="h-alerts">
<h2 id="h-alerts">Alerts</h2>
${table('alerts', 'The customer\'s alert rules, firing ones first; updates live as they change state', ['Rule', 'Kind', 'State', 'Since', 'Value', 'Threshold'], 2)}
</section>
<section aria-labelledby="h-origins">
<h2 id="h-origins">Origin health</h2>
${table('origins', 'The customer\'s origins on the live edge processes; updates live as an edge takes one down or back up', ['Origin', 'URL', 'Edges up', 'Edges down', 'Down on'], 0)}
</section>
<section aria-labelledby="h-purges">
<h2 id="h-purges">Recent purges</h2>
${table('purges', 'The customer\'s last purges, newest first; pending ones update live as edges apply them', ['Requested', 'Kind', 'Value', 'Status', 'Edges'], 0)}
</section>
</main>
${scripts}
</body>
</html>
`;
}
