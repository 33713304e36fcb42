/**
 * Browser ES module: the Overview page. The customer's traffic summed over every edge, from
 * `cacheStatsHistory` (the last 5 minutes) and then live from the `cacheStats` subscription
 * (one event per second, resumed after the last second seen, as the dashboard does):
 * requests, hit ratio, bandwidth, 5xx share, origin latency p50/p95, drawn by the dashboard's
 * charts (global EP, charts.js: each canvas an image whose label says the value now and the
 * peak), and the last second per edge. Values are not a live region (they change every second);
 * each carries data-value for tests.
 */
export const PORTAL_OVERVIEW_MODULE = String.raw`
import { registerPage, gql, subscribe, h, fmt, table, showError } from './portal-core.module';

var MINUTES = 5;
var STATS = 'at requests requestsPerSecond hitRatio bytesPerSecond errorRatio originP50Ms originP95Ms';
var HISTORY = 'query PortalHistory($customerId: ID!, $minutes: Int!) { cacheStatsHistory(customerId: $customerId, minutes: $minutes) { ' + STATS + ' } }';
var LIVE = 'subscription PortalCacheStats($customerId: ID!, $after: DateTimeISO) { cacheStats(customerId: $customerId, intervalSeconds: 1, after: $after) { ' + STATS +
  ' edges { edgeId requestsPerSecond hitRatio bytesPerSecond errorRatio originP95Ms } } }';

var CHARTS = [
  { id: 'rps', title: 'Requests per second', format: 'rate', series: [['requestsPerSecond', 'requests/s']] },
  { id: 'hit', title: 'Hit ratio', format: 'ratio', series: [['hitRatio', 'hits']] },
  { id: 'bw', title: 'Bandwidth', format: 'bytes', series: [['bytesPerSecond', 'sent']] },
  { id: 'err', title: 'Errors (5xx share)', format: 'ratio', series: [['errorRatio', '5xx']] },
  { id: 'latency', title: 'Origin latency', format: 'ms', series: [['originP50Ms', 'p50'], ['originP95Ms', 'p95']] },
];

/** The dashboard's chart markup (dashboard.html.ts), which its Chart (global EP, charts.js) reads: values by data-key, one canvas. */
function figure(c) {
  return h('figure', { class: 'chart', id: 'chart-' + c.id, dataset: { format: c.format, points: '0' } },
    h('figcaption', null, c.title),
    h('div', { class: 'values' }, c.series.map(function (s, i) {
      return h('span', null, h('span', { class: 'sw s' + i, 'aria-hidden': 'true' }), s[1] + ' ', h('b', { class: 'v', dataset: { key: s[0], value: '' } }, '–'));
    })),
    h('canvas', { role: 'img', 'aria-label': c.title + ': no data yet' }));
}

function render(root, ctx) {
  var errors = h('div');
  var state = h('p', { class: 'note', id: 'overview-state' }, 'Loading the last ' + MINUTES + ' minutes…');
  var figures = CHARTS.map(figure);
  var total = h('b', { id: 'requests-total', dataset: { value: '0' } }, '0');
  var edges = h('div');
  root.appendChild(h('p', { class: 'note' }, 'The last ' + MINUTES + ' minutes, every second, summed over every edge; live.'));
  root.appendChild(errors);
  root.appendChild(state);
  root.appendChild(h('p', null, 'Requests in the last ' + MINUTES + ' minutes: ', total));
  root.appendChild(h('div', { class: 'charts' }, figures));
  root.appendChild(h('h3', null, 'Per edge, last second'));
  root.appendChild(edges);
  var charts = figures.map(function (f) { return new EP.Chart(f, MINUTES * 60); });

  var perSecond = new Map();
  var stop = null, stopped = false, retry = 0, frame = 0;
  function put(s) {
    var t = Date.parse(s.at);
    charts.forEach(function (c) { c.put(t, s); });
    // Keyed by time, so a second seen twice (history, then live) counts once.
    perSecond.set(t, s.requests);
    perSecond.forEach(function (_n, at) { if (at <= t - MINUTES * 60000) perSecond.delete(at); });
    var sum = 0;
    perSecond.forEach(function (n) { sum += n; });
    total.dataset.value = String(sum);
    total.textContent = fmt('count', sum);
  }
  function draw() {
    if (frame) return;
    frame = requestAnimationFrame(function () { frame = 0; charts.forEach(function (c) { c.render(); }); });
  }
  window.addEventListener('resize', draw);
  function showEdges(list) {
    edges.textContent = '';
    edges.appendChild(table('Each edge process that served the customer in the last second', ['Edge', '#Requests/s', '#Hit ratio', '#Bandwidth', '#Errors', '#Origin p95'],
      list.slice().sort(function (a, b) { return a.edgeId < b.edgeId ? -1 : 1; }).map(function (e) {
        return [e.edgeId, fmt('rate', e.requestsPerSecond), fmt('ratio', e.hitRatio), fmt('bytes', e.bytesPerSecond), fmt('ratio', e.errorRatio), fmt('ms', e.originP95Ms)];
      }), 'No traffic on any edge in the last second.'));
  }
  showEdges([]);

  (async function () {
    var rows;
    try { rows = (await gql(HISTORY, { customerId: ctx.customerId, minutes: MINUTES })).cacheStatsHistory; } catch (err) { if (ctx.current()) { state.textContent = ''; showError(errors, err); } return; }
    if (!ctx.current()) return;
    rows.forEach(put);
    draw();
    state.textContent = 'Waiting for the live statistics…';
    // graphql-ws sends this object again when it reconnects: after is always the last second shown.
    var variables = { customerId: ctx.customerId, after: rows.length ? rows[rows.length - 1].at : new Date().toISOString() };
    var follow = function () {
      if (stopped) return;
      stop = subscribe(LIVE, variables, {
        next: function (d) {
          if (!ctx.current()) return;
          var s = d.cacheStats;
          variables.after = s.at;
          state.textContent = 'Live · last second ' + new Date(s.at).toLocaleTimeString('en-GB');
          state.dataset.live = 'true';
          put(s);
          draw();
          showEdges(s.edges);
        },
        error: function (err) { if (ctx.current()) showError(errors, err); },
        // The api never ends this stream by itself; should it, follow again.
        complete: function () { if (!stopped) retry = setTimeout(follow, 1000); },
      });
    };
    follow();
  })();
  return function () { stopped = true; clearTimeout(retry); cancelAnimationFrame(frame); window.removeEventListener('resize', draw); if (stop) stop(); };
}

registerPage({ id: 'overview', title: 'Overview', order: 10, needs: 'stats.read', render: render });
`;
