/**
 * The ACME issuer (src/api/services/acme.client.ts) against a real ACME server: a private
 * Debian `pebble` on loopback (test/support/pebble.ts), whose DNS (pebble-challtestsrv)
 * sends every name to 127.0.0.1. A plain node:http server stands in for the edge's plain
 * port and answers /.well-known/acme-challenge/<token> from what `publish` gave it, the way
 * the edges will from the tokens they get over the bus.
 *
 * Pebble runs with PEBBLE_AUTHZREUSE=100: an account that proved a name gets that valid
 * authorization back in its next order for it, with no challenge. That is how the tests see
 * that a stored account key is the same account; every other test uses names of its own.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { get } from 'node:https';
import { createServer as createTcpServer, type Socket } from 'node:net';
import * as acme from 'acme-client';
import { AcmeIssueError, createAcmeIssuer, type AcmeIssuer, type AcmeIssuerOptions, type HttpChallenge } from '../../src/api/services/acme.client';
import { createLogger } from '../../src/obs/logger.factory';
import { startPebble, type Pebble } from '../support/pebble';
import { freePort } from '../support/redis-server';

const VALIDITY_SECONDS = 3600;
const CHALLENGE_PATH = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/;

/** The edge's plain port, as far as HTTP-01 goes: tokens published, requests seen. */
interface StandInEdge {
  port: number;
  challenges: Map<string, HttpChallenge>;
  /** Hosts (without port) answered 404 even when their token is published. */
  refuse: Set<string>;
  /** `host path -> status` of every request pebble made. */
  seen: string[];
  close(): Promise<void>;
}

async function startStandInEdge(): Promise<StandInEdge> {
  const challenges = new Map<string, HttpChallenge>();
  const refuse = new Set<string>();
  const seen: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    const token = CHALLENGE_PATH.exec(req.url ?? '')?.[1];
    const challenge = token === undefined ? undefined : challenges.get(token);
    // As the edge must: the token is answered for the domain it was issued for only.
    const status = challenge !== undefined && challenge.domain === host && !refuse.has(host) ? 200 : 404;
    seen.push(`${host} ${req.url ?? ''} -> ${status}`);
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status === 200 ? challenge!.keyAuthorization : 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    challenges,
    refuse,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** publish/unpublish that keep the stand-in's tokens and record every call. */
function edgeHooks(edge: StandInEdge): { published: HttpChallenge[]; unpublished: HttpChallenge[]; publish(c: HttpChallenge): void; unpublish(c: HttpChallenge): void } {
  const published: HttpChallenge[] = [];
  const unpublished: HttpChallenge[] = [];
  return {
    published,
    unpublished,
    publish(c) {
      published.push(c);
      edge.challenges.set(c.token, c);
    },
    unpublish(c) {
      unpublished.push(c);
      edge.challenges.delete(c.token);
    },
  };
}

const logger = createLogger({ name: 'acme-test', level: 'silent' });
let pebble: Pebble;
let edge: StandInEdge;
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  edge = await startStandInEdge();
  cleanups.push(() => edge.close());
  pebble = await startPebble({
    httpPort: edge.port,
    certificateValiditySeconds: VALIDITY_SECONDS,
    authzReusePercent: 100,
    domainBlocklist: ['blocked.customer-h.test'],
  });
  cleanups.push(() => pebble.stop());
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

function issuer(options: Partial<AcmeIssuerOptions> = {}): AcmeIssuer {
  return createAcmeIssuer({
    directoryUrl: pebble.directoryUrl,
    caPem: pebble.caPem,
    email: 'ops@customer-a.test',
    logger,
    polling: { minMs: 50, maxMs: 500, timeoutMs: 30_000 },
    ...options,
  });
}

const pemBlocks = (pem: string): string[] => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
const dnsNames = (cert: X509Certificate): string[] =>
  (cert.subjectAltName ?? '')
    .split(', ')
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4))
    .sort();
const byToken = (list: HttpChallenge[]): string[] => list.map((c) => `${c.domain} ${c.token}`).sort();

