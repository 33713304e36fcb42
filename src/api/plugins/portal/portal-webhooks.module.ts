/**
 * Browser ES module: the Webhooks page. The customer's webhooks (`webhooks(customerId)`) and
 * each one's deliveries (`webhookDeliveries`: status, attempts, the receiver's last answer);
 * with customer.update: creating one (`createWebhook`: URL, description, events; the secret is
 * shown once, focused, never stored by the page), sending a test (`testWebhook`), redelivering
 * (`redeliverWebhook`), turning it off and on (`updateWebhook`), deleting it (`deleteWebhook`).
 * No subscription announces deliveries, so a test delivery is followed by re-reading its
 * webhook's deliveries every second until it is no longer PENDING (at most a minute), and the
 * outcome is said in a polite live region.
 */
export const PORTAL_WEBHOOKS_MODULE = String.raw`
import { registerPage, gql, h, can, table, when, showError, field } from './portal-core.module';

/** The api's WebhookEventType values (src/api/graphql/webhook.type.ts), as receivers see them. */
var EVENTS = [
  ['PURGE_COMPLETED', 'purge.completed'], ['CUSTOMER_CHANGED', 'customer.changed'], ['ORIGIN_DOWN', 'origin.down'], ['ORIGIN_UP', 'origin.up'],
  ['CERTIFICATE_ISSUED', 'certificate.issued'], ['CERTIFICATE_EXPIRING', 'certificate.expiring'], ['CERTIFICATE_FAILED', 'certificate.failed'],
  ['ALERT_FIRED', 'alert.fired'], ['ALERT_RESOLVED', 'alert.resolved'], ['QUOTA_REACHED', 'quota.reached'],
];
var HOOK = 'id url events enabled description createdAt';
var DELIVERY = 'id eventType status attempts lastStatus lastError lastResponse createdAt lastAttemptAt deliveredAt nextAttemptAt';
var LIST = 'query PortalWebhooks($customerId: ID) { webhooks(customerId: $customerId) { ' + HOOK + ' } }';
var DELIVERIES = 'query PortalWebhookDeliveries($webhookId: ID!) { webhookDeliveries(webhookId: $webhookId, first: 20) { nodes { ' + DELIVERY + ' } } }';
var CREATE = 'mutation PortalCreateWebhook($input: CreateWebhookInput!) { createWebhook(input: $input) { secret webhook { id url } } }';
var UPDATE = 'mutation PortalUpdateWebhook($id: ID!, $input: UpdateWebhookInput!) { updateWebhook(id: $id, input: $input) { id enabled } }';
var DELETE = 'mutation PortalDeleteWebhook($id: ID!) { deleteWebhook(id: $id) { id } }';
var TEST = 'mutation PortalTestWebhook($webhookId: ID!) { testWebhook(webhookId: $webhookId) { ' + DELIVERY + ' } }';
var REDELIVER = 'mutation PortalRedeliver($deliveryId: ID!) { redeliverWebhook(deliveryId: $deliveryId) { ' + DELIVERY + ' } }';
var FOLLOW_MS = 1000;
var FOLLOW_MAX = 60;

function render(root, ctx) {
  var editable = can('customer.update');
  var errors = h('div');
  var created = h('div', { id: 'webhook-created' });
  var outcome = h('p', { id: 'webhook-outcome', role: 'status', 'aria-live': 'polite' });
  var list = h('div', { id: 'webhooks' });
  var detail = h('section', { id: 'webhook-deliveries', 'aria-labelledby': 'webhook-deliveries-title', hidden: true });
  var timers = [];
  var shown = null;

  root.appendChild(h('p', { class: 'note' }, 'Each event this customer has is sent as a signed POST to the webhooks that subscribe to it (header Edgeplane-Signature, HMAC-SHA256 with the webhook\'s secret), retried with back-off for a day.'));
  if (!editable) root.appendChild(h('p', { class: 'note' }, 'Your role may see the webhooks and their deliveries but not change them.'));
  if (editable) root.appendChild(createForm());
  root.appendChild(errors);
  root.appendChild(created);
  root.appendChild(outcome);
  root.appendChild(h('h3', null, 'Webhooks of this customer'));
  root.appendChild(list);
  root.appendChild(detail);

  function createForm() {
    var url = h('input', { id: 'webhook-url', type: 'url', autocomplete: 'off', required: true, placeholder: 'https://hooks.example.com/edgeplane' });
    var description = h('input', { id: 'webhook-description', type: 'text', autocomplete: 'off' });
    var boxes = EVENTS.map(function (e) { return h('input', { type: 'checkbox', id: 'webhook-event-' + e[0].toLowerCase(), value: e[0], checked: e[0] === 'PURGE_COMPLETED' }); });
    var form = h('form', { id: 'webhook-form' },
      h('div', { class: 'row' }, field('URL', url), field('Description', description)),
      h('fieldset', null, h('legend', null, 'Events'), h('div', { class: 'row' }, boxes.map(function (b, i) { return h('span', null, b, ' ', h('label', { for: b.id }, EVENTS[i][1]), ' '); }))),
      h('p', null, h('button', { type: 'submit' }, 'Create webhook')));
    form.addEventListener('submit', async function (ev) {
      ev.preventDefault();
      showError(errors, null);
      created.textContent = '';
      var events = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
      try {
        var res = (await gql(CREATE, { input: { customerId: ctx.customerId, url: url.value.trim(), description: description.value.trim() || null, events: events } })).createWebhook;
        if (!ctx.current()) return;
        var secret = h('code', { id: 'webhook-secret', class: 'secret', tabindex: '0', 'aria-describedby': 'webhook-secret-note' }, res.secret);
        created.appendChild(h('section', { 'aria-labelledby': 'webhook-created-title' },
          h('h3', { id: 'webhook-created-title' }, 'Webhook to ' + res.webhook.url + ' created'),
          h('p', { id: 'webhook-secret-note' }, 'Copy the secret now into the receiver, which checks Edgeplane-Signature with it: it is shown this once.'),
          secret));
        url.value = '';
        description.value = '';
        secret.focus();
        await load();
      } catch (err) { if (ctx.current()) showError(errors, err); }
    });
    return form;
  }

  async function act(run) {
    showError(errors, null);
    try { await run(); if (ctx.current()) await load(); } catch (err) { if (ctx.current()) showError(errors, err); }
  }

  async function load() {
    var hooks = (await gql(LIST, { customerId: ctx.customerId })).webhooks;
    if (!ctx.current()) return;
    list.textContent = '';
    list.appendChild(table('Oldest first', ['URL', 'Events', 'State', 'Actions'], hooks.map(function (w) {
      var name = w.description || w.url;
      var actions = h('span', { class: 'row' },
        h('button', { type: 'button', class: 'secondary', 'aria-label': 'Deliveries of ' + name, onclick: function () { showDeliveries(w); } }, 'Deliveries'),
        editable ? h('button', { type: 'button', class: 'secondary', 'aria-label': 'Send a test to ' + name, onclick: function () { sendTest(w); } }, 'Send a test') : null,
        editable ? h('button', { type: 'button', class: 'secondary', 'aria-label': (w.enabled ? 'Turn off ' : 'Turn on ') + name,
          onclick: function () { act(function () { return gql(UPDATE, { id: w.id, input: { enabled: !w.enabled } }); }); } }, w.enabled ? 'Turn off' : 'Turn on') : null,
        editable ? h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete ' + name,
          onclick: function () { if (shown && shown.id === w.id) { detail.hidden = true; shown = null; } act(function () { return gql(DELETE, { id: w.id }); }); } }, 'Delete') : null);
      return [h('span', null, w.url, w.description ? h('span', { class: 'muted' }, ' – ' + w.description) : null), w.events.map(function (e) { return e.toLowerCase().replace('_', '.'); }).join(', '),
        h('span', { class: w.enabled ? 'ok' : 'muted' }, w.enabled ? 'on' : 'off'), actions];
    }), 'No webhooks yet.'));
  }

  async function drawDeliveries(w) {
    var nodes = (await gql(DELIVERIES, { webhookId: w.id })).webhookDeliveries.nodes;
    if (!ctx.current() || !shown || shown.id !== w.id) return nodes;
    detail.textContent = '';
    detail.appendChild(h('h3', { id: 'webhook-deliveries-title' }, 'Deliveries to ' + w.url));
    detail.appendChild(table('The last 20, newest first', editable ? ['Created', 'Event', 'Status', '#Attempts', 'Last answer', 'Action'] : ['Created', 'Event', 'Status', '#Attempts', 'Last answer'], nodes.map(function (d) {
      var answer = d.lastStatus !== null ? 'HTTP ' + d.lastStatus : d.lastError || (d.status === 'PENDING' ? 'next try ' + when(d.nextAttemptAt) : '–');
      if (d.lastStatus !== null && d.lastError) answer += ' (' + d.lastError + ')';
      var cells = [when(d.createdAt), d.eventType, h('span', { class: d.status === 'DELIVERED' ? 'ok' : d.status === 'FAILED' ? 'bad' : 'pending', dataset: { deliveryId: d.id } }, d.status), String(d.attempts), answer];
      if (editable) cells.push(d.status === 'PENDING' ? '' : h('button', { type: 'button', class: 'secondary', 'aria-label': 'Redeliver ' + d.eventType + ' of ' + when(d.createdAt),
        onclick: function () { redeliver(w, d); } }, 'Redeliver'));
      return cells;
    }), 'No deliveries yet.'));
    detail.hidden = false;
    return nodes;
  }

  function showDeliveries(w) {
    shown = w;
    drawDeliveries(w).then(function () { if (ctx.current()) { var t = document.getElementById('webhook-deliveries-title'); if (t) { t.tabIndex = -1; t.focus(); } } },
      function (err) { if (ctx.current()) showError(errors, err); });
  }

  /** Re-reads the webhook's deliveries every second until this one is no longer PENDING, then says how it ended. */
  function follow(w, delivery, what) {
    shown = w;
    outcome.className = 'pending';
    outcome.textContent = what + ' queued; waiting for the receiver…';
    var tries = 0;
    var step = async function () {
      if (!ctx.current()) return;
      var nodes;
      try { nodes = await drawDeliveries(w); } catch (err) { if (ctx.current()) showError(errors, err); return; }
      var d = nodes.filter(function (x) { return x.id === delivery.id; })[0];
      if (d && d.status !== 'PENDING') {
        outcome.className = d.status === 'DELIVERED' ? 'ok' : 'bad';
        outcome.textContent = what + ' ' + d.status.toLowerCase() + (d.lastStatus !== null ? ': the receiver answered HTTP ' + d.lastStatus : '') + (d.lastError ? ' (' + d.lastError + ')' : '') + '.';
        return;
      }
      if (d && d.attempts > 0 && tries === 0) outcome.textContent = what + ' not delivered yet (' + (d.lastError || 'HTTP ' + d.lastStatus) + '); the api retries it.';
      if (++tries >= FOLLOW_MAX) { outcome.textContent = what + ' still pending after a minute; the api keeps retrying it (see Deliveries).'; return; }
      timers.push(setTimeout(step, FOLLOW_MS));
    };
    step();
  }

  async function sendTest(w) {
    showError(errors, null);
    try {
      var d = (await gql(TEST, { webhookId: w.id })).testWebhook;
      if (ctx.current()) follow(w, d, 'Test delivery');
    } catch (err) { if (ctx.current()) showError(errors, err); }
  }

  async function redeliver(w, old) {
    showError(errors, null);
    try {
      var d = (await gql(REDELIVER, { deliveryId: old.id })).redeliverWebhook;
      if (ctx.current()) follow(w, d, 'Redelivery of ' + old.eventType);
    } catch (err) { if (ctx.current()) showError(errors, err); }
  }

  load().catch(function (err) { if (ctx.current()) showError(errors, err); });
  return function () { timers.forEach(clearTimeout); };
}

registerPage({ id: 'webhooks', title: 'Webhooks', order: 70, needs: 'customer.read', render: render });
`;
