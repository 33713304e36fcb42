/**
 * Browser ES module: the Audit log page. Every mutation about this customer, newest first
 * (`auditLog(customerId)`), a page of 50 at a time. Shown to whoever holds customer.audit:
 * CUSTOMER_ADMIN (its own customer's entries; the api filters by the token's customer) and
 * ADMIN (who includes it). The platform's staff appear there by role only, as the api answers.
 */
export const PORTAL_AUDIT_MODULE = String.raw`
import { registerPage, gql, h, table, when, showError } from './portal-core.module';

var PAGE = 50;
var LIST = 'query PortalAudit($customerId: ID, $after: String, $first: Int) { auditLog(customerId: $customerId, first: $first, after: $after) { nodes { id at mutation outcome operationName clientIp arguments actor { kind role tokenId } } pageInfo { endCursor hasNextPage } } }';

function render(root, ctx) {
  var errors = h('div');
  var rows = [];
  var list = h('div', { id: 'audit' });
  var more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Older entries');
  var after = null;
  root.appendChild(h('p', { class: 'note' }, 'Every change made to this customer, by whom, and how it ended. Secrets are redacted by the api.'));
  root.appendChild(errors);
  root.appendChild(list);
  root.appendChild(h('p', null, more));

  function draw() {
    list.textContent = '';
    list.appendChild(table('Newest first', ['When', 'Mutation', 'Outcome', 'Who', 'Arguments'], rows.map(function (e) {
      var who = e.actor.role + (e.actor.tokenId ? ' (token ' + e.actor.tokenId + ')' : ' (' + e.actor.kind + ')') + (e.clientIp ? ' from ' + e.clientIp : '');
      return [when(e.at), e.mutation, h('span', { class: e.outcome === 'OK' ? 'ok' : 'bad' }, e.outcome || 'unknown'), who, h('pre', null, JSON.stringify(e.arguments, null, 1))];
    }), 'No entry for this customer.'));
  }

  async function load() {
    showError(errors, null);
    try {
      var c = (await gql(LIST, { customerId: ctx.customerId, after: after, first: PAGE })).auditLog;
      if (!ctx.current()) return;
      rows = rows.concat(c.nodes);
      after = c.pageInfo.endCursor;
      more.hidden = !c.pageInfo.hasNextPage;
      draw();
    } catch (err) { if (ctx.current()) showError(errors, err); }
  }
  more.addEventListener('click', load);
  load();
}

registerPage({ id: 'audit', title: 'Audit log', order: 90, needs: 'customer.audit', render: render });
`;