async function rejection(promise: Promise<unknown>): Promise<AcmeIssueError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof AcmeIssueError, `expected an AcmeIssueError, got ${String(err)}`);
    return err;
  }
  assert.fail('issue() resolved; it should have failed');
}

test('a certificate for two names: HTTP-01 answered by the stand-in edge, chain to pebble\'s root, the names asked, its own key, the configured validity', async () => {
  const acmeIssuer = issuer();
  const hooks = edgeHooks(edge);
  const domains = ['cdn.customer-a.test', 'www.customer-a.test'];
  const issued = await acmeIssuer.issue({ domains, publish: hooks.publish, unpublish: hooks.unpublish });

  // One HTTP-01 challenge per name, fetched by pebble from the stand-in with the name as Host, then unpublished.
  assert.deepEqual(hooks.published.map((c) => c.domain).sort(), domains);
  for (const c of hooks.published) {
    assert.match(c.keyAuthorization, new RegExp(`^${c.token}\\.[A-Za-z0-9_-]{43}$`));
    assert.ok(edge.seen.includes(`${c.domain} /.well-known/acme-challenge/${c.token} -> 200`), `pebble fetched ${c.domain}'s token: ${edge.seen.join('; ')}`);
  }
  assert.deepEqual(byToken(hooks.unpublished), byToken(hooks.published));
  assert.equal(edge.challenges.size, 0);

  // The chain as pebble returned it: leaf, intermediate; each signed by the next, the last by pebble's root.
  const chain = pemBlocks(issued.certPem).map((pem) => new X509Certificate(pem));
  assert.ok(chain.length >= 2, `a leaf and its intermediate, got ${chain.length} certificates`);
  const root = new X509Certificate(pebble.issuerRootPem);
  for (const [i, cert] of chain.entries()) {
    const issuerCert = chain[i + 1] ?? root;
    assert.ok(cert.checkIssued(issuerCert), `${cert.subject} is issued by ${issuerCert.subject}`);
    assert.ok(cert.verify(issuerCert.publicKey), `${cert.subject}'s signature verifies with ${issuerCert.subject}'s key`);
  }
  const leaf = chain[0]!;
  assert.equal(leaf.ca, false);
  assert.deepEqual(dnsNames(leaf), domains);

  // A new ECDSA P-256 key for this certificate, matching it; the account key is another one.
  const key = createPrivateKey(issued.keyPem);
  assert.equal(key.asymmetricKeyType, 'ec');
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(leaf.checkPrivateKey(key));
  assert.notEqual(issued.keyPem, acmeIssuer.accountKeyPem());
  assert.equal(createPrivateKey(acmeIssuer.accountKeyPem()).asymmetricKeyDetails?.namedCurve, 'prime256v1');

  // Validity: what pebble was configured with (certificateValidityPeriod), read from the leaf.
  assert.equal(issued.notBefore.getTime(), leaf.validFromDate.getTime());
  assert.equal(issued.notAfter.getTime(), leaf.validToDate.getTime());
  const lifetime = (issued.notAfter.getTime() - issued.notBefore.getTime()) / 1000;
  assert.ok(Math.abs(lifetime - VALIDITY_SECONDS) <= 2, `lifetime ${lifetime} s, configured ${VALIDITY_SECONDS} s`);
  assert.ok(Math.abs(issued.notBefore.getTime() - Date.now()) < 120_000, 'valid from about now');
});

