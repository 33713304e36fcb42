/**
 * Browser ES module: the Top URLs page. The customer's busiest paths and its status codes over
 * the last hour (or the window chosen), from `trafficTop`: each path with the range its true
 * count lies in (requests - errorBound to requests + missingBound; docs/API.md, "Top URLs and
 * status codes"), status codes exact. Reloaded on demand: minutes arrive once they end.
 */
export const PORTAL_TOP_MODULE = String.raw`
import { registerPage, gql, h, fmt, table, field, showError } from './portal-core.module';

var READ = 'query PortalTrafficTop($customerId: ID!, $minutes: Int!, $first: Int!) { trafficTop(customerId: $customerId, minutes: $minutes, first: $first) { from to requests summaries unlistedBound paths { path requests errorBound missingBound } statuses { status requests } } }';

function render(root, ctx) {
  var errors = h('div', { id: 'top-errors' });
  var minutes = h('select', { id: 'top-minutes' },
    h('option', { value: '15' }, 'Last 15 minutes'),
    h('option', { value: '60', selected: true }, 'Last hour'),
    h('option', { value: '360' }, 'Last 6 hours'),
    h('option', { value: '1440' }, 'Last 24 hours'));
  var reload = h('button', { type: 'submit' }, 'Reload');
  var form = h('form', { id: 'top-form', class: 'row' }, field('Window', minutes), h('p', null, reload));
  var summary = h('p', { id: 'top-summary', role: 'status' });
  var paths = h('div', { id: 'top-paths' });
  var statuses = h('div', { id: 'top-statuses' });
  root.appendChild(errors);
  root.appendChild(form);
  root.appendChild(summary);
  root.appendChild(h('h3', null, 'Top paths'));
  root.appendChild(paths);
  root.appendChild(h('p', { class: 'note' }, 'Counted by every edge per minute in a bounded summary: each count is within the range shown (exact when both ends are equal). A minute shows up once it has ended.'));
  root.appendChild(h('h3', null, 'Status codes'));
  root.appendChild(statuses);

  async function load() {
    showError(errors, null);
    reload.disabled = true;
    try {
      var d = (await gql(READ, { customerId: ctx.customerId, minutes: Number(minutes.value), first: 20 })).trafficTop;
      if (!ctx.current()) return;
      summary.textContent = fmt('count', d.requests) + ' requests from ' + new Date(d.from).toLocaleTimeString('en-GB') + ' to ' + new Date(d.to).toLocaleTimeString('en-GB') + ' (' + d.summaries + ' edge minutes).';
      paths.textContent = '';
      paths.appendChild(table('The busiest paths, most requests first', ['Path', '#Requests', '#At least', '#At most'], d.paths.map(function (p) {
        return [h('code', { dataset: { path: p.path } }, p.path), fmt('count', p.requests), fmt('count', p.requests - p.errorBound), fmt('count', p.requests + p.missingBound)];
      }), 'No requests in this window.'));
      statuses.textContent = '';
      statuses.appendChild(table('Requests per status code (exact)', ['Status', '#Requests', '#Share'], d.statuses.map(function (s) {
        return [h('span', { class: s.status >= 500 ? 'bad' : s.status >= 400 ? 'pending' : null, dataset: { status: String(s.status) } }, String(s.status)), fmt('count', s.requests), fmt('ratio', d.requests > 0 ? s.requests / d.requests : 0)];
      }), 'No requests in this window.'));
    } catch (err) {
      if (ctx.current()) showError(errors, err);
    } finally {
      reload.disabled = false;
    }
  }

  form.addEventListener('submit', function (ev) { ev.preventDefault(); load(); });
  minutes.addEventListener('change', function () { load(); });
  load();
}

registerPage({ id: 'top', title: 'Top URLs', order: 12, needs: 'stats.read', render: render });
`;
