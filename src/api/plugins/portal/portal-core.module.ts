/**
 * Browser ES module `portal-core.js`: what every page shares. The session (token, role,
 * customer), the GraphQL client (HTTP `fetch` for queries and mutations, graphql-ws' browser
 * build for subscriptions, both with the user's token), the errors as the api words them, a
 * tiny DOM builder (values reach the DOM through textContent only, never as HTML), formatting,
 * and the page registry a page module adds itself to (`registerPage`).
 *
 * What the session may do comes from the api (`me.capabilities`, read at sign-in) and is used
 * only to hide or disable what the role cannot do; the api decides every request, and its
 * refusals are shown as they come.
 * Plain JS in a string (tsc copies no asset files): no backtick, no dollar-brace.
 */
export const PORTAL_CORE_MODULE = String.raw`
'use strict';
export var GQL = document.body.dataset.graphqlPath;
var TOKEN_KEY = 'edgeplane.portal.token';
var CUSTOMER_KEY = 'edgeplane.portal.customer';

/**
 * Customer roles a role may hand out for its customer (core's mayIssue), strongest first: a rule
 * about roles, not a capability, so me.capabilities cannot say it (token.manage gates the page).
 */
var ISSUES = {
  ADMIN: ['CUSTOMER_ADMIN', 'CUSTOMER_PURGER', 'CUSTOMER_VIEWER'],
  CUSTOMER_ADMIN: ['CUSTOMER_ADMIN', 'CUSTOMER_PURGER', 'CUSTOMER_VIEWER'],
};

/**
 * The signed-in state; customerId is the customer every page works on. role, scopedCustomerId
 * and capabilities are the api's answer to me (never read from the token itself).
 */
export var session = { token: null, role: null, scopedCustomerId: null, capabilities: [], customerId: null, customerName: null, client: null };

/** Who the token is, as the api says (me), with the customers it may pick from: one request at sign-in. */
export var SIGN_IN = 'query PortalSignIn { me { tokenId name role customerId expiresAt capabilities } customers(first: 500) { nodes { id name } pageInfo { hasNextPage } } }';

export function can(capability) { return session.capabilities.indexOf(capability) >= 0; }
export function issuableRoles() { return ISSUES[session.role] || []; }

export var storage = {
  token: function () { return sessionStorage.getItem(TOKEN_KEY); },
  keep: function (token) { sessionStorage.setItem(TOKEN_KEY, token); },
  customer: function () { return sessionStorage.getItem(CUSTOMER_KEY); },
  keepCustomer: function (id) { sessionStorage.setItem(CUSTOMER_KEY, id); },
  forget: function () { sessionStorage.removeItem(TOKEN_KEY); sessionStorage.removeItem(CUSTOMER_KEY); },
};

/** An error as the api worded it: message, GraphQL code, catalog code, and the fields a BAD_USER_INPUT names. */
export class ApiError extends Error {
  constructor(message, code, cdnCode, fields) {
    super(message);
    this.code = code || null;
    this.cdnCode = cdnCode || null;
    this.fields = Array.isArray(fields) ? fields : [];
  }
}

function fromGraphQLErrors(errors) {
  var e = errors[0];
  var ext = e.extensions || {};
  return new ApiError(e.message, ext.code, ext.cdnCode, ext.fields);
}

var listeners = { unauthenticated: null };
/** The app signs out on UNAUTHENTICATED (revoked, expired), whichever page met it. */
export function onUnauthenticated(fn) { listeners.unauthenticated = fn; }
function noticeAuth(err) { if (err.code === 'UNAUTHENTICATED' && listeners.unauthenticated) listeners.unauthenticated(err); return err; }

/** One query or mutation over HTTP with the user's token; resolves with data, rejects with an ApiError. */
export async function gql(query, variables, token) {
  var res;
  try {
    res = await fetch(GQL, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + (token || session.token) },
      body: JSON.stringify({ query: query, variables: variables || {} }) });
  } catch (e) {
    throw new ApiError('The api did not answer (' + e.message + ').', 'NETWORK');
  }
  var body;
  try { body = await res.json(); } catch (e) { throw new ApiError('The api answered HTTP ' + res.status + ' without a GraphQL body.', 'HTTP_' + res.status); }
  if (body.errors && body.errors.length) throw noticeAuth(fromGraphQLErrors(body.errors));
  return body.data;
}

function wsClient() {
  if (session.client) return session.client;
  var token = session.token;
  session.client = graphqlWs.createClient({
    url: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + GQL,
    connectionParams: function () { return { Authorization: 'Bearer ' + token }; },
    lazy: true,
    // Kept open a while after the last subscription ends, so moving between pages (or customers) reuses the socket
    // instead of closing and reopening it (and never closes one still connecting, which the browser reports as an error).
    lazyCloseTimeout: 5000,
    keepAlive: 10000,
    retryAttempts: Infinity,
    shouldRetry: function () { return true; },
    retryWait: function (retries) { var s = Math.min(30, Math.pow(2, retries)); return new Promise(function (r) { setTimeout(r, s * 1000 * (1 + Math.random() / 5)); }); },
  });
  return session.client;
}

export function closeSubscriptions() {
  var c = session.client;
  session.client = null;
  if (c) c.dispose();
}

/**
 * One subscription over graphql-ws. handlers: next(data), error(ApiError), complete().
 * Returns the function that ends it.
 */
export function subscribe(query, variables, handlers) {
  var ended = false;
  var fail = function (err) { ended = true; noticeAuth(err); if (handlers.error) handlers.error(err); };
  var stop = wsClient().subscribe({ query: query, variables: variables }, {
    next: function (r) { if (r.errors && r.errors.length) fail(fromGraphQLErrors(r.errors)); else if (r.data && handlers.next) handlers.next(r.data); },
    error: function (e) {
      if (Array.isArray(e)) return fail(fromGraphQLErrors(e));
      // 4401: the api refused the token when connecting, or closed the connection because the token was revoked or expired
      // (the reason is the catalog code). Ask over HTTP for the api's own words (an UNAUTHENTICATED error, which signs the tab out).
      if (e && e.code === 4401) {
        var closed = new ApiError('The live connection was refused (' + (e.reason || 'Unauthorized') + ').', 'UNAUTHENTICATED', e.reason);
        return gql('query PortalTokenCheck { __typename }').then(function () { fail(closed); }, function (err) { fail(err.code === 'UNAUTHENTICATED' ? err : closed); });
      }
      if (e && typeof e.code === 'number') return fail(new ApiError('The live connection closed (' + e.code + (e.reason ? ' ' + e.reason : '') + ').', 'CLOSED'));
      fail(new ApiError((e && e.message) || String(e), 'NETWORK'));
    },
    complete: function () { if (!ended && handlers.complete) handlers.complete(); },
  });
  return function () { ended = true; stop(); };
}

/** h('button', { type: 'button', onclick: f, disabled: true }, 'text', child...): attributes, properties (on*), children (strings become text). */
export function h(tag, props) {
  var el = document.createElement(tag);
  if (props) Object.keys(props).forEach(function (k) {
    var v = props[k];
    if (v === null || v === undefined || v === false) return;
    if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'value' || k === 'checked') el[k] = v;
    else if (k === 'dataset') Object.keys(v).forEach(function (d) { el.dataset[d] = v[d]; });
    else el.setAttribute(k, v === true ? '' : String(v));
  });
  for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
  return el;
}
function append(el, c) {
  if (c === null || c === undefined || c === false) return;
  if (Array.isArray(c)) c.forEach(function (x) { append(el, x); });
  else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
}

/** An alert showing an error as the api worded it: the message, then its codes, then each field it names. */
export function errorBox(err) {
  var codes = [err.code, err.cdnCode].filter(Boolean).join(', ');
  return h('div', { class: 'alert', role: 'alert' },
    h('span', { class: 'message' }, err.message),
    codes ? [' ', h('span', { class: 'code' }, '(' + codes + ')')] : null,
    err.fields && err.fields.length ? h('ul', null, err.fields.map(function (f) { return h('li', null, h('code', null, f.field), ': ', f.message); })) : null);
}

/** Replaces what slot shows by the error (or clears it with null). */
export function showError(slot, err) {
  slot.textContent = '';
  if (err) slot.appendChild(errorBox(err));
}

/** A table: caption, column headers (a header starting with '#' is numeric), rows of cells (strings or nodes). */
export function table(caption, headers, rows, empty) {
  var head = h('tr', null, headers.map(function (t) { return h('th', { scope: 'col', class: t[0] === '#' ? 'n' : null }, t[0] === '#' ? t.slice(1) : t); }));
  var body = h('tbody');
  if (rows.length === 0) body.appendChild(h('tr', null, h('td', { colspan: headers.length, class: 'muted' }, empty)));
  rows.forEach(function (cells) {
    body.appendChild(h('tr', null, cells.map(function (c, i) { return h('td', { class: headers[i][0] === '#' ? 'n' : null }, c); })));
  });
  return h('table', null, h('caption', null, caption), h('thead', null, head), body);
}

var UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
export function fmt(kind, v) {
  if (v === null || v === undefined || !isFinite(v)) return '–';
  if (kind === 'ratio') return (v * 100).toFixed(1) + ' %';
  if (kind === 'bytes') {
    var i = 0;
    while (v >= 1000 && i < UNITS.length - 1) { v /= 1000; i++; }
    return (i > 0 && v < 10 ? v.toFixed(1) : String(Math.round(v))) + ' ' + UNITS[i] + '/s';
  }
  if (kind === 'count') return Number(v).toLocaleString('en');
  var n = v < 10 ? v.toFixed(1) : String(Math.round(v));
  return kind === 'ms' ? n + ' ms' : n + '/s';
}
export function when(iso) { return iso ? new Date(iso).toLocaleString('en-GB') : '–'; }

/** A labelled field: label + control, tied by id. */
export function field(label, control) {
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
}

/**
 * The page registry. A page module calls registerPage({ id, title, order, needs, render }):
 * needs is the capability without which the page is left out of the navigation; render(root,
 * ctx) draws into root and may return a function that stops what it started (subscriptions,
 * timers) when the user leaves. ctx: { customerId, customerName, current() } where current()
 * is false once the page was left (drop late answers).
 */
export var pages = [];
export function registerPage(page) {
  pages.push(page);
  pages.sort(function (a, b) { return a.order - b.order; });
}
`;