test('a stored account key is the same account: a second issuer made from it gets its valid authorizations back (no challenge); a new key starts from scratch', async () => {
  const domains = ['cdn.customer-b.test'];
  const first = issuer();
  const firstHooks = edgeHooks(edge);
  await first.issue({ domains, publish: firstHooks.publish, unpublish: firstHooks.unpublish });
  assert.equal(firstHooks.published.length, 1);

  // The same issuer again, and a new issuer from the stored key (the api after a restart).
  const again = edgeHooks(edge);
  const renewed = await first.issue({ domains, publish: again.publish, unpublish: again.unpublish });
  assert.equal(again.published.length, 0, 'the account proved the name already');
  const restarted = issuer({ accountKeyPem: first.accountKeyPem() });
  assert.equal(restarted.accountKeyPem(), first.accountKeyPem());
  const restartedHooks = edgeHooks(edge);
  const fromStoredKey = await restarted.issue({ domains, publish: restartedHooks.publish, unpublish: restartedHooks.unpublish });
  assert.equal(restartedHooks.published.length, 0, 'the stored key is the same account');
  assert.notEqual(fromStoredKey.keyPem, renewed.keyPem, 'each certificate has a key of its own');
  assert.deepEqual(dnsNames(new X509Certificate(fromStoredKey.certPem)), domains);

  const stranger = issuer();
  const strangerHooks = edgeHooks(edge);
  await stranger.issue({ domains, publish: strangerHooks.publish, unpublish: strangerHooks.unpublish });
  assert.equal(strangerHooks.published.length, 1, 'a new account proves the name itself');
});

test('a challenge the edge answers 404: rejected naming the domain, the URL and what pebble said; every published challenge unpublished; then a clean request succeeds', async () => {
  const acmeIssuer = issuer();
  const hooks = edgeHooks(edge);
  edge.refuse.add('missing.customer-c.test');
  const err = await rejection(
    acmeIssuer.issue({ domains: ['ok.customer-c.test', 'missing.customer-c.test'], publish: hooks.publish, unpublish: hooks.unpublish }),
  );
  const refused = hooks.published.find((c) => c.domain === 'missing.customer-c.test');
  assert.ok(refused !== undefined);
  assert.equal(err.stage, 'validation');
  assert.deepEqual(err.domains, ['missing.customer-c.test']);
  assert.equal(err.acmeType, 'urn:ietf:params:acme:error:unauthorized');
  assert.ok(err.message.includes(`HTTP-01 validation of missing.customer-c.test failed`), err.message);
  assert.ok(err.message.includes(`http://missing.customer-c.test/.well-known/acme-challenge/${refused.token}`), err.message);
  assert.match(err.message, /404/);
  assert.doesNotMatch(err.message, /validation of ok\.customer-c\.test/);
  assert.equal(hooks.published.length, 2);
  assert.deepEqual(byToken(hooks.unpublished), byToken(hooks.published));
  assert.equal(edge.challenges.size, 0);

  // The same issuer, once the edge answers: issued.
  edge.refuse.delete('missing.customer-c.test');
  const clean = edgeHooks(edge);
  const issued = await acmeIssuer.issue({ domains: ['ok.customer-c.test', 'missing.customer-c.test'], publish: clean.publish, unpublish: clean.unpublish });
  assert.deepEqual(dnsNames(new X509Certificate(issued.certPem)), ['missing.customer-c.test', 'ok.customer-c.test']);
  assert.deepEqual(byToken(clean.unpublished), byToken(clean.published));
});

test('nothing listening on the HTTP-01 port: rejected naming the domain and the refused connection; the challenge unpublished', async () => {
  const deaf = await startPebble({ httpPort: await freePort(), certificateValiditySeconds: VALIDITY_SECONDS });
  cleanups.push(() => deaf.stop());
  const acmeIssuer = issuer({ directoryUrl: deaf.directoryUrl, caPem: deaf.caPem });
  const published: HttpChallenge[] = [];
  const unpublished: HttpChallenge[] = [];
  const err = await rejection(
    acmeIssuer.issue({ domains: ['cdn.customer-d.test'], publish: (c) => void published.push(c), unpublish: (c) => void unpublished.push(c) }),
  );
  assert.equal(err.stage, 'validation');
  assert.deepEqual(err.domains, ['cdn.customer-d.test']);
  assert.equal(err.acmeType, 'urn:ietf:params:acme:error:connection');
  assert.ok(err.message.includes(`http://cdn.customer-d.test/.well-known/acme-challenge/${published[0]!.token}`), err.message);
  assert.match(err.message, /connection refused/i);
  assert.equal(published.length, 1);
  assert.deepEqual(unpublished, published);
  await deaf.stop();
});

