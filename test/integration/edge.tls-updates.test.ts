/**
 * Certificates follow customer updates over the change bus (MemoryBus; the Redis bus honours
 * the same contract): a replaced certificate is presented to the next handshake without a
 * restart while an existing h2 connection keeps working on the old one; contexts of
 * certificates no longer referenced are dropped; a certificate whose key cannot be opened is
 * logged once and skipped for the next best one.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { Writable } from 'node:stream';
import { MemoryBus } from '../../src/bus/memory-bus';
import type { CustomerConfig } from '../../src/core/customer.types';
import { createCertificateAuthority, type CertificateAuthority, type Leaf } from '../../src/bin/demo-pki';
import { startEdge, type EdgeHandle } from '../../src/edge/server';
import { createBusCustomerFeed } from '../../src/edge/sync/bus-sync';
import { createLogger } from '../../src/obs/logger.factory';
import { customer, customerTls, edgeCertificate, edgeConfig, eventually, h2Request, h2Session, handshake, startScriptedOrigin, tempDir, type ScriptedOrigin } from './edge.harness';
import { Relay } from '../support/bus-relay';

let root: Awaited<ReturnType<typeof tempDir>>;
let ca: CertificateAuthority;
let origin: ScriptedOrigin;
let relay: Relay;
let edge: EdgeHandle;
const logs: Array<Record<string, unknown>> = [];
let version = 0;

function customerA(certificates: ReturnType<typeof edgeCertificate>[]): CustomerConfig {
  version += 1;
  return customer('customer-a', origin.url, ['cdn.a.test'], { version, tls: customerTls(certificates) });
}

function serial(pem: string): string {
  return new X509Certificate(pem).serialNumber;
}

async function presented(name = 'cdn.a.test'): Promise<string | undefined> {
  try {
    const hs = await handshake(edge.tlsPort!, name, ca.certPem);
    hs.socket.end();
    return hs.certificate.serialNumber;
  } catch {
    return undefined;
  }
}

async function contexts(): Promise<number> {
  return Number(/^cdn_edge_tls_contexts (\d+)$/m.exec(await edge.metrics.registry.metrics())?.[1]);
}

before(async () => {
  root = await tempDir();
  ca = await createCertificateAuthority('Edgeplane Test CA');
  origin = await startScriptedOrigin((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
    res.end(`origin ${req.url}`);
  });
  const bus = new MemoryBus();
  relay = new Relay(bus);
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.startsWith('{')) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const logger = createLogger({ name: 'edge', level: 'warn', destination });
  const dataDir = path.join(root.dir, 'data');
  const customers = createBusCustomerFeed(bus, { dataDir, logger, blockMs: 200, retryMinMs: 20, retryMaxMs: 100 });
  edge = await startEdge(edgeConfig(dataDir), { customers, logger });
});

after(async () => {
  await edge?.close();
  await origin?.close();
  await root?.remove();
});

async function leaf(notAfterDays = 30): Promise<Leaf> {
  return ca.issue(['cdn.a.test'], { notAfter: new Date(Date.now() + notAfterDays * 24 * 3600_000) });
}

test('a certificate replaced by a customer update is presented to the next handshake (well under a second, no restart); an h2 connection open before keeps working', async () => {
  const [one, two] = await Promise.all([leaf(), leaf()]);
  await relay.upsert(customerA([edgeCertificate(one, ['cdn.a.test'], { id: 'cert-one' })]));
  await eventually(async () => (await presented()) === serial(one.certPem), 5_000, 'the first certificate presented');

  const session = await h2Session(edge.tlsPort!, 'cdn.a.test', ca.certPem);
  try {
    assert.equal((await h2Request(session, '/before')).body, 'origin /before');
    const started = Date.now();
    await relay.upsert(customerA([edgeCertificate(two, ['cdn.a.test'], { id: 'cert-two' })]));
    const took = await eventually(async () => (await presented()) === serial(two.certPem), 5_000, 'the new certificate presented');
    assert.ok(Date.now() - started < 1_000, `took ${took} ms`);
    // The connection made before the change: still open, still the old certificate, still serving.
    const socket = session.socket as import('node:tls').TLSSocket;
    assert.equal(socket.getPeerCertificate().serialNumber, serial(one.certPem));
    assert.equal((await h2Request(session, '/after')).body, 'origin /after');
    assert.equal(session.closed, false);
  } finally {
    session.close();
  }
  // Only the certificate still referenced holds a context.
  assert.equal(await contexts(), 1);
});

test('the same certificate id with new material gets a new context; a customer without certificates gets none, and its contexts are dropped', async () => {
  const [renewed, again] = await Promise.all([leaf(), leaf()]);
  await relay.upsert(customerA([edgeCertificate(renewed, ['cdn.a.test'], { id: 'cert-same' })]));
  await eventually(async () => (await presented()) === serial(renewed.certPem), 5_000, 'the renewed certificate');
  await relay.upsert(customerA([edgeCertificate(again, ['cdn.a.test'], { id: 'cert-same' })]));
  await eventually(async () => (await presented()) === serial(again.certPem), 5_000, 'new material under the same id');
  assert.equal(await contexts(), 1);

  await relay.upsert(customerA([]));
  await eventually(async () => (await presented()) === undefined, 5_000, 'the handshake fails once the certificate is gone');
  assert.equal(await contexts(), 0, 'no context is kept for a certificate no customer has');
});

test('a certificate whose key cannot be opened (sealed with another CDN_SECRET_KEY) is logged once and skipped: the next best certificate is presented', async () => {
  const [good, unreadable] = await Promise.all([leaf(20), leaf(60)]);
  // The unreadable one is valid longer, so it is tried first.
  await relay.upsert(
    customerA([
      edgeCertificate(good, ['cdn.a.test'], { id: 'cert-good' }),
      edgeCertificate(unreadable, ['cdn.a.test'], { id: 'cert-unreadable', secret: 'some-other-secret-0123456789abcdefghijk' }),
    ]),
  );
  await eventually(async () => (await presented()) === serial(good.certPem), 5_000, 'the readable certificate presented');
  for (let i = 0; i < 3; i += 1) assert.equal(await presented(), serial(good.certPem));
  const errors = logs.filter((l) => l.certificate === 'cert-unreadable');
  assert.equal(errors.length, 1, 'logged once, not per handshake');
  assert.equal(errors[0]!.code, 'CDN_ERR_SECRET_UNREADABLE');
  assert.match(String(errors[0]!.msg), /CDN_SECRET_KEY/);
  assert.doesNotMatch(JSON.stringify(logs), /PRIVATE KEY/, 'no key material in the logs');

  // Only the unreadable one: no certificate at all rather than another one.
  await relay.upsert(customerA([edgeCertificate(unreadable, ['cdn.a.test'], { id: 'cert-unreadable-2', secret: 'some-other-secret-0123456789abcdefghijk' })]));
  await eventually(async () => (await presented()) === undefined, 5_000, 'nothing presented');
});
