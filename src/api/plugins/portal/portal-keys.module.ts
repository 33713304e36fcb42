/**
 * Browser ES module: the Signing keys page. The customer's keys for signed URLs
 * (`customer.signingKeys`: ids and dates, secrets are never returned); with customer.update,
 * creating one (`createSigningKey`: the secret is shown once, focused, never stored by the page;
 * the api keeps at most two, so one can replace the other) and deleting one (`deleteSigningKey`).
 */
export const PORTAL_KEYS_MODULE = String.raw`
import { registerPage, gql, h, can, table, when, showError } from './portal-core.module';

var LIST = 'query PortalKeys($id: ID!) { customer(id: $id) { id signingKeys { id createdAt } } }';
var CREATE = 'mutation PortalCreateKey($customerId: ID!) { createSigningKey(customerId: $customerId) { id createdAt secret } }';
var DELETE = 'mutation PortalDeleteKey($customerId: ID!, $id: ID!) { deleteSigningKey(customerId: $customerId, id: $id) { id } }';

function render(root, ctx) {
  var editable = can('customer.update');
  var errors = h('div');
  var created = h('div', { id: 'key-created' });
  var list = h('div', { id: 'keys' });
  var create = h('button', { type: 'button', id: 'key-create', disabled: !editable }, 'Create a signing key');
  root.appendChild(h('p', { class: 'note' }, 'Keys sign links to paths a delivery rule protects (access.signedUrl). At most two, so a new one can replace the old without downtime.'));
  if (!editable) root.appendChild(h('p', { class: 'note' }, 'Your role may see the keys but not create or delete them.'));
  root.appendChild(h('p', null, create));
  root.appendChild(errors);
  root.appendChild(created);
  root.appendChild(list);

  async function load() {
    var c = (await gql(LIST, { id: ctx.customerId })).customer;
    if (!ctx.current() || !c) return;
    list.textContent = '';
    list.appendChild(table('Oldest first', editable ? ['Key id', 'Created', 'Action'] : ['Key id', 'Created'], c.signingKeys.map(function (k) {
      var cells = [k.id, when(k.createdAt)];
      if (editable) cells.push(h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete key ' + k.id, onclick: function () { remove(k); } }, 'Delete'));
      return cells;
    }), 'No signing key.'));
  }

  async function remove(k) {
    showError(errors, null);
    created.textContent = '';
    try { await gql(DELETE, { customerId: ctx.customerId, id: k.id }); if (ctx.current()) await load(); } catch (err) { if (ctx.current()) showError(errors, err); }
  }

  create.addEventListener('click', async function () {
    showError(errors, null);
    created.textContent = '';
    create.disabled = true;
    try {
      var k = (await gql(CREATE, { customerId: ctx.customerId })).createSigningKey;
      if (!ctx.current()) return;
      var secret = h('code', { id: 'key-secret', class: 'secret', tabindex: '0', 'aria-describedby': 'key-secret-note' }, k.secret);
      created.appendChild(h('section', { 'aria-labelledby': 'key-created-title' },
        h('h3', { id: 'key-created-title' }, 'Key ' + k.id + ' created'),
        h('p', { id: 'key-secret-note' }, 'Copy the secret now into the application that signs links: it is shown this once.'),
        secret));
      secret.focus();
      await load();
    } catch (err) {
      if (ctx.current()) showError(errors, err);
    } finally {
      create.disabled = !editable;
    }
  });
  load().catch(function (err) { if (ctx.current()) showError(errors, err); });
}

registerPage({ id: 'keys', title: 'Signing keys', order: 60, needs: 'customer.read', render: render });
`;