test('many names failing: the first three told in full, the others named, one hint', async () => {
  const acmeIssuer = issuer();
  const hooks = edgeHooks(edge);
  const domains = ['a.customer-i.test', 'b.customer-i.test', 'c.customer-i.test', 'd.customer-i.test', 'e.customer-i.test'];
  for (const d of domains) edge.refuse.add(d);
  const err = await rejection(acmeIssuer.issue({ domains, publish: hooks.publish, unpublish: hooks.unpublish }));
  for (const d of domains) edge.refuse.delete(d);
  assert.deepEqual(err.domains, domains);
  assert.equal(err.message.match(/HTTP-01 validation of [a-c]\.customer-i\.test failed/g)?.length, 3, err.message);
  assert.match(err.message, /Validation of 2 more failed too: d\.customer-i\.test, e\.customer-i\.test\. Check that these names resolve to the edges/);
  assert.equal(err.message.match(/Check that/g)?.length, 1);
  assert.deepEqual(byToken(hooks.unpublished), byToken(hooks.published));
});

test("a name the CA refuses to order: rejected naming it, with the CA's words and problem type", async () => {
  const hooks = edgeHooks(edge);
  const err = await rejection(issuer().issue({ domains: ['cdn.customer-h.test', 'blocked.customer-h.test'], publish: hooks.publish, unpublish: hooks.unpublish }));
  assert.equal(err.stage, 'order');
  assert.equal(err.acmeType, 'urn:ietf:params:acme:error:rejectedIdentifier');
  assert.match(err.message, /^Ordering a certificate for cdn\.customer-h\.test, blocked\.customer-h\.test failed: the ACME server said: .*blocked\.customer-h\.test.*\(urn:ietf:params:acme:error:rejectedIdentifier\)\.$/);
  assert.equal(hooks.published.length, 0);
});

