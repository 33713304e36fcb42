/**
 * Browser code: the dashboard itself. Asks for the token (sessionStorage), checks it with a
 * `customers` query, then per chosen customer draws `cacheStatsHistory` and follows the
 * `cacheStats` subscription from the history's last second (`after`); `fleetStats` for the
 * fleet; `purges` (re-read every few seconds, as no subscription announces new purges) with
 * `purgeStatus` for those still pending; `originHealth` (each origin, edges up and down)
 * kept current by the `originHealthChanged` subscription (the newest transition per edge wins);
 * `alerts` (each alert rule's state, firing ones first) kept current by `alertChanged`.
 * Subscriptions use graphql-ws' own browser build (global `graphqlWs`), which speaks
 * graphql-transport-ws, pings, and reconnects; we choose the backoff and show its state. An
 * api that stops closes its sockets with 1001: graphql-ws reconnects (behind a balancer, to
 * another replica) and sends each subscription's payload again, whose `after` we keep at the
 * last second drawn, so the api replays the seconds missed in between.
 * Every value from the api reaches the DOM through textContent, never as HTML.
 * Plain JS in a string, like dashboard-charts.script.ts: no backtick, no dollar-brace.
 */
export const DASHBOARD_APP_SCRIPT = String.raw`
(function () {
  'use strict';
  var GQL = document.body.dataset.graphqlPath;
  var MINUTES = 5;
  var PURGES_SHOWN = 10;
  var PURGE_POLL_MS = 5000;
  var CUSTOMER_PAGES = 10; // of 500: the select lists at most 5,000 customers
  var TOKEN_KEY = 'edgeplane.dashboard.token';
  var CUSTOMER_KEY = 'edgeplane.dashboard.customer';

  var STATS = 'customerId at requests requestsPerSecond hitRatio bytesPerSecond originP50Ms originP95Ms errorRatio';
  var EDGE = 'edgeId requestsPerSecond hitRatio bytesPerSecond originP50Ms originP95Ms errorRatio';
  var PURGE = 'id kind value soft requestedAt completedAt edgesApplied edgesTotal edges { edgeId live appliedAt objectsRemoved }';
  var Q = {
    customers: 'query DashboardCustomers($after: String) { customers(first: 500, after: $after) { nodes { id name } pageInfo { endCursor hasNextPage } } }',
    history: 'query DashboardHistory($customerId: ID!, $minutes: Int) { cacheStatsHistory(customerId: $customerId, minutes: $minutes) { ' + STATS + ' } }',
    purges: 'query DashboardPurges($customerId: ID!, $first: Int) { purges(customerId: $customerId, first: $first) { nodes { ' + PURGE + ' } } }',
    cacheStats: 'subscription DashboardCacheStats($customerId: ID!, $after: DateTimeISO) { cacheStats(customerId: $customerId, intervalSeconds: 1, after: $after) { ' + STATS + ' edges { ' + EDGE + ' } } }',
    fleetStats: 'subscription DashboardFleetStats { fleetStats(intervalSeconds: 1, top: 10) { requestsPerSecond hitRatio bytesPerSecond originP95Ms errorRatio activeCustomers edges { edgeId } topCustomers { customerId customerName requestsPerSecond hitRatio bytesPerSecond } } }',
    purgeStatus: 'subscription DashboardPurgeStatus($id: ID!) { purgeStatus(id: $id) { purge { ' + PURGE + ' } } }',
    originHealth: 'query DashboardOriginHealth($customerId: ID!) { originHealth(customerId: $customerId) { name url edges { edgeId state since reason } } }',
    alerts: 'query DashboardAlerts($customerId: ID!) { alerts(customerId: $customerId) { state since value rule { name kind threshold } } }',
    alertChanged: 'subscription DashboardAlertChanged($customerId: ID!) { alertChanged(customerId: $customerId) { alert { state since value rule { name kind threshold } } } }',
    originHealthChanged: 'subscription DashboardOriginHealthChanged($customerId: ID) { originHealthChanged(customerId: $customerId) { origin edgeId state reason at } }',
  };

  var $ = function (id) { return document.getElementById(id); };
  var charts = Array.prototype.map.call(document.querySelectorAll('figure.chart'), function (f) { return new EP.Chart(f, MINUTES * 60); });
  var fmt = EP.fmt;
  var s = { token: null, client: null, fleetSub: null, customerId: null, gen: 0, statsSub: null, purges: [], purgeSubs: new Map(), purgeTimer: 0, origins: [], originSub: null, alerts: [], alertSub: null, lost: false, requests: new Map() };

  function showError(message) { $('alert').textContent = message; $('alert').hidden = false; }
  function clearError() { $('alert').hidden = true; $('alert').textContent = ''; }
  function setConn(state, text) { $('conn').dataset.state = state; $('conn').textContent = text; }

  function describe(code, message) {
    if (code === 'UNAUTHENTICATED') return 'The api refused this token: ' + message + '\nPaste a valid token and connect again.';
    if (code === 'NOT_FOUND') return message + '\nPick another customer from the list.';
    return message + (code ? ' (' + code + ')' : '');
  }
  function gqlError(errors) {
    var code = errors[0].extensions && errors[0].extensions.code;
    var err = new Error(describe(code, errors[0].message));
    err.code = code;
    return err;
  }
  /** What graphql-ws hands a sink's error(): GraphQL errors, a close event, or a network error. */
  function toError(e) {
    if (Array.isArray(e)) return gqlError(e);
    if (e && typeof e.code === 'number') {
      if (e.code === 4401) {
        var err = new Error(describe('UNAUTHENTICATED', 'the live connection was closed (4401 ' + (e.reason || 'Unauthorized') + ')'));
        err.code = 'UNAUTHENTICATED';
        return err;
      }
      return new Error('The live connection closed (code ' + e.code + (e.reason ? ', ' + e.reason : '') + ') and cannot be reopened. Reload the page.');
    }
    return new Error((e && e.message) || String(e));
  }
  function fail(err) {
    if (err.code === 'UNAUTHENTICATED') return logout(err.message);
    showError(err.message);
  }

  async function query(text, variables) {
    var res;
    try {
      res = await fetch(GQL, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + s.token }, body: JSON.stringify({ query: text, variables: variables || {} }) });
    } catch (e) {
      throw new Error('The api did not answer (' + e.message + '). Check that it is running, then reload.');
    }
    var body;
    try { body = await res.json(); } catch (e) { throw new Error('The api answered HTTP ' + res.status + ' without a GraphQL body.'); }
    if (body.errors && body.errors.length) throw gqlError(body.errors);
    return body.data;
  }

  /** onDone(true) when the server ended the stream without an error; onError (default: fail) for errors. */
  function subscribe(text, variables, onData, onDone, onError) {
    var failed = false;
    var error = function (err) { failed = true; (onError || fail)(err); };
    return s.client.subscribe({ query: text, variables: variables }, {
      // Errors of the subscribe step (FORBIDDEN, NOT_FOUND) arrive as a result with errors, then complete.
      next: function (r) { if (r.errors && r.errors.length) error(gqlError(r.errors)); else if (r.data) onData(r.data); },
      error: function (e) { error(toError(e)); if (onDone) onDone(false); },
      complete: function () { if (onDone) onDone(!failed); },
    });
  }

  /**
   * A stats stream never ends by itself: should the server complete it anyway, subscribe
   * again (a closed socket graphql-ws reconnects itself, with our backoff). Both send the same
   * variables object, which onData may update (the last second seen). Returns the function
   * that stops following.
   */
  function follow(text, variables, onData, onError) {
    var stopped = false, timer = 0, unsubscribe = null;
    var start = function () {
      if (stopped || !s.client) return;
      unsubscribe = subscribe(text, variables, onData, function (completed) { if (completed && !stopped) timer = setTimeout(start, 1000); }, onError);
    };
    start();
    return function () { stopped = true; clearTimeout(timer); if (unsubscribe) unsubscribe(); };
  }

  function openClient() {
    s.client = graphqlWs.createClient({
      url: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + GQL,
      connectionParams: function () { return { Authorization: 'Bearer ' + s.token }; },
      keepAlive: 10000,
      retryAttempts: Infinity,
      shouldRetry: function () { return true; },
      // 1, 2, 4, ... 30 s plus up to a fifth more at random, so a restarted api is not hit by every page at once.
      retryWait: function (retries) {
        var base = Math.min(30, Math.pow(2, retries));
        var ms = base * 1000 * (1 + Math.random() / 5);
        var msg = 'Connection to the api lost. Reconnecting in ' + base + ' s (attempt ' + (retries + 1) + ')…';
        setConn('reconnecting', 'Reconnecting…');
        showError(msg);
        return new Promise(function (r) { setTimeout(r, ms); });
      },
      on: {
        connecting: function () { if (!s.lost) setConn('connecting', 'Connecting…'); },
        // Back: the stats subscription resumes after its last second (its after variable), no refetch needed.
        connected: function (_socket, _payload, wasRetry) {
          setConn('live', 'Live');
          if (wasRetry || s.lost) { s.lost = false; clearError(); }
        },
        closed: function (e) { if (s.client && e && e.code !== 1000 && e.code !== 4401) { s.lost = true; setConn('reconnecting', 'Reconnecting…'); } },
      },
    });
  }

  async function loadCustomers() {
    var all = [], after = null;
    for (var page = 0; page < CUSTOMER_PAGES; page++) {
      var c = (await query(Q.customers, { after: after })).customers;
      all = all.concat(c.nodes);
      if (!c.pageInfo.hasNextPage) return { nodes: all, more: false };
      after = c.pageInfo.endCursor;
    }
    return { nodes: all, more: true };
  }

  async function login(token) {
    clearError();
    s.token = token;
    setConn('connecting', 'Checking the token…');
    var list;
    try { list = await loadCustomers(); } catch (e) { return logout(e.message); }
    sessionStorage.setItem(TOKEN_KEY, token);
    $('login').hidden = true;
    $('main').hidden = false;
    var select = $('customer');
    select.textContent = '';
    list.nodes.forEach(function (c) { select.add(new Option(c.name + ' (' + c.id + ')', c.id)); });
    $('customer-note').textContent = list.nodes.length === 0 ? 'No customers yet: create one with createCustomer, then reload.'
      : list.more ? 'Showing the first ' + list.nodes.length + ' customers.' : '';
    openClient();
    $('fleet-section').hidden = false;
    s.fleetSub = follow(Q.fleetStats, {}, function (d) { renderFleet(d.fleetStats); }, function (err) {
      // A token scoped to one customer may not see the fleet: the page works without that section.
      if (err.code === 'FORBIDDEN') $('fleet-section').hidden = true; else fail(err);
    });
    var fromHash = /^#customer=(.+)$/.exec(location.hash);
    var wanted = fromHash ? decodeURIComponent(fromHash[1]) : sessionStorage.getItem(CUSTOMER_KEY);
    var known = list.nodes.some(function (c) { return c.id === wanted; });
    var id = wanted && (known || fromHash) ? wanted : list.nodes.length ? list.nodes[0].id : null;
    if (id) selectCustomer(id);
  }

  function logout(message) {
    dropCustomer();
    if (s.fleetSub) s.fleetSub();
    s.fleetSub = null;
    var client = s.client;
    s.client = null;
    if (client) client.dispose();
    s.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('main').hidden = true;
    $('login').hidden = false;
    $('token').value = '';
    setConn(message ? 'error' : 'idle', 'Not connected');
    if (message) showError(message); else clearError();
    $('token').focus();
  }

  function dropCustomer() {
    s.gen++;
    if (s.statsSub) s.statsSub();
    s.statsSub = null;
    s.purgeSubs.forEach(function (unsubscribe) { unsubscribe(); });
    s.purgeSubs.clear();
    clearInterval(s.purgeTimer);
    s.purges = [];
    if (s.originSub) s.originSub();
    s.originSub = null;
    s.origins = [];
    if (s.alertSub) s.alertSub();
    s.alertSub = null;
    s.alerts = [];
  }

  async function selectCustomer(id) {
    dropCustomer();
    var gen = s.gen;
    s.customerId = id;
    sessionStorage.setItem(CUSTOMER_KEY, id);
    history.replaceState(null, '', '#customer=' + encodeURIComponent(id));
    var select = $('customer');
    if (!Array.prototype.some.call(select.options, function (o) { return o.value === id; })) select.add(new Option(id, id));
    select.value = id;
    charts.forEach(function (c) { c.reset(); c.render(); });
    s.requests.clear();
    renderTotal();
    renderEdges([]);
    renderPurges();
    renderOrigins();
    renderAlerts();
    clearError();
    loadOrigins(gen);
    loadAlerts(gen);
    var last = await backfill();
    if (last === null || gen !== s.gen) return;
    // graphql-ws sends this object again on every reconnect: its after is always the last second drawn.
    var variables = { customerId: id, after: last };
    s.statsSub = follow(Q.cacheStats, variables, function (d) {
      if (gen !== s.gen) return;
      variables.after = d.cacheStats.at;
      put(d.cacheStats);
      renderCharts();
      renderEdges(d.cacheStats.edges);
    });
    loadPurges(gen);
    s.purgeTimer = setInterval(function () { loadPurges(gen); }, PURGE_POLL_MS);
  }

  /** The last minutes from cacheStatsHistory; resolves with the newest second's at, or null when it failed or the customer changed meanwhile. */
  async function backfill() {
    var gen = s.gen;
    if (!s.customerId) return null;
    try {
      var rows = (await query(Q.history, { customerId: s.customerId, minutes: MINUTES })).cacheStatsHistory;
      if (gen !== s.gen) return null;
      rows.forEach(put);
      renderCharts();
      return rows.length ? rows[rows.length - 1].at : new Date().toISOString();
    } catch (e) {
      if (gen === s.gen) fail(e);
      return null;
    }
  }

  function put(stats) {
    var t = Date.parse(stats.at);
    charts.forEach(function (c) { c.put(t, stats); });
    // Keyed by time, so an event seen twice (history, then live) counts once.
    s.requests.set(t, stats.requests);
    if (s.requests.size > MINUTES * 60) {
      var newest = Math.max.apply(null, Array.from(s.requests.keys()));
      s.requests.forEach(function (_n, at) { if (at <= newest - MINUTES * 60000) s.requests.delete(at); });
    }
  }

  function renderTotal() {
    var total = 0;
    s.requests.forEach(function (n) { total += n; });
    $('requests-total').dataset.value = String(total);
    $('requests-total').textContent = total.toLocaleString('en');
  }

  var frame = 0;
  function renderCharts() {
    if (frame) return;
    frame = requestAnimationFrame(function () { frame = 0; charts.forEach(function (c) { c.render(); }); renderTotal(); });
  }

  function fillTable(id, rows, empty) {
    var body = $(id).tBodies[0];
    body.textContent = '';
    if (rows.length === 0) rows = [[empty]];
    rows.forEach(function (cells) {
      var tr = body.insertRow();
      cells.forEach(function (v, i) {
        var td = tr.insertCell();
        if (cells.length === 1) td.colSpan = $(id).tHead.rows[0].cells.length;
        else if ($(id).tHead.rows[0].cells[i].className === 'n') td.className = 'n';
        if (v instanceof Node) td.appendChild(v); else td.textContent = v;
      });
    });
  }

  function renderEdges(edges) {
    var rows = edges.slice().sort(function (a, b) { return a.edgeId < b.edgeId ? -1 : 1; }).map(function (e) {
      return [e.edgeId, fmt('rate', e.requestsPerSecond), fmt('ratio', e.hitRatio), fmt('bytes', e.bytesPerSecond), fmt('ms', e.originP50Ms), fmt('ms', e.originP95Ms), fmt('ratio', e.errorRatio)];
    });
    fillTable('edges', rows, 'No traffic for this customer on any edge in the last second.');
  }

  function renderFleet(f) {
    var values = { requestsPerSecond: fmt('rate', f.requestsPerSecond), hitRatio: fmt('ratio', f.hitRatio), bytesPerSecond: fmt('bytes', f.bytesPerSecond),
      originP95Ms: fmt('ms', f.originP95Ms), errorRatio: fmt('ratio', f.errorRatio), activeCustomers: String(f.activeCustomers), edges: String(f.edges.length) };
    Array.prototype.forEach.call($('fleet').querySelectorAll('dd'), function (dd) { dd.textContent = values[dd.dataset.key]; });
    fillTable('top', f.topCustomers.map(function (c) {
      return [(c.customerName ? c.customerName + ' ' : '') + '(' + c.customerId + ')', fmt('rate', c.requestsPerSecond), fmt('ratio', c.hitRatio), fmt('bytes', c.bytesPerSecond)];
    }), 'No traffic in the last second.');
  }

  async function loadPurges(gen) {
    var nodes;
    // While the live connection is down its own message says so; a failing re-read adds nothing.
    try { nodes = (await query(Q.purges, { customerId: s.customerId, first: PURGES_SHOWN })).purges.nodes; } catch (e) { if (gen === s.gen && !s.lost) fail(e); return; }
    if (gen !== s.gen) return;
    s.purges = nodes;
    renderPurges();
    var shown = new Set(nodes.map(function (p) { return p.id; }));
    s.purgeSubs.forEach(function (unsubscribe, id) { if (!shown.has(id)) { unsubscribe(); s.purgeSubs.delete(id); } });
    nodes.forEach(function (p) {
      if (p.completedAt || s.purgeSubs.has(p.id)) return;
      s.purgeSubs.set(p.id, subscribe(Q.purgeStatus, { id: p.id }, function (d) {
        if (gen !== s.gen) return;
        var next = d.purgeStatus.purge;
        s.purges = s.purges.map(function (old) { return old.id === next.id ? next : old; });
        renderPurges();
      }, function () { s.purgeSubs.delete(p.id); }));
    });
  }

  function time(iso) { return iso ? new Date(iso).toLocaleTimeString() : ''; }

  function renderPurges() {
    fillTable('purges', s.purges.map(function (p) {
      var status = document.createElement('span');
      status.className = p.completedAt ? 'done' : 'pending';
      status.textContent = p.completedAt ? 'complete ' + time(p.completedAt) : 'pending: ' + p.edgesApplied + ' of ' + p.edgesTotal + ' edges';
      var edges = p.edges.map(function (e) {
        return e.edgeId + (e.appliedAt ? ' ✓ ' + time(e.appliedAt) + (e.objectsRemoved === null ? '' : ' (' + e.objectsRemoved + ' removed)') : ' waiting') + (e.live ? '' : ' (gone)');
      }).join('\n');
      var cell = document.createElement('span');
      cell.className = 'pre';
      cell.textContent = edges || 'no edge';
      return [time(p.requestedAt), p.kind + (p.soft ? ' (soft)' : ''), p.value === null ? 'everything' : p.value, status, cell];
    }), 'No purges for this customer.');
  }

  /** originHealth once, then each transition applied as it comes (a replayed older one changes nothing). */
  async function loadOrigins(gen) {
    var origins;
    try { origins = (await query(Q.originHealth, { customerId: s.customerId })).originHealth; } catch (e) { if (gen === s.gen) fail(e); return; }
    if (gen !== s.gen) return;
    s.origins = origins;
    renderOrigins();
    s.originSub = follow(Q.originHealthChanged, { customerId: s.customerId }, function (d) {
      if (gen !== s.gen) return;
      var c = d.originHealthChanged;
      var origin = s.origins.find(function (o) { return o.name === c.origin; });
      if (!origin) return;
      var edge = origin.edges.find(function (e) { return e.edgeId === c.edgeId; });
      if (!edge) { edge = { edgeId: c.edgeId, state: c.state, since: null, reason: null }; origin.edges.push(edge); }
      if (edge.since && Date.parse(edge.since) > Date.parse(c.at)) return;
      edge.state = c.state;
      edge.since = c.at;
      edge.reason = c.reason;
      renderOrigins();
    });
  }

  /** alerts once, then each change replaces its rule's row (the newest state wins; a rule unknown here is added). */
  async function loadAlerts(gen) {
    var alerts;
    try { alerts = (await query(Q.alerts, { customerId: s.customerId })).alerts; } catch (e) { if (gen === s.gen) fail(e); return; }
    if (gen !== s.gen) return;
    s.alerts = alerts;
    renderAlerts();
    s.alertSub = follow(Q.alertChanged, { customerId: s.customerId }, function (d) {
      if (gen !== s.gen) return;
      var a = d.alertChanged.alert;
      var i = s.alerts.findIndex(function (x) { return x.rule.name === a.rule.name; });
      if (i < 0) s.alerts.push(a); else s.alerts[i] = a;
      renderAlerts();
    });
  }

  function renderAlerts() {
    var order = { FIRING: 0, PENDING: 1, OK: 2 };
    var rows = s.alerts.slice().sort(function (a, b) { return order[a.state] - order[b.state]; }).map(function (a) {
      var state = document.createElement('span');
      state.className = 'state-' + a.state.toLowerCase();
      state.textContent = a.state;
      return [a.rule.name, a.rule.kind, state, time(a.since), a.value === null ? '–' : String(Math.round(a.value * 1000) / 1000), a.rule.threshold === null ? '–' : String(a.rule.threshold)];
    });
    fillTable('alerts', rows, 'No alert rules (setAlertRules).');
  }

  function renderOrigins() {
    fillTable('origins', s.origins.map(function (o) {
      var down = o.edges.filter(function (e) { return e.state === 'DOWN'; });
      var cell = document.createElement('span');
      cell.className = 'pre';
      cell.textContent = down.map(function (e) { return e.edgeId + (e.since ? ' since ' + time(e.since) : '') + (e.reason ? ': ' + e.reason : ''); }).join('\n');
      return [o.name, o.url, String(o.edges.length - down.length), String(down.length), cell];
    }), 'No origin health yet.');
  }

  $('login').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var token = $('token').value.trim();
    if (token) login(token);
  });
  $('logout').addEventListener('click', function () { logout(null); });
  $('customer').addEventListener('change', function (ev) { selectCustomer(ev.target.value); });
  window.addEventListener('resize', renderCharts);
  var saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) login(saved); else $('token').focus();
})();
`;
