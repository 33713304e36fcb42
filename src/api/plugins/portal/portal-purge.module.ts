/**
 * Browser ES module: the Purge page. A form for `purgeCache` (URL, PREFIX, TAG or ALL, which
 * asks for a confirming checkbox; soft or not), disabled with a note for a role without purge.create (the api refuses it anyway, and a
 * refusal is shown as it comes). A purge just asked is followed live over `purgeStatus`
 * (its state, then one event per edge that applies it): a progress bar, a per-edge table, and a
 * polite live region saying how many edges have applied it. Below, the customer's recent purges
 * (`purges`), read again at each step of the followed purge.
 */
export const PORTAL_PURGE_MODULE = String.raw`
import { registerPage, gql, subscribe, h, can, session, table, when, showError, field } from './portal-core.module';

var PURGE = 'id kind value soft requestedAt completedAt edgesApplied edgesTotal edges { edgeId live appliedAt objectsRemoved }';
var PURGE_CACHE = 'mutation PortalPurge($input: PurgeInput!) { purgeCache(input: $input) { ' + PURGE + ' } }';
var STATUS = 'subscription PortalPurgeStatus($id: ID!) { purgeStatus(id: $id) { purge { ' + PURGE + ' } } }';
var RECENT = 'query PortalPurges($customerId: ID!) { purges(customerId: $customerId, first: 20) { totalCount nodes { ' + PURGE + ' } } }';

var KINDS = [
  { kind: 'URL', label: 'One URL', value: 'Path (with its query), e.g. /img/logo.png?v=2' },
  { kind: 'PREFIX', label: 'Prefix', value: 'Path prefix, e.g. /img/' },
  { kind: 'TAG', label: 'Tag', value: 'Tag (Surrogate-Key / Cache-Tag)' },
  { kind: 'ALL', label: 'Everything', value: null },
];

function describe(p) { return p.kind + (p.value === null ? ' (everything)' : ' ' + p.value) + (p.soft ? ', soft' : ''); }

function render(root, ctx) {
  var allowed = can('purge.create');
  var stops = [];
  var errors = h('div');
  var valueInput = h('input', { id: 'purge-value', name: 'value', type: 'text', autocomplete: 'off', required: true });
  var valueLabel = h('label', { for: 'purge-value' }, KINDS[0].value);
  var valueField = h('div', { class: 'field' }, valueLabel, valueInput);
  // Everything is one click from emptying the customer's cache at every edge: asked again, in the form (a checkbox, keyboard-reachable, no dialog).
  var confirmAll = h('input', { type: 'checkbox', id: 'purge-confirm-all', name: 'confirm' });
  var confirmField = h('span', { hidden: true }, confirmAll, ' ', h('label', { for: 'purge-confirm-all' }, 'Yes, remove every cached object of ' + (ctx.customerName || ctx.customerId)));
  var radios = KINDS.map(function (k, i) {
    var input = h('input', { type: 'radio', name: 'kind', id: 'purge-kind-' + k.kind.toLowerCase(), value: k.kind, checked: i === 0 });
    input.addEventListener('change', function () {
      valueField.hidden = k.value === null;
      valueInput.required = k.value !== null;
      confirmField.hidden = k.value !== null;
      confirmAll.required = k.value === null;
      if (k.value) valueLabel.textContent = k.value;
    });
    return h('span', null, input, ' ', h('label', { for: input.id }, k.label), ' ');
  });
  var soft = h('input', { type: 'checkbox', id: 'purge-soft', name: 'soft' });
  var submit = h('button', { type: 'submit' }, 'Purge');
  var fields = h('fieldset', { disabled: !allowed },
    h('legend', null, 'What to purge'),
    h('div', { class: 'row' }, radios),
    h('div', { class: 'row' }, valueField, confirmField, h('span', null, soft, ' ', h('label', { for: 'purge-soft' }, 'Soft (mark stale, revalidate on the next request)')), submit));
  var form = h('form', { id: 'purge-form', 'aria-describedby': allowed ? null : 'purge-denied' }, fields);
  var progress = h('section', { id: 'purge-progress', 'aria-labelledby': 'purge-progress-title', hidden: true });
  var recent = h('div', { id: 'purge-recent' });

  root.appendChild(h('p', { class: 'note' }, 'Removes cached objects of this customer from every edge. Each edge applies a purge at once, whatever the number of objects.'));
  if (!allowed) root.appendChild(h('p', { id: 'purge-denied', class: 'note' }, 'Your role (' + session.role + ') may see purges but not ask for one.'));
  root.appendChild(form);
  root.appendChild(errors);
  root.appendChild(progress);
  root.appendChild(h('h3', null, 'Recent purges'));
  root.appendChild(recent);

  async function loadRecent() {
    try {
      var c = (await gql(RECENT, { customerId: ctx.customerId })).purges;
      if (!ctx.current()) return;
      recent.textContent = '';
      recent.appendChild(table('The last ' + c.nodes.length + ' of ' + c.totalCount + ' purges, newest first', ['Requested', 'What', 'Status', '#Edges applied'],
        c.nodes.map(function (p) {
          return [when(p.requestedAt), describe(p), h('span', { class: p.completedAt ? 'ok' : 'pending' }, p.completedAt ? 'complete ' + when(p.completedAt) : 'pending'), p.edgesApplied + ' of ' + p.edgesTotal];
        }), 'No purges yet.'));
    } catch (err) { if (ctx.current()) showError(errors, err); }
  }

  function follow(p) {
    var title = h('h3', { id: 'purge-progress-title' }, 'Purge ' + describe(p));
    var bar = h('progress', { id: 'purge-bar', max: '1', value: '0', 'aria-labelledby': 'purge-progress-title' });
    var live = h('p', { id: 'purge-live', role: 'status', 'aria-live': 'polite' });
    var edges = h('div', { id: 'purge-edges' });
    progress.textContent = '';
    progress.dataset.purgeId = p.id;
    progress.appendChild(title);
    progress.appendChild(h('p', null, bar, ' ', live));
    progress.appendChild(edges);
    progress.hidden = false;
    function draw(q) {
      bar.max = Math.max(1, q.edgesTotal);
      bar.value = q.edgesApplied;
      progress.dataset.state = q.completedAt ? 'complete' : 'pending';
      live.textContent = q.completedAt ? 'Complete: applied by ' + q.edgesApplied + ' of ' + q.edgesTotal + ' edges.' : q.edgesApplied + ' of ' + q.edgesTotal + ' edges have applied it…';
      live.className = q.completedAt ? 'ok' : 'pending';
      edges.textContent = '';
      edges.appendChild(table('Each edge process', ['Edge', 'Applied', '#Objects removed'],
        q.edges.slice().sort(function (a, b) { return a.edgeId < b.edgeId ? -1 : 1; }).map(function (e) {
          return [e.edgeId + (e.live ? '' : ' (gone)'), e.appliedAt ? h('span', { class: 'ok' }, '✓ ' + when(e.appliedAt)) : h('span', { class: 'pending' }, 'waiting'), e.objectsRemoved === null ? '–' : String(e.objectsRemoved)];
        }), 'No edge is live: nothing to wait for.'));
    }
    draw(p);
    if (p.completedAt) return loadRecent();
    stops.push(subscribe(STATUS, { id: p.id }, {
      next: function (d) { if (ctx.current()) { draw(d.purgeStatus.purge); loadRecent(); } },
      error: function (err) { if (ctx.current()) showError(errors, err); },
      complete: function () { if (ctx.current()) loadRecent(); },
    }));
  }

  form.addEventListener('submit', async function (ev) {
    ev.preventDefault();
    showError(errors, null);
    var kind = form.querySelector('input[name=kind]:checked').value;
    var input = { customerId: ctx.customerId, kind: kind, soft: soft.checked };
    if (kind !== 'ALL') input.value = valueInput.value.trim();
    submit.disabled = true;
    try {
      var p = (await gql(PURGE_CACHE, { input: input })).purgeCache;
      if (!ctx.current()) return;
      confirmAll.checked = false;
      follow(p);
      loadRecent();
    } catch (err) {
      if (ctx.current()) showError(errors, err);
    } finally {
      submit.disabled = false;
    }
  });

  loadRecent();
  return function () { stops.forEach(function (s) { s(); }); };
}

registerPage({ id: 'purge', title: 'Purge', order: 20, needs: 'purge.read', render: render });
`;