test('no retries inside: an ACME server answering 503, or not at all, is asked once and the failure says so', async () => {
  let requests = 0;
  const unavailable = createServer((_req, res) => {
    requests += 1;
    res.writeHead(503, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:serverInternal', detail: 'down for maintenance' }));
  });
  await new Promise<void>((resolve) => unavailable.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => unavailable.close(resolve)));
  const unavailableUrl = `http://127.0.0.1:${(unavailable.address() as { port: number }).port}/dir`;
  const never = (): void => assert.fail('nothing is published');
  const err = await rejection(issuer({ directoryUrl: unavailableUrl }).issue({ domains: ['cdn.customer-j.test'], publish: never, unpublish: never }));
  assert.equal(err.stage, 'account');
  assert.match(err.message, /^Registering the ACME account for cdn\.customer-j\.test failed: the ACME server said: .*503/);
  assert.equal(requests, 1, 'asked once: the caller backs off, not the issuer');

  // Accepts connections and never answers.
  const sockets: Socket[] = [];
  const silent = createTcpServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => silent.close(resolve)));
  const silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}/dir`;
  const started = Date.now();
  const timedOut = await rejection(issuer({ directoryUrl: silentUrl, requestTimeoutMs: 300 }).issue({ domains: ['cdn.customer-j.test'], publish: never, unpublish: never }));
  assert.ok(Date.now() - started < 5_000);
  assert.equal(timedOut.message, `Registering the ACME account for cdn.customer-j.test failed: the ACME server did not answer GET ${silentUrl} within 300 ms.`);
  assert.equal(sockets.length, 1, 'one connection: no retry');
  for (const s of sockets) s.destroy();
});

test("pebble's CA is trusted by each issue's own requests only: not by the process's other HTTPS clients, nor by another issuer, even while an issue trusting it is under way", async () => {
  // A trusting issue, held in publish (its requests are done, its agents alive) while the rest is checked.
  let published!: () => void;
  const inPublish = new Promise<void>((resolve) => (published = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const hooks = edgeHooks(edge);
  const trusting = issuer().issue({
    domains: ['cdn.customer-e.test'],
    publish: async (c) => {
      hooks.publish(c);
      published();
      await released;
    },
    unpublish: hooks.unpublish,
  });
  trusting.catch(() => {}); // awaited below; a failure before then must not go unhandled
  await inPublish;

  try {
    // acme-client's axios words any connection error as "Cannot read properties of undefined
    // (reading 'config')" (publishlab/node-acme-client#101); that it fails at all is the point.
    await assert.rejects(acme.axios.get(pebble.directoryUrl), "acme-client's axios outside an issue");
    await assert.rejects(fetch(pebble.directoryUrl), (err: Error) => (err.cause as { code?: string }).code === 'SELF_SIGNED_CERT_IN_CHAIN');
    await assert.rejects(
      new Promise((resolve, reject) => get(pebble.directoryUrl, resolve).on('error', reject)),
      (err: NodeJS.ErrnoException) => err.code === 'SELF_SIGNED_CERT_IN_CHAIN',
    );
    const untrusting = issuer({ caPem: undefined });
    const never = (): void => assert.fail('nothing is published before the account exists');
    const err = await rejection(untrusting.issue({ domains: ['www.customer-e.test'], publish: never, unpublish: never }));
    assert.equal(err.stage, 'account');
    assert.match(err.message, /cannot reach the ACME server at localhost:\d+: self[- ]signed certificate/i);
    assert.match(err.message, /CDN_ACME_CA_FILE/);
  } finally {
    release();
  }
  const issued = await trusting;
  assert.deepEqual(dnsNames(new X509Certificate(issued.certPem)), ['cdn.customer-e.test']);
});

test('cancelled through the signal: rejected as cancelled, the challenge unpublished', async () => {
  const acmeIssuer = issuer();
  const controller = new AbortController();
  const hooks = edgeHooks(edge);
  const err = await rejection(
    acmeIssuer.issue({
      domains: ['cdn.customer-f.test'],
      signal: controller.signal,
      publish: (c) => {
        hooks.publish(c);
        controller.abort();
      },
      unpublish: hooks.unpublish,
    }),
  );
  assert.equal(err.stage, 'cancelled');
  assert.match(err.message, /cdn\.customer-f\.test.*cancelled/);
  assert.equal(hooks.published.length, 1);
  assert.deepEqual(byToken(hooks.unpublished), byToken(hooks.published));
});

test('names HTTP-01 cannot prove are refused before any request: wildcards, IP addresses, repeats', async () => {
  const acmeIssuer = issuer({ directoryUrl: 'https://127.0.0.1:9/never-contacted' });
  const never = (): void => assert.fail('nothing is published');
  for (const domains of [['*.customer-g.test'], ['192.0.2.1'], ['a.customer-g.test', 'A.customer-g.test'], []]) {
    const err = await rejection(acmeIssuer.issue({ domains, publish: never, unpublish: never }));
    assert.equal(err.stage, 'input', `${JSON.stringify(domains)}: ${err.message}`);
    assert.match(err.message, /^Cannot request a certificate: domains/);
  }
});

test('a stored account key is read in any PEM form of a key ACME servers take, and refused, saying why, otherwise', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const fromPkcs1 = issuer({ accountKeyPem: rsa.export({ format: 'pem', type: 'pkcs1' }).toString() });
  assert.match(fromPkcs1.accountKeyPem(), /^-----BEGIN PRIVATE KEY-----/, 'handed back as PKCS#8, the form acme-client signs with');
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const fromSec1 = issuer({ accountKeyPem: ec.export({ format: 'pem', type: 'sec1' }).toString() });
  assert.equal(fromSec1.accountKeyPem(), ec.export({ format: 'pem', type: 'pkcs8' }).toString());

  const ed25519 = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  assert.throws(() => issuer({ accountKeyPem: ed25519 }), /ACME account key is an ed25519 key/);
  const shortRsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  assert.throws(() => issuer({ accountKeyPem: shortRsa }), /shorter than 2048 bits/);
  assert.throws(() => issuer({ accountKeyPem: 'not a key' }), /not a readable PEM private key/);
});
