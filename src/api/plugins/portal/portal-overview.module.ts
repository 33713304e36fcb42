/**
 * Browser ES module: the Overview page. The customer's traffic summed over every edge, from
 * `cacheStatsHistory` (the last 5 minutes) and then live from the `cacheStats` subscription
 * (one event per second, resumed after the last second seen, as the dashboard does):
 * requests, hit ratio, bandwidth, 5xx share, origin latency p50/p95, and per edge.
 * Values are not a live region (they change every second); each carries data-value for tests.
 */
export const PORTAL_OVERVIEW_MODULE = String.raw`
import { registerPage, gql, subscribe, h, fmt, table, showError } from './portal-core.js';

var MINUTES = 5;
var STATS = 'at requests requestsPerSecond hitRatio bytesPerSecond errorRatio originP50Ms originP95Ms';
var HISTORY = 'query PortalHistory($customerId: ID!, $minutes: Int!) { cacheStatsHistory(customerId: $customerId, minutes: $minutes) { ' + STATS + ' } }';
var LIVE = 'subscription PortalCacheStats($customerId: ID!, $after: DateTimeISO) { cacheStats(customerId: $customerId, intervalSeconds: 1, after: $after) { ' + STATS +
  ' edges { edgeId requestsPerSecond hitRatio bytesPerSecond errorRatio originP95Ms } } }';

var CARDS = [
  { key: 'requestsPerSecond', label: 'Requests', kind: 'rate' },
  { key: 'hitRatio', label: 'Hit ratio', kind: 'ratio' },
  { key: 'bytesPerSecond', label: 'Bandwidth', kind: 'bytes' },
  { key: 'errorRatio', label: 'Errors (5xx share)', kind: 'ratio' },
  { key: 'originP50Ms', label: 'Origin latency p50', kind: 'ms' },
  { key: 'originP95Ms', label: 'Origin latency p95', kind: 'ms' },
];

function render(root, ctx) {
  var errors = h('div');
  var state = h('p', { class: 'note', id: 'overview-state' }, 'Loading the last ' + MINUTES + ' minutes…');
  var values = {};
  var cards = h('dl', { class: 'stats', 'aria-label': 'Last second, all edges' }, CARDS.map(function (c) {
    values[c.key] = h('dd', { dataset: { key: c.key, value: '' } }, '–');
    return h('div', null, h('dt', null, c.label), values[c.key]);
  }));
  var total = h('b', { id: 'requests-total', dataset: { value: '0' } }, '0');
  var edges = h('div');
  root.appendChild(h('p', { class: 'note' }, 'Live, every second, summed over every edge.'));
  root.appendChild(errors);
  root.appendChild(state);
  root.appendChild(cards);
  root.appendChild(h('p', null, 'Requests in the last ' + MINUTES + ' minutes: ', total));
  root.appendChild(h('h3', null, 'Per edge, last second'));
  root.appendChild(edges);

  var perSecond = new Map();
  var stop = null, stopped = false, retry = 0;
  function put(s) {
    perSecond.set(Date.parse(s.at), s.requests);
    var newest = Date.parse(s.at);
    perSecond.forEach(function (_n, t) { if (t <= newest - MINUTES * 60000) perSecond.delete(t); });
    var sum = 0;
    perSecond.forEach(function (n) { sum += n; });
    total.dataset.value = String(sum);
    total.textContent = fmt('count', sum);
  }
  function showSecond(s) {
    CARDS.forEach(function (c) {
      var v = s[c.key];
      values[c.key].dataset.value = v === null || v === undefined ? '' : String(v);
      values[c.key].textContent = fmt(c.kind, v);
    });
  }
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
    if (rows.length) showSecond(rows[rows.length - 1]);
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
          showSecond(s);
          showEdges(s.edges);
        },
        error: function (err) { if (ctx.current()) showError(errors, err); },
        // The api never ends this stream by itself; should it, follow again.
        complete: function () { if (!stopped) retry = setTimeout(follow, 1000); },
      });
    };
    follow();
  })();
  return function () { stopped = true; clearTimeout(retry); if (stop) stop(); };
}

registerPage({ id: 'overview', title: 'Overview', order: 10, needs: 'stats.read', render: render });
`;
