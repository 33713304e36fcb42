/**
 * Browser ES module: the Alerts page. Where each of the customer's alert rules stands
 * (`alerts`: OK, PENDING or FIRING, since when, the last value), kept current by the
 * `alertChanged` subscription, with the state changes announced in a polite live region; the
 * last transitions (`alertHistory`); and the rules (`alertRules`) as the JSON `setAlertRules`
 * takes, editable with customer.update, the api's validation shown as it comes.
 */
export const PORTAL_ALERTS_MODULE = String.raw`
import { registerPage, gql, subscribe, h, can, fmt, table, when, showError, ApiError } from './portal-core.module';

var RULE = 'id name kind threshold forSeconds windowSeconds minRequests enabled';
var ALERT = 'rule { ' + RULE + ' } state since value evaluatedAt';
var READ = 'query PortalAlerts($customerId: ID!) { alerts(customerId: $customerId) { ' + ALERT + ' } alertRules(customerId: $customerId) { ' + RULE + ' } alertHistory(customerId: $customerId, first: 20) { totalCount nodes { id ruleName kind from to value threshold reason at } } }';
var SAVE = 'mutation PortalSetAlertRules($customerId: ID!, $rules: [AlertRuleInput!]!) { setAlertRules(customerId: $customerId, rules: $rules) { id } }';
var CHANGED = 'subscription PortalAlertChanged($customerId: ID!) { alertChanged(customerId: $customerId) { from alert { ' + ALERT + ' } } }';

/** A value in the unit of its kind's threshold. */
function valueOf(kind, v) {
  if (v === null || v === undefined) return '–';
  if (kind === 'HIT_RATIO_BELOW' || kind === 'ERROR_5XX_SHARE_ABOVE') return fmt('ratio', v);
  if (kind === 'ORIGIN_LATENCY_P95_ABOVE') return fmt('ms', v);
  if (kind === 'BANDWIDTH_ABOVE') return fmt('bytes', v);
  return String(v) + ' down';
}

function render(root, ctx) {
  var editable = can('customer.update');
  var errors = h('div', { id: 'alerts-errors' });
  var live = h('p', { id: 'alerts-live', role: 'status', 'aria-live': 'polite' });
  var states = h('div', { id: 'alerts-states' });
  var history = h('div', { id: 'alerts-history' });
  var area = h('textarea', { id: 'alert-rules-json', spellcheck: 'false', readonly: !editable, rows: '12', 'aria-describedby': 'alert-rules-help' });
  var save = h('button', { type: 'submit' }, 'Save alert rules');
  var saved = h('p', { id: 'alert-rules-status', role: 'status', class: 'ok' });
  var form = h('form', { id: 'alert-rules-form' },
    h('div', { class: 'field' }, h('label', { for: 'alert-rules-json' }, 'Alert rules (JSON: a list of AlertRuleInput)'), area),
    h('p', { id: 'alert-rules-help', class: 'note' }, 'kind: HIT_RATIO_BELOW, ERROR_5XX_SHARE_ABOVE (threshold a share 0..1), ORIGIN_LATENCY_P95_ABOVE (ms), BANDWIDTH_ABOVE (bytes/s), ORIGIN_DOWN (no threshold); forSeconds, windowSeconds, minRequests, enabled.' +
      (editable ? ' The api checks the whole list before storing anything.' : ' Your role may read the rules but not change them.')),
    editable ? h('p', null, save) : null);
  root.appendChild(errors);
  root.appendChild(live);
  root.appendChild(h('h3', null, 'Now'));
  root.appendChild(states);
  root.appendChild(h('h3', null, 'Rules'));
  root.appendChild(form);
  root.appendChild(saved);
  root.appendChild(h('h3', null, 'Last changes'));
  root.appendChild(history);
  var alerts = [];

  function drawStates() {
    states.textContent = '';
    states.appendChild(table('Each rule, as the api last evaluated it', ['Rule', 'Watches', 'State', 'Since', '#Value', '#Threshold'], alerts.map(function (a) {
      var r = a.rule;
      return [r.name + (r.enabled ? '' : ' (off)'), r.kind + ' over ' + r.windowSeconds + ' s' + (r.forSeconds ? ', for ' + r.forSeconds + ' s' : ''),
        h('span', { class: a.state === 'FIRING' ? 'bad' : a.state === 'PENDING' ? 'pending' : 'ok', dataset: { rule: r.name, state: a.state } }, a.state),
        when(a.since), valueOf(r.kind, a.value), r.threshold === null ? '–' : valueOf(r.kind, r.threshold)];
    }), 'No alert rules.'));
  }

  /** rules: also (re)fill the editor, which a state change must not overwrite while the user types. */
  async function load(rules) {
    var d = await gql(READ, { customerId: ctx.customerId });
    if (!ctx.current()) return;
    alerts = d.alerts;
    drawStates();
    if (rules) area.value = JSON.stringify(d.alertRules.map(function (r) {
      var out = { name: r.name, kind: r.kind };
      if (r.threshold !== null) out.threshold = r.threshold;
      out.forSeconds = r.forSeconds;
      out.windowSeconds = r.windowSeconds;
      out.minRequests = r.minRequests;
      out.enabled = r.enabled;
      return out;
    }), null, 2);
    history.textContent = '';
    history.appendChild(table('The last ' + d.alertHistory.nodes.length + ' of ' + d.alertHistory.totalCount + ' transitions, newest first', ['When', 'Rule', 'Change', '#Value', 'Why'], d.alertHistory.nodes.map(function (e) {
      return [when(e.at), e.ruleName, e.from + ' → ' + e.to, valueOf(e.kind, e.value), e.reason];
    }), 'No transitions yet.'));
  }

  form.addEventListener('submit', async function (ev) {
    ev.preventDefault();
    showError(errors, null);
    saved.textContent = '';
    var rules;
    try { rules = JSON.parse(area.value); } catch (e) {
      showError(errors, new ApiError('Not valid JSON (checked in the browser, nothing was sent): ' + e.message, null));
      area.focus();
      return;
    }
    save.disabled = true;
    try {
      await gql(SAVE, { customerId: ctx.customerId, rules: rules });
      if (!ctx.current()) return;
      await load(true);
      saved.textContent = 'Saved ' + rules.length + ' alert rules.';
    } catch (err) {
      if (ctx.current()) { showError(errors, err); area.focus(); }
    } finally {
      save.disabled = false;
    }
  });

  load(true).catch(function (err) { if (ctx.current()) showError(errors, err); });
  var stop = subscribe(CHANGED, { customerId: ctx.customerId }, {
    next: function (d) {
      if (!ctx.current()) return;
      var next = d.alertChanged.alert;
      var found = false;
      alerts = alerts.map(function (a) { if (a.rule.id === next.rule.id) { found = true; return next; } return a; });
      if (!found) alerts.push(next);
      drawStates();
      live.className = next.state === 'FIRING' ? 'bad' : next.state === 'PENDING' ? 'pending' : 'ok';
      live.textContent = 'Alert ' + next.rule.name + ': ' + d.alertChanged.from + ' → ' + next.state + ' (' + valueOf(next.rule.kind, next.value) + ').';
      load(false).catch(function (err) { if (ctx.current()) showError(errors, err); });
    },
    error: function (err) { if (ctx.current()) showError(errors, err); },
  });
  return stop;
}

registerPage({ id: 'alerts', title: 'Alerts', order: 15, needs: 'stats.read', render: render });
`;
