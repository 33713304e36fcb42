/**
 * TLS session resumption across edges: session ticket keys derive from CDN_SECRET_KEY and the
 * time epoch (edge/tls/ticket-keys.ts), so a ticket one edge issued resumes the session on any
 * other edge with the same secret (TLS 1.3 and 1.2), and on none with another secret. The
 * same across processes: test/e2e/edge-cluster-tls.e2e.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createCertificateAuthority, type CertificateAuthority } from '../../src/bin/demo-pki';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createStaticCustomerFeed } from '../../src/edge/sync/static-feed';
import { rotateTicketKeys, TICKET_KEY_EPOCH_MS, ticketEpochAt, ticketKeysFor } from '../../src/edge/tls/ticket-keys';
import { customer, customerTls, edgeCertificate, edgeConfig, eventually, handshake, pemFile, run, silentLogger, tempDir } from './edge.harness';

const OTHER_SECRET = 'another-edge-secret-0123456789abcdefghij';

let root: Awaited<ReturnType<typeof tempDir>>;
let ca: CertificateAuthority;
let first: EdgeHandle;
let second: EdgeHandle;
let stranger: EdgeHandle;

before(async () => {
  root = await tempDir();
  ca = await createCertificateAuthority('Edgeplane Test CA');
  const leaf = await ca.issue(['cdn.a.test']);
  const customers = (secret?: string) =>
    createStaticCustomerFeed([customer('customer-a', 'http://127.0.0.1:9', ['cdn.a.test'], { tls: customerTls([edgeCertificate(leaf, ['cdn.a.test'], { id: 'cert-a', secret })]) })]);
  first = await startEdge(edgeConfig(path.join(root.dir, 'first')), { customers: customers(), logger: silentLogger });
  second = await startEdge(edgeConfig(path.join(root.dir, 'second')), { customers: customers(), logger: silentLogger });
  stranger = await startEdge(edgeConfig(path.join(root.dir, 'stranger'), { CDN_SECRET_KEY: OTHER_SECRET }), { customers: customers(OTHER_SECRET), logger: silentLogger });
});

after(async () => {
  await Promise.all([first?.close(), second?.close(), stranger?.close()]);
  await root?.remove();
});

async function resumed(edge: EdgeHandle): Promise<number> {
  const text = await edge.metrics.registry.metrics();
  return [...text.matchAll(/^cdn_edge_tls_handshakes_total\{version="TLSv1\.\d",resumed="true"\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  test(`${version}: a session ticket from one edge resumes on another edge with the same CDN_SECRET_KEY, not on one with another secret`, async () => {
    const issued = await handshake(first.tlsPort!, 'cdn.a.test', ca.certPem, { maxVersion: version });
    issued.socket.end();
    assert.equal(issued.protocol, version);
    assert.equal(issued.reused, false);
    assert.ok(issued.session !== undefined, 'a session ticket was issued');

    const before = await resumed(second);
    const again = await handshake(second.tlsPort!, 'cdn.a.test', ca.certPem, { maxVersion: version, session: issued.session });
    again.socket.end();
    assert.equal(again.reused, true, 'resumed on the other edge');
    await eventually(async () => (await resumed(second)) === before + 1, 2_000, 'the resumed handshake counted');
    const home = await handshake(first.tlsPort!, 'cdn.a.test', ca.certPem, { maxVersion: version, session: issued.session });
    home.socket.end();
    assert.equal(home.reused, true, 'and on the edge that issued it');

    // Another secret: the ticket cannot be opened, a full handshake follows (and succeeds).
    const other = await handshake(stranger.tlsPort!, 'cdn.a.test', ca.certPem, { maxVersion: version, session: issued.session });
    other.socket.end();
    assert.equal(other.reused, false);
    assert.deepEqual(other.names, ['cdn.a.test']);
  });
}

for (const flag of ['-tls1_3', '-tls1_2'] as const) {
  test(`openssl s_client ${flag}: a session saved from one edge is reused on the other (-sess_out, -sess_in)`, async () => {
    const caFile = await pemFile(root.dir, 'resumption-ca.pem', ca.certPem);
    const session = path.join(root.dir, `session${flag}.pem`);
    // An HTTP/1.0 request, so the edge answers and closes: s_client reads the TLS 1.3 ticket,
    // which comes after the handshake, before it exits.
    const request = 'GET / HTTP/1.0\r\nHost: cdn.a.test\r\n\r\n';
    const common = ['-servername', 'cdn.a.test', '-CAfile', caFile, '-verify_return_error', '-ign_eof', flag];
    const issued = await run('openssl', ['s_client', '-connect', `127.0.0.1:${first.tlsPort}`, ...common, '-sess_out', session], request);
    assert.equal(issued.code, 0, issued.stderr);
    assert.match(issued.stdout, /^New, TLSv1\.[23]/m);
    const again = await run('openssl', ['s_client', '-connect', `127.0.0.1:${second.tlsPort}`, ...common, '-sess_in', session], request);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^Reused, TLSv1\.[23]/m, 'resumed on the other edge');
    const other = await run('openssl', ['s_client', '-connect', `127.0.0.1:${stranger.tlsPort}`, ...common, '-sess_in', session], request);
    assert.match(other.stdout, /^New, TLSv1\.[23]/m, 'not on an edge with another secret');
  });
}

test('ticket keys: the same for a secret and an epoch, different for another epoch or secret; rotated at the epoch boundary', async () => {
  const secret = 'edge-test-secret-key-0123456789abcdefgh';
  const epoch = ticketEpochAt(Date.now());
  assert.equal(ticketKeysFor(secret, epoch).length, 48);
  assert.deepEqual(ticketKeysFor(secret, epoch), ticketKeysFor(secret, epoch));
  assert.notDeepEqual(ticketKeysFor(secret, epoch), ticketKeysFor(secret, epoch + 1));
  assert.notDeepEqual(ticketKeysFor(secret, epoch), ticketKeysFor(OTHER_SECRET, epoch));
  assert.equal(ticketEpochAt(epoch * TICKET_KEY_EPOCH_MS), epoch);
  assert.equal(ticketEpochAt((epoch + 1) * TICKET_KEY_EPOCH_MS - 1), epoch);

  // 30 ms before a boundary: the current keys now, the next epoch's just after the boundary.
  const set: Buffer[] = [];
  const start = Date.now();
  const clock = (): number => (epoch + 1) * TICKET_KEY_EPOCH_MS - 30 + (Date.now() - start);
  const stop = rotateTicketKeys({ setTicketKeys: (keys) => set.push(keys) }, secret, clock);
  try {
    assert.deepEqual(set, [ticketKeysFor(secret, epoch)]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.deepEqual(set, [ticketKeysFor(secret, epoch), ticketKeysFor(secret, epoch + 1)]);
  } finally {
    stop();
  }
});
