/**
 * Browser ES module `portal-app.js`, loaded after every page module: sign-in (the token checked
 * with `me` and `customers` in one query, kept in sessionStorage only once the api accepted it;
 * role, customer and capabilities are the api's answer, not read from the token), the customer
 * (a customer-scoped token's own; a platform token picks one), the navigation built from the
 * registered pages the role may use, the hash router (`#/purge`), focus on the new page's
 * heading at every page change, and sign-out.
 * Plain JS in a string: no backtick, no dollar-brace.
 */
export const PORTAL_APP_MODULE = String.raw`
import { session, storage, SIGN_IN, gql, h, can, pages, errorBox, onUnauthenticated, closeSubscriptions } from './portal-core.module';

var $ = function (id) { return document.getElementById(id); };
var current = { page: null, stop: null, token: 0 };
var customers = [];

/** The sign-in form's own alert region shows the error's parts (errorBox's, without a second alert role). */
function fillAlert(alert, err) {
  var box = errorBox(err);
  alert.textContent = '';
  while (box.firstChild) alert.appendChild(box.firstChild);
  alert.hidden = false;
}

function announce(text) { $('status').textContent = text; }

function visiblePages() { return pages.filter(function (p) { return !p.needs || can(p.needs); }); }

function pageFromHash() {
  var m = /^#\/([a-z0-9-]+)$/.exec(location.hash);
  var list = visiblePages();
  var found = m && list.filter(function (p) { return p.id === m[1]; })[0];
  return found || list[0] || null;
}

function buildNav() {
  var ul = $('nav');
  ul.textContent = '';
  visiblePages().forEach(function (p) { ul.appendChild(h('li', null, h('a', { href: '#/' + p.id, dataset: { page: p.id } }, p.title))); });
}

function leave() {
  current.token++;
  if (current.stop) { try { current.stop(); } catch (e) { /* a page's cleanup must not block the next page */ } }
  current.stop = null;
}

/** Shows the page; focus moves to its heading (so screen readers hear where they are) unless told otherwise. */
function show(page, focus) {
  leave();
  current.page = page;
  var token = current.token;
  var root = $('page');
  root.textContent = '';
  Array.prototype.forEach.call($('nav').querySelectorAll('a'), function (a) {
    if (a.dataset.page === page.id) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  var title = h('h2', { id: 'page-title', tabindex: '-1' }, page.title);
  var body = h('div', { class: 'page-body' });
  root.appendChild(title);
  root.appendChild(body);
  document.title = page.title + ' – ' + (session.customerName || session.customerId) + ' – Edgeplane portal';
  var ctx = { customerId: session.customerId, customerName: session.customerName, current: function () { return token === current.token; } };
  try {
    current.stop = page.render(body, ctx) || null;
  } catch (e) {
    body.appendChild(errorBox(e));
  }
  if (focus !== false) title.focus();
}

function route() {
  if ($('app').hidden) return;
  if (!/^#\//.test(location.hash)) return; // #page (the skip link) and the like: stay
  var page = pageFromHash();
  if (page && location.hash !== '#/' + page.id) history.replaceState(null, '', '#/' + page.id);
  if (page && page !== current.page) show(page);
}

function setCustomer(id) {
  var c = customers.filter(function (x) { return x.id === id; })[0];
  session.customerId = id;
  session.customerName = c ? c.name : id;
  storage.keepCustomer(id);
  $('who').textContent = '';
  $('who').appendChild(h('span', null, 'Customer ', h('b', null, session.customerName), ' (' + id + ') · role ', h('b', null, session.role)));
}

async function signIn(token, restoring) {
  var alert = $('signin-alert');
  alert.hidden = true;
  alert.textContent = '';
  var claims;
  var list;
  try {
    var answer = await gql(SIGN_IN, {}, token);
    claims = answer.me;
    list = answer.customers;
  } catch (err) {
    storage.forget();
    fillAlert(alert, err);
    $('token').focus();
    return;
  }
  session.token = token;
  session.role = claims.role;
  session.scopedCustomerId = claims.customerId;
  session.capabilities = claims.capabilities;
  storage.keep(token);
  customers = list.nodes;
  var select = $('customer');
  select.textContent = '';
  customers.forEach(function (c) { select.add(new Option(c.name + ' (' + c.id + ')', c.id)); });
  $('customer-choice').hidden = !!claims.customerId || customers.length <= 1;
  if (customers.length === 0) {
    alert.textContent = claims.customerId ? 'The api shows no customer for this token.' : 'There is no customer yet: create one with createCustomer (GraphQL), then sign in again.';
    alert.hidden = false;
    session.token = null;
    storage.forget();
    return;
  }
  var saved = storage.customer();
  var id = claims.customerId || (customers.some(function (c) { return c.id === saved; }) ? saved : customers[0].id);
  select.value = id;
  setCustomer(id);
  $('token').value = '';
  $('signin-main').hidden = true;
  $('app').hidden = false;
  $('who').hidden = false;
  $('session').hidden = false;
  buildNav();
  announce(restoring ? '' : 'Signed in as ' + session.role + '.');
  var page = pageFromHash();
  // The address names the page shown (a page this role may not open falls back to the first).
  if (page && location.hash !== '#/' + page.id) history.replaceState(null, '', '#/' + page.id);
  if (page) show(page);
}

function signOut(err) {
  leave();
  current.page = null;
  closeSubscriptions();
  session.token = null;
  session.role = null;
  session.capabilities = [];
  session.customerId = null;
  storage.forget();
  $('page').textContent = '';
  $('nav').textContent = '';
  $('app').hidden = true;
  $('who').hidden = true;
  $('session').hidden = true;
  $('signin-main').hidden = false;
  var alert = $('signin-alert');
  alert.textContent = '';
  alert.hidden = true;
  if (err) {
    fillAlert(alert, err);
    announce('Signed out.');
  } else announce('Signed out. The token was removed from this tab.');
  document.title = 'Edgeplane portal';
  history.replaceState(null, '', location.pathname);
  $('token').focus();
}

onUnauthenticated(function (err) { if (session.token) signOut(err); });

$('signin').addEventListener('submit', function (ev) {
  ev.preventDefault();
  var token = $('token').value.trim();
  if (token) signIn(token, false);
});
$('signout').addEventListener('click', function () { signOut(null); });
$('customer').addEventListener('change', function (ev) {
  setCustomer(ev.target.value);
  if (current.page) show(current.page, false);
  announce('Customer ' + session.customerName + ' selected.');
});
window.addEventListener('hashchange', route);

var saved = storage.token();
if (saved) signIn(saved, true); else $('token').focus();
`;
