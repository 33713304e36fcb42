/**
 * Browser ES module: the Domains and certificates page. The customer's domains (`customer`) and
 * certificates (`certificates`), kept current by the `certificateStatus` subscription. With
 * customer.update: add or remove a domain (`updateCustomer` with the whole list, as the api
 * takes it), ask the ACME CA for a certificate (`requestCertificate`), upload one
 * (`uploadCertificate`: the key goes to the api only, never kept by the page), delete one.
 */
export const PORTAL_DOMAINS_MODULE = String.raw`
import { registerPage, gql, subscribe, h, can, table, when, showError, field } from './portal-core.module';

var CERT = 'id domains source status notBefore notAfter issuer lastError';
var READ = 'query PortalDomains($id: ID!) { customer(id: $id) { id domains httpsRedirect hsts { maxAge includeSubDomains preload } } certificates(customerId: $id) { ' + CERT + ' } }';
var SET_DOMAINS = 'mutation PortalSetDomains($id: ID!, $domains: [String!]!) { updateCustomer(id: $id, input: { domains: $domains }) { id domains } }';
var REQUEST = 'mutation PortalRequestCertificate($customerId: ID!, $domains: [String!]!) { requestCertificate(customerId: $customerId, domains: $domains) { id status } }';
var UPLOAD = 'mutation PortalUploadCertificate($customerId: ID!, $certificatePem: String!, $privateKeyPem: String!) { uploadCertificate(customerId: $customerId, certificatePem: $certificatePem, privateKeyPem: $privateKeyPem) { id status } }';
var DELETE = 'mutation PortalDeleteCertificate($id: ID!) { deleteCertificate(id: $id) }';
var WATCH = 'subscription PortalCertificateStatus($customerId: ID) { certificateStatus(customerId: $customerId) { certificateId } }';

function render(root, ctx) {
  var editable = can('customer.update');
  var errors = h('div');
  var domains = h('div', { id: 'domains' });
  var certs = h('div', { id: 'certificates' });
  var list = [];
  root.appendChild(errors);
  root.appendChild(h('h3', null, 'Domains'));
  root.appendChild(domains);
  root.appendChild(h('h3', null, 'Certificates'));
  root.appendChild(certs);

  async function act(run) {
    showError(errors, null);
    try { await run(); if (ctx.current()) await load(); } catch (err) { if (ctx.current()) showError(errors, err); }
  }

  function drawDomains(customer) {
    list = customer.domains;
    domains.textContent = '';
    domains.appendChild(table('Host names served for this customer', editable ? ['Domain', 'Action'] : ['Domain'], list.map(function (d) {
      var cells = [d];
      if (editable) cells.push(h('button', { type: 'button', class: 'danger', 'aria-label': 'Remove ' + d,
        onclick: function () { act(function () { return gql(SET_DOMAINS, { id: ctx.customerId, domains: list.filter(function (x) { return x !== d; }) }); }); } }, 'Remove'));
      return cells;
    }), 'No domain.'));
    domains.appendChild(h('p', { class: 'note' }, 'Plain HTTP redirected to HTTPS: ' + (customer.httpsRedirect === null ? 'once a valid certificate covers the host' : customer.httpsRedirect ? 'always' : 'never') +
      ' · HSTS: ' + (customer.hsts ? 'max-age ' + customer.hsts.maxAge + (customer.hsts.includeSubDomains ? ', includeSubDomains' : '') + (customer.hsts.preload ? ', preload' : '') : 'none')));
    if (editable) {
      var input = h('input', { id: 'domain-new', type: 'text', autocomplete: 'off', required: true });
      var form = h('form', { class: 'row' }, field('New domain', input), h('button', { type: 'submit' }, 'Add domain'));
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        act(function () { return gql(SET_DOMAINS, { id: ctx.customerId, domains: list.concat([input.value.trim()]) }); });
      });
      domains.appendChild(form);
    }
  }

  function drawCerts(rows) {
    certs.textContent = '';
    certs.appendChild(table('Newest first; the key never leaves the api', editable ? ['Domains', 'Source', 'Status', 'Valid until', 'Issuer', 'Action'] : ['Domains', 'Source', 'Status', 'Valid until', 'Issuer'], rows.map(function (c) {
      var status = h('span', { class: c.status === 'ISSUED' ? 'ok' : c.status === 'FAILED' || c.status === 'EXPIRED' ? 'bad' : 'pending' }, c.status + (c.lastError ? ': ' + c.lastError : ''));
      var cells = [c.domains.join(', '), c.source, status, when(c.notAfter), c.issuer || '–'];
      if (editable) cells.push(h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete the certificate for ' + c.domains.join(', '),
        onclick: function () { act(function () { return gql(DELETE, { id: c.id }); }); } }, 'Delete'));
      return cells;
    }), 'No certificate.'));
    if (!editable) return;
    var names = h('input', { id: 'cert-domains', type: 'text', autocomplete: 'off', required: true, value: list.join(', ') });
    var request = h('form', { class: 'row' }, field('Domains to certify (comma-separated)', names), h('button', { type: 'submit' }, 'Request from ACME'));
    request.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var asked = names.value.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
      act(function () { return gql(REQUEST, { customerId: ctx.customerId, domains: asked }); });
    });
    var pem = h('textarea', { id: 'cert-pem', rows: '6', spellcheck: 'false' });
    var key = h('textarea', { id: 'cert-key', rows: '6', spellcheck: 'false', autocomplete: 'off' });
    var upload = h('form', null, h('fieldset', null, h('legend', null, 'Upload a certificate'), field('Certificate chain (PEM, leaf first)', pem), field('Private key (PEM)', key),
      h('p', null, h('button', { type: 'submit' }, 'Upload'))));
    upload.addEventListener('submit', function (ev) {
      ev.preventDefault();
      act(async function () { await gql(UPLOAD, { customerId: ctx.customerId, certificatePem: pem.value, privateKeyPem: key.value }); key.value = ''; pem.value = ''; });
    });
    certs.appendChild(h('h3', null, 'Add a certificate'));
    certs.appendChild(request);
    certs.appendChild(upload);
  }

  async function load() {
    var d = await gql(READ, { id: ctx.customerId });
    if (!ctx.current()) return;
    drawDomains(d.customer);
    drawCerts(d.certificates);
  }
  load().catch(function (err) { if (ctx.current()) showError(errors, err); });
  var stop = subscribe(WATCH, { customerId: ctx.customerId }, {
    next: function () { if (ctx.current()) load().catch(function (err) { showError(errors, err); }); },
    error: function (err) { if (ctx.current()) showError(errors, err); },
  });
  return stop;
}

registerPage({ id: 'domains', title: 'Domains and certificates', order: 30, needs: 'customer.read', render: render });
`;
