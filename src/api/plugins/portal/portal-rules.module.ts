/**
 * Browser ES module: the Delivery rules page. The customer's rules read from `customer.rules`
 * and shown as the JSON `setDeliveryRules` takes (null fields left out); with customer.update
 * the JSON can be edited and saved, and the api's validation (every problem named by rule and
 * field) is shown as it comes. The default rule (cacheTtl, queryString, staleIfErrorSeconds)
 * is shown beside it, read-only.
 *
 * Matches nest (all / any / not, at most 8 deep) but a query may nest only CDN_API_MAX_DEPTH
 * (10) fields: the page reads 5 levels of nesting in full; a rule nested deeper is shown as far
 * as read and saving is turned off, so a save never drops what the page could not read.
 */
export const PORTAL_RULES_MODULE = String.raw`
import { registerPage, gql, h, can, showError, ApiError } from './portal-core.module';

var LEAF = 'pathPrefixes globs extensions methods headers { name values } cookies { name values }';
var LEVELS = 5;
function fragments() {
  var out = ['fragment PortalMatch' + LEVELS + ' on RuleMatch { ' + LEAF + ' all { __typename } any { __typename } not { __typename } }'];
  for (var k = LEVELS - 1; k >= 0; k--) {
    var inner = '...PortalMatch' + (k + 1);
    out.push('fragment PortalMatch' + k + ' on RuleMatch { ' + LEAF + ' all { ' + inner + ' } any { ' + inner + ' } not { ' + inner + ' } }');
  }
  return out.join('\n');
}
var ACTIONS = 'cache { bypass edgeTtl { seconds mode } browserTtl staleWhileRevalidate staleIfError } cacheKey { query { mode names } headers cookies }' +
  ' responseHeaders { op name value } originHeaders { op name value } redirect { status location }' +
  ' access { deny allowCidrs denyCidrs referers { allow allowEmpty } signedUrl rateLimit { perSecond burst } }';
var READ = 'query PortalRules($id: ID!) { customer(id: $id) { id cacheTtl staleIfErrorSeconds queryString { mode allow } rules { name match { ...PortalMatch0 } actions { ' + ACTIONS + ' } } } }\n' + fragments();
var SAVE = 'mutation PortalSetRules($customerId: ID!, $rules: [DeliveryRuleInput!]!) { setDeliveryRules(customerId: $customerId, rules: $rules) { id rules { name } } }';

/** The value as setDeliveryRules takes it: nulls left out; sets found.truncated where only __typename was read. */
function toInput(v, found) {
  if (Array.isArray(v)) return v.map(function (x) { return toInput(x, found); });
  if (v === null || typeof v !== 'object') return v;
  var keys = Object.keys(v);
  if (keys.length === 1 && keys[0] === '__typename') { found.truncated = true; return {}; }
  var out = {};
  keys.forEach(function (k) { if (v[k] !== null && k !== '__typename') out[k] = toInput(v[k], found); });
  return out;
}

function render(root, ctx) {
  var editable = can('customer.update');
  var errors = h('div', { id: 'rules-errors' });
  var status = h('p', { id: 'rules-status', role: 'status', class: 'ok' });
  var defaults = h('p', { class: 'note', id: 'rules-default' });
  var area = h('textarea', { id: 'rules-json', spellcheck: 'false', readonly: !editable, 'aria-describedby': 'rules-help' });
  var save = h('button', { type: 'submit' }, 'Save rules');
  var reset = h('button', { type: 'button', class: 'secondary' }, 'Undo changes');
  var form = h('form', { id: 'rules-form' },
    h('div', { class: 'field' }, h('label', { for: 'rules-json' }, 'Rules, in order (JSON: a list of DeliveryRuleInput)'), area),
    h('p', { id: 'rules-help', class: 'note' }, editable ? 'Every rule whose match holds applies, in order. The api checks the whole list before storing anything; every problem it finds is listed here.' : 'Your role may read the rules but not change them.'),
    editable ? h('div', { class: 'row' }, save, reset) : null);
  root.appendChild(defaults);
  root.appendChild(form);
  root.appendChild(status);
  root.appendChild(errors);
  var loaded = '[]';

  async function load() {
    var c = (await gql(READ, { id: ctx.customerId })).customer;
    if (!ctx.current()) return;
    if (!c) throw new ApiError('The api shows no customer ' + ctx.customerId + '.', 'NOT_FOUND');
    defaults.textContent = 'Default rule (every request; change it in the customer settings): cache TTL ' + c.cacheTtl + ' s, query string ' + c.queryString.mode +
      (c.queryString.allow.length ? ' ' + c.queryString.allow.join(', ') : '') + ', stale-if-error ' + (c.staleIfErrorSeconds === null ? 'off' : c.staleIfErrorSeconds + ' s') + '.';
    var found = { truncated: false };
    loaded = JSON.stringify(toInput(c.rules, found), null, 2);
    area.value = loaded;
    if (found.truncated) {
      save.disabled = true;
      area.readOnly = true;
      status.textContent = '';
      showError(errors, new ApiError('A rule nests its match deeper than the portal can read (' + LEVELS + ' levels); edit these rules with setDeliveryRules directly.', 'PORTAL_LIMIT'));
    }
  }

  reset.addEventListener('click', function () { area.value = loaded; showError(errors, null); status.textContent = ''; area.focus(); });
  form.addEventListener('submit', async function (ev) {
    ev.preventDefault();
    showError(errors, null);
    status.textContent = '';
    var rules;
    try { rules = JSON.parse(area.value); } catch (e) {
      showError(errors, new ApiError('Not valid JSON (checked in the browser, nothing was sent): ' + e.message, null));
      area.focus();
      return;
    }
    save.disabled = true;
    try {
      var saved = (await gql(SAVE, { customerId: ctx.customerId, rules: rules })).setDeliveryRules;
      if (!ctx.current()) return;
      await load();
      status.textContent = 'Saved ' + saved.rules.length + ' rules; every edge applies them within a second.';
    } catch (err) {
      if (ctx.current()) { showError(errors, err); area.focus(); }
    } finally {
      save.disabled = false;
    }
  });
  load().catch(function (err) { if (ctx.current()) showError(errors, err); });
}

registerPage({ id: 'rules', title: 'Delivery rules', order: 40, needs: 'customer.read', render: render });
`;
