/**
 * `cdn edge` over HTTPS as real processes: a cluster of two workers (HTTPS port 0 learned
 * by the primary like the plain one) where every worker serves TLS with the customer's
 * certificate from a customers file, a session ticket from either worker resumes on the other,
 * and on a separate edge process started with the same CDN_SECRET_KEY — never on one with
 * another secret.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { createCertificateAuthority } from '../../src/bin/demo-pki';
import { startDemoOrigin } from '../../src/demo/demo-origin';
import { eventually, logLines, spawnCdn, type CdnProcess } from '../support/processes';

const SECRET = 'cluster-tls-secret-key-0123456789abcdef';
const HOST = 'cdn.cluster-tls.test';


/** A TLS handshake on a fresh connection: whether the session was resumed, the certificate's names and the session to resume next. */
function handshake(port: number, ca: string, session?: Buffer): Promise<{ reused: boolean; names: string; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    const options: ConnectionOptions = { host: '127.0.0.1', port, servername: HOST, ca, ...(session === undefined ? {} : { session }) };
    const socket = tlsConnect(options);
    let ticket: Buffer | undefined;
    socket.on('session', (s: Buffer) => (ticket ??= s));
    socket.once('secureConnect', () => {
      const reused = socket.isSessionReused();
      const names = socket.getPeerCertificate().subjectaltname ?? '';
      // TLS 1.3 tickets follow the handshake.
      setTimeout(() => {
        socket.end();
        resolve({ reused, names, session: ticket });
      }, reused ? 0 : 100);
    });
    socket.once('error', reject);
  });
}

/** GET over HTTPS (HTTP/1.1) on a fresh connection. */
function get(port: number, ca: string, target: string): Promise<{ status: number; cache: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, servername: HOST, ca, path: target, headers: { host: HOST }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, cache: String(res.headers['x-cache']), body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('every cluster worker serves HTTPS with the customer certificate; tickets resume across workers and on another edge process with the same secret, not with another', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgeplane-cluster-tls-'));
  const origin = await startDemoOrigin({ customerId: 'cluster-tls' });
  const ca = await createCertificateAuthority('Edgeplane Test CA');
  const leaf = await ca.issue([HOST]);
  const file = path.join(dir, 'customers.json');
  await writeFile(
    file,
    JSON.stringify([{ id: 'cluster-tls', originUrl: origin.url, domains: [HOST], tls: { certificates: [{ certPem: leaf.chainPem, keyPem: leaf.keyPem }], httpsRedirect: false } }]),
  );
  const env = (dataDir: string, extra: Record<string, string> = {}): Record<string, string | undefined> => ({
    REDIS_URL: undefined,
    CDN_SECRET_KEY: SECRET,
    CDN_ALLOW_PRIVATE_ORIGINS: 'true',
    CDN_DATA_DIR: dataDir,
    CDN_EDGE_PORT: '0',
    CDN_EDGE_ADMIN_PORT: '0',
    CDN_EDGE_TLS_PORT: '0',
    ...extra,
  });
  const cluster = spawnCdn(['edge', '--config', file], env(path.join(dir, 'cluster'), { CDN_EDGE_WORKERS: '2' }));
  const single = spawnCdn(['edge', '--config', file], env(path.join(dir, 'single'), { CDN_EDGE_WORKERS: '1' }));
  const stranger = spawnCdn(['edge', '--config', file], env(path.join(dir, 'stranger'), { CDN_EDGE_WORKERS: '1', CDN_SECRET_KEY: 'another-secret-key-0123456789abcdefghij' }));
  const codes: Array<number | null> = [];
  try {
    const [listening, singleListening, strangerListening] = await Promise.all([cluster.waitForLog('edge listening'), single.waitForLog('edge listening'), stranger.waitForLog('edge listening')]);
    const tlsUrl = new URL(String(listening.tlsUrl));
    const port = Number(tlsUrl.port);
    assert.ok(port > 0);
    assert.notEqual(String(listening.tlsUrl), String(listening.url));
    const workers = logLines(cluster, 'edge worker listening');
    assert.equal(workers.length, 2);
    assert.deepEqual(
      workers.map((w) => w.tlsPort),
      [port, port],
      'both workers listen on the HTTPS port the primary announced',
    );

    // Fresh connections until both workers have answered over TLS (request lines carry a worker field).
    const first = await get(port, ca.certPem, '/tls.json');
    assert.equal(first.status, 200, first.body);
    let sent = 1;
    const workersSeen = async (): Promise<Set<unknown>> => {
      await eventually(async () => logLines(cluster, 'request').length >= sent, 5_000, 'request log lines');
      return new Set(logLines(cluster, 'request').map((l) => l.worker));
    };
    while ((await workersSeen()).size < 2 && sent < 60) {
      const res = await get(port, ca.certPem, '/tls.json');
      assert.equal(res.cache, 'HIT', 'one cache for both workers');
      sent += 1;
    }
    assert.equal((await workersSeen()).size, 2, `both workers served HTTPS after ${sent} connections`);

    // Resumption: one ticket, many fresh connections spread over both workers: all resumed.
    const issued = await handshake(port, ca.certPem);
    assert.equal(issued.reused, false);
    assert.match(issued.names, new RegExp(`DNS:${HOST.replace(/\./g, '\\.')}`));
    assert.ok(issued.session !== undefined);
    const metrics = async (): Promise<string> => (await fetch(`${String(listening.admin)}/metrics`)).text();
    for (let i = 0; i < 16; i += 1) assert.equal((await handshake(port, ca.certPem, issued.session)).reused, true, `connection ${i} resumed`);
    await eventually(async () => /cdn_edge_tls_handshakes_total\{version="TLSv1\.3",resumed="true"\} 16/.test(await metrics()), 5_000, 'resumed handshakes summed over the workers');

    const other = await handshake(Number(new URL(String(singleListening.tlsUrl)).port), ca.certPem, issued.session);
    assert.equal(other.reused, true, 'another edge process with the same CDN_SECRET_KEY resumes the session');
    const foreign = await handshake(Number(new URL(String(strangerListening.tlsUrl)).port), ca.certPem, issued.session);
    assert.equal(foreign.reused, false, 'an edge with another secret cannot');
    assert.match(foreign.names, new RegExp(HOST.replace(/\./g, '\\.')));
  } finally {
    for (const p of [cluster, single, stranger]) codes.push(await p.stop());
    await origin.close();
    await rm(dir, { recursive: true, force: true });
  }
  assert.deepEqual(codes, [0, 0, 0], `every edge exits 0 after draining. Output:\n${cluster.output().slice(-3000)}`);
});
