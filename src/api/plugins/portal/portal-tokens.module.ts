/**
 * Browser ES module: the Tokens page (token.manage: a customer admin, or an admin). The
 * customer's tokens (`tokens(customerId)`, never their secrets), creating one (`createToken`,
 * customer roles the signed-in role may hand out; the secret is shown once, focused, and never
 * stored by the page) and revoking one (`revokeToken`).
 */
export const PORTAL_TOKENS_MODULE = String.raw`
import { registerPage, gql, h, issuableRoles, table, when, showError, field } from './portal-core.module';

var LIST = 'query PortalTokens($customerId: ID) { tokens(customerId: $customerId) { id name role status createdAt expiresAt revokedAt createdBy } }';
var CREATE = 'mutation PortalCreateToken($input: CreateTokenInput!) { createToken(input: $input) { secret token { id name role } } }';
var REVOKE = 'mutation PortalRevokeToken($id: ID!) { revokeToken(id: $id) { id status } }';

function render(root, ctx) {
  var errors = h('div');
  var created = h('div', { id: 'token-created' });
  var list = h('div', { id: 'tokens' });
  var name = h('input', { id: 'token-name', type: 'text', autocomplete: 'off', required: true, maxlength: '200' });
  var role = h('select', { id: 'token-role' }, issuableRoles().map(function (r) { return h('option', { value: r }, r); }));
  var expires = h('input', { id: 'token-expires', type: 'text', value: '90d', required: true, size: '6', 'aria-describedby': 'token-expires-help' });
  var submit = h('button', { type: 'submit' }, 'Create token');
  var form = h('form', { class: 'row', id: 'token-form' }, field('Name', name), field('Role', role), field('Expires in', expires), submit);
  root.appendChild(h('p', { class: 'note' }, 'Tokens act on this customer only. A new token is shown once; the api keeps only its hash.'));
  root.appendChild(form);
  root.appendChild(h('p', { id: 'token-expires-help', class: 'note' }, 'Expires in: 90d, 12h, 30m or 3600s (60 seconds to 366 days).'));
  root.appendChild(errors);
  root.appendChild(created);
  root.appendChild(h('h3', null, 'Tokens of this customer'));
  root.appendChild(list);

  async function load() {
    var rows = (await gql(LIST, { customerId: ctx.customerId })).tokens;
    if (!ctx.current()) return;
    list.textContent = '';
    list.appendChild(table('Newest first', ['Name', 'Role', 'Status', 'Created', 'Expires', 'Action'], rows.map(function (t) {
      var action = t.status === 'ACTIVE'
        ? h('button', { type: 'button', class: 'danger', 'aria-label': 'Revoke ' + t.name, onclick: function () { revoke(t); } }, 'Revoke')
        : h('span', { class: 'muted' }, t.revokedAt ? 'revoked ' + when(t.revokedAt) : '');
      return [t.name, t.role, h('span', { class: t.status === 'ACTIVE' ? 'ok' : 'muted' }, t.status), when(t.createdAt), when(t.expiresAt), action];
    }), 'No tokens for this customer.'));
  }

  async function revoke(t) {
    showError(errors, null);
    try { await gql(REVOKE, { id: t.id }); if (ctx.current()) await load(); } catch (err) { if (ctx.current()) showError(errors, err); }
  }

  form.addEventListener('submit', async function (ev) {
    ev.preventDefault();
    showError(errors, null);
    created.textContent = '';
    submit.disabled = true;
    try {
      var res = (await gql(CREATE, { input: { name: name.value.trim(), role: role.value, customerId: ctx.customerId, expiresIn: expires.value.trim() } })).createToken;
      if (!ctx.current()) return;
      var secret = h('code', { id: 'token-secret', class: 'secret', tabindex: '0', 'aria-describedby': 'token-secret-note' }, res.secret);
      created.appendChild(h('section', { 'aria-labelledby': 'token-created-title' },
        h('h3', { id: 'token-created-title' }, 'Token "' + res.token.name + '" (' + res.token.role + ') created'),
        h('p', { id: 'token-secret-note' }, 'Copy it now: it is shown this once and cannot be read again. Send it as Authorization: Bearer <token>.'),
        secret,
        h('p', null, h('button', { type: 'button', class: 'secondary', onclick: function () { created.textContent = ''; name.focus(); } }, 'Done, hide it'))));
      name.value = '';
      secret.focus();
      await load();
    } catch (err) {
      if (ctx.current()) showError(errors, err);
    } finally {
      submit.disabled = false;
    }
  });
  load().catch(function (err) { if (ctx.current()) showError(errors, err); });
}

registerPage({ id: 'tokens', title: 'Tokens', order: 50, needs: 'token.manage', render: render });
`;
