/**
 * The checks of an uploaded certificate and key (core/certificate-upload.rules.ts), on real
 * certificates: the demo CA (src/bin/demo-pki.ts) makes the good ones and most bad ones;
 * openssl makes what the demo CA cannot (RSA 1024, ECDSA P-384, Ed25519 and IP-address
 * names, a three-level chain, encrypted keys). Each refusal is checked for its field and
 * for words that say what to fix, and never for the key's own text.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createCertificateAuthority, type CertificateAuthority, type Leaf } from '../../src/bin/demo-pki';
import {
  CERTIFICATE_PEM_MAX_BYTES,
  CHAIN_MAX_CERTIFICATES,
  checkCertificateNames,
  readCertificateUpload,
} from '../../src/core/certificate-upload.rules';
import type { FieldProblem } from '../../src/core/errors';

const DAY = 24 * 3600 * 1000;
const dir = mkdtempSync(path.join(tmpdir(), 'edgeplane-cert-rules-'));
let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
let good: Leaf;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A leaf signed by `issuer` (cert and key PEM files) with a key openssl makes (`keyArgs`) and `sans`. */
function opensslLeaf(issuer: { certPem: string; keyPem: string }, keyArgs: string[], sans: string, extra = 'basicConstraints=critical,CA:FALSE'): { certPem: string; keyPem: string } {
  const name = randomBytes(4).toString('hex');
  writeFileSync(path.join(dir, `${name}-ca.pem`), issuer.certPem);
  writeFileSync(path.join(dir, `${name}-ca.key`), issuer.keyPem);
  writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${sans}\n${extra}\n`);
  openssl('req', '-new', ...keyArgs, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '30', '-out', `${name}.pem`, '-extfile', `${name}.ext`);
  return { certPem: readFileSync(path.join(dir, `${name}.pem`), 'utf8'), keyPem: readFileSync(path.join(dir, `${name}.key`), 'utf8') };
}

function read(certificatePem: string, keyPem: string, now = Date.now()) {
  return readCertificateUpload(certificatePem, keyPem, now);
}

/** The one problem of the reading (it must have exactly one), for its field and message. */
function onlyProblem(certificatePem: string, keyPem: string, now = Date.now()): FieldProblem {
  const { problems, upload } = read(certificatePem, keyPem, now);
  assert.equal(upload, null);
  assert.equal(problems.length, 1, JSON.stringify(problems));
  return problems[0]!;
}

/** The base64 body of a PEM (what must never appear in a message). */
const bodyOf = (pem: string): string => pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----')).join('');

before(async () => {
  ca = await createCertificateAuthority('Test CA');
  otherCa = await createCertificateAuthority('Other CA');
  good = await ca.issue(['cdn.alpha.example', 'www.alpha.example']);
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('accepted', () => {
  test('an ECDSA P-256 leaf with its CA: names, validity, issuer, canonical chain and PKCS#8 key', () => {
    const { problems, upload } = read(`\n${good.chainPem}\n\n`, good.keyPem);
    assert.deepEqual(problems, []);
    assert.ok(upload);
    assert.deepEqual(upload.domains, ['cdn.alpha.example', 'www.alpha.example']);
    assert.equal(upload.issuer, 'CN=Test CA');
    assert.ok(upload.notBefore.getTime() < Date.now() && upload.notAfter.getTime() > Date.now() + 80 * DAY);
    assert.equal(upload.certPem.match(/-----BEGIN CERTIFICATE-----/g)?.length, 2);
    assert.ok(upload.certPem.startsWith(good.certPem.trim()));
    assert.match(upload.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    const same = (a: string, b: string) => createPrivateKey(a).export({ type: 'pkcs8', format: 'der' }).equals(createPrivateKey(b).export({ type: 'pkcs8', format: 'der' }));
    assert.ok(same(upload.keyPem, good.keyPem));
  });

  test('the leaf alone, CRLF line ends, an RSA 2048 key', async () => {
    const rsa = await ca.issue(['rsa.example'], { keyType: 'rsa' });
    const { problems, upload } = read(rsa.certPem.replace(/\n/g, '\r\n'), rsa.keyPem.replace(/\n/g, '\r\n'));
    assert.deepEqual(problems, []);
    assert.deepEqual(upload!.domains, ['rsa.example']);
  });

  test('ECDSA P-384, an EC PRIVATE KEY with its EC PARAMETERS block, a three-level chain in order', () => {
    const p384 = opensslLeaf(ca, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], 'DNS:p384.example');
    assert.deepEqual(read(p384.certPem, p384.keyPem).problems, []);

    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-out', 'sec1.key');
    const sec1Key = readFileSync(path.join(dir, 'sec1.key'), 'utf8');
    assert.match(sec1Key, /BEGIN EC PARAMETERS[\s\S]*BEGIN EC PRIVATE KEY/);
    const sec1 = opensslLeaf(ca, ['-key', 'sec1.key'], 'DNS:sec1.example');
    assert.deepEqual(read(sec1.certPem, sec1Key).problems, []);

    const intermediate = opensslLeaf(ca, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'DNS:unused.example', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign');
    const leaf = opensslLeaf(intermediate, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'DNS:deep.example');
    assert.deepEqual(read([leaf.certPem, intermediate.certPem, ca.certPem].join('\n'), leaf.keyPem).problems, []);
  });
});

describe('certificatePem refused', () => {
  test('garbage, nothing, text around the blocks, a broken block, a non-certificate block', () => {
    assert.match(onlyProblem('hello', good.keyPem).message, /text outside the PEM blocks at line 1/);
    assert.match(onlyProblem('', good.keyPem).message, /holds no PEM certificate/);
    assert.match(onlyProblem(`subject=CN=x\n${good.certPem}`, good.keyPem).message, /text outside the PEM blocks at line 1/);
    assert.match(onlyProblem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', good.keyPem).message, /certificate 1 \(line 1\) is not a valid X\.509 certificate/);
    assert.match(onlyProblem('-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n', good.keyPem).message, /line 2, inside the CERTIFICATE block of line 1, is not base64/);
    assert.match(onlyProblem(good.certPem.replace('-----END CERTIFICATE-----', ''), good.keyPem).message, /has no -----END CERTIFICATE----- line/);
    assert.match(onlyProblem(good.certPem.replace('END CERTIFICATE', 'END X509 CRL'), good.keyPem).message, /ends the CERTIFICATE block of line 1 with -----END X509 CRL-----/);
    const der = Buffer.from(bodyOf(good.certPem), 'base64');
    const padded = `-----BEGIN CERTIFICATE-----\n${Buffer.concat([der, Buffer.from([1, 2, 3])]).toString('base64')}\n-----END CERTIFICATE-----\n`;
    assert.match(onlyProblem(padded, good.keyPem).message, /3 bytes after the certificate/);
    assert.match(onlyProblem(good.certPem.replace(/CERTIFICATE/g, 'X509 CRL'), good.keyPem).message, /holds a X509 CRL block \(line 1\); only CERTIFICATE blocks/);
  });

  test('a private key in certificatePem is refused without quoting it', () => {
    const problem = onlyProblem(`${good.certPem}\n${good.keyPem}`, good.keyPem);
    assert.equal(problem.field, 'certificatePem');
    assert.match(problem.message, /holds a private key \(the -----BEGIN PRIVATE KEY----- block at line \d+\): the key goes in privateKeyPem only/);
    for (const line of bodyOf(good.keyPem).match(/.{1,16}/g)!) assert.ok(!problem.message.includes(line));
  });

  test('control characters, too large, too many certificates', () => {
    assert.match(onlyProblem(good.certPem.replace('\n', '\n\u001b[2J'), good.keyPem).message, /control character U\+001B at line 2/);
    assert.match(onlyProblem(good.certPem.replace('\n', '\t\n'), good.keyPem).message, /U\+0009 at line 1/);
    const big = `${good.certPem}${'\n'.repeat(CERTIFICATE_PEM_MAX_BYTES)}`;
    assert.match(onlyProblem(big, good.keyPem).message, new RegExp(`is ${Buffer.byteLength(big)} bytes, more than ${CERTIFICATE_PEM_MAX_BYTES}`));
    const many = good.chainPem + `\n${ca.certPem}`.repeat(CHAIN_MAX_CERTIFICATES - 1);
    assert.match(onlyProblem(many, good.keyPem).message, new RegExp(`holds ${CHAIN_MAX_CERTIFICATES + 1} certificates, more than ${CHAIN_MAX_CERTIFICATES}`));
  });

  test('chains out of order or from another CA', async () => {
    const reversed = read(`${ca.certPem}\n${good.certPem}`, good.keyPem);
    const messages = reversed.problems.map((p) => `${p.field}: ${p.message}`);
    assert.match(messages[0]!, /^certificatePem: starts with a CA certificate \("CN=Test CA"\): put the server's own \(leaf\) certificate first/);
    assert.match(messages[1]!, /^certificatePem: certificate 1 \("CN=Test CA"\) is not issued and signed by certificate 2 \("CN=cdn\.alpha\.example"\)/);
    assert.match(messages[2]!, /^certificatePem: has no subject alternative names/, 'the names are read from the first certificate');
    assert.match(messages[3]!, /^privateKeyPem: does not belong to the certificate/);

    const foreign = onlyProblem(`${good.certPem}\n${otherCa.certPem}`, good.keyPem);
    assert.match(foreign.message, /certificate 1 \("CN=cdn\.alpha\.example"\) is not issued and signed by certificate 2 \("CN=Other CA"\): certificate 2 is not its issuer/);

    // Same names, other key: the subject matches, the signature does not.
    const impostor = await createCertificateAuthority('Test CA');
    assert.match(onlyProblem(`${good.certPem}\n${impostor.certPem}`, good.keyPem).message, /is not issued and signed by certificate 2 \("CN=Test CA"\)/);

    const intermediate = opensslLeaf(ca, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'DNS:unused.example', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign');
    const leaf = opensslLeaf(intermediate, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'DNS:deep.example');
    const shuffled = read([leaf.certPem, ca.certPem, intermediate.certPem].join('\n'), leaf.keyPem);
    assert.ok(shuffled.problems.length >= 1);
    assert.match(shuffled.problems[0]!.message, /certificate 1 .* is not issued and signed by certificate 2 \("CN=Test CA"\): the certificates are out of order/);
  });

  test('expired and not yet valid, for the leaf and for an intermediate', async () => {
    const expired = await ca.issue(['old.example'], { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    assert.match(onlyProblem(expired.chainPem, expired.keyPem).message, /the certificate \(the leaf\) expired at \d{4}-.*Z: renew it with its issuer and upload the new one/);
    const early = await ca.issue(['soon.example'], { notBefore: new Date(Date.now() + DAY) });
    assert.match(onlyProblem(early.chainPem, early.keyPem).message, /is not valid before \d{4}-.*Z: upload it once it is valid/);
    // The CA certificate is valid for ten years: ten years and a day later, both have expired.
    const later = read(good.chainPem, good.keyPem, Date.now() + 3651 * DAY).problems.map((p) => p.message);
    assert.equal(later.length, 2);
    assert.match(later[1]!, /certificate 2 \("CN=Test CA"\) expired at/);
  });

  test('IP addresses and names that are not host names', () => {
    const ip = opensslLeaf(ca, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'DNS:ip.example,IP:127.0.0.1');
    assert.match(onlyProblem(ip.certPem, ip.keyPem).message, /names the IP address 127\.0\.0\.1; the CDN serves host names only: reissue it without IP addresses/);
    const onlyIp = opensslLeaf(ca, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'IP:10.0.0.1');
    assert.match(onlyProblem(onlyIp.certPem, onlyIp.keyPem).message, /names the IP address 10\.0\.0\.1/);
    const email = opensslLeaf(ca, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'email:ops@example.com');
    assert.match(onlyProblem(email.certPem, email.keyPem).message, /has no DNS names among its subject alternative names: reissue it with the customer's domains as DNS names/);
    const odd = opensslLeaf(ca, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'DNS:*.*.example.com,DNS:ok.example');
    assert.match(onlyProblem(odd.certPem, odd.keyPem).message, /names "\*\.\*\.example\.com", which is neither a host name nor a wildcard such as \*\.example\.com/);
  });
});

describe('privateKeyPem refused', () => {
  test('a key of another certificate', async () => {
    const other = await ca.issue(['cdn.alpha.example']);
    const problem = onlyProblem(good.chainPem, other.keyPem);
    assert.equal(problem.field, 'privateKeyPem');
    assert.match(problem.message, /does not belong to the certificate: its public key is not the leaf certificate's/);
  });

  test('key types: RSA 1024 and Ed25519 refused, with what to use instead', () => {
    const weak = opensslLeaf(ca, ['-newkey', 'rsa:1024'], 'DNS:weak.example');
    const problem = onlyProblem(weak.certPem, weak.keyPem);
    assert.equal(problem.field, 'privateKeyPem');
    assert.match(problem.message, /is an RSA key of 1024 bits, too weak: use an ECDSA P-256 or P-384 key, or RSA of 2048 to 8192 bits/);
    const ed = opensslLeaf(ca, ['-newkey', 'ed25519'], 'DNS:ed.example');
    assert.match(onlyProblem(ed.certPem, ed.keyPem).message, /is a ed25519 key, which not every client accepts/);
  });

  test('garbage, a certificate, a public key, two keys, an encrypted key, control characters', () => {
    const fieldOf = (key: string) => {
      const p = onlyProblem(good.chainPem, key);
      assert.equal(p.field, 'privateKeyPem');
      return p.message;
    };
    assert.match(fieldOf('not a key'), /text outside the PEM blocks at line 1/);
    assert.match(fieldOf(''), /holds no PEM private key/);
    assert.match(fieldOf(good.certPem), /holds a certificate, not a private key: certificates go in certificatePem/);
    const publicPem = createPrivateKey(good.keyPem).export({ type: 'pkcs8', format: 'pem' }).toString().replace(/PRIVATE KEY/g, 'PUBLIC KEY');
    assert.match(fieldOf(publicPem), /holds a PUBLIC KEY block, not a private key/);
    assert.match(fieldOf(`${good.keyPem}${good.keyPem}`), /holds 2 PEM blocks: send only the one private key/);
    writeFileSync(path.join(dir, 'plain.key'), good.keyPem);
    openssl('pkey', '-in', 'plain.key', '-aes256', '-passout', 'pass:secret', '-out', 'enc.key');
    assert.match(fieldOf(readFileSync(path.join(dir, 'enc.key'), 'utf8')), /is encrypted with a passphrase: send it unencrypted/);
    openssl('genrsa', '-traditional', '-aes128', '-passout', 'pass:secret', '-out', 'legacy.key', '2048');
    assert.match(fieldOf(readFileSync(path.join(dir, 'legacy.key'), 'utf8')), /is encrypted with a passphrase/);
    assert.match(fieldOf(good.keyPem.replace('\n', '\n\u0000')), /control character U\+0000 at line 2/);
    assert.match(fieldOf(`-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`), /is not a readable PRIVATE KEY/);
  });

  test('problems of both fields come together', async () => {
    const expired = await ca.issue(['old.example'], { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    const { problems } = read(expired.certPem, 'garbage');
    assert.deepEqual(problems.map((p) => p.field), ['certificatePem', 'privateKeyPem']);
  });
});

describe('checkCertificateNames', () => {
  const customer = { id: 'alpha', domains: ['cdn.alpha.example', 'www.alpha.example', 'a.shared.example'] };
  const others = [
    { hostname: 'b.shared.example', customerId: 'beta' },
    { hostname: 'cdn.beta.example', customerId: 'beta' },
    { hostname: 'x.a.shared.example', customerId: 'gamma' },
  ];

  test("the customer's own names, and wildcards covering only its domains, pass", () => {
    assert.deepEqual(checkCertificateNames(['cdn.alpha.example', '*.alpha.example'], customer, others, true), []);
    // A wildcard covers one label: *.shared.example's owner of a.shared.example does not clash with x.a.shared.example.
    assert.deepEqual(checkCertificateNames(['*.a.shared.example'], { id: 'delta', domains: ['y.a.shared.example'] }, others.filter((o) => o.customerId !== 'gamma'), true), []);
  });

  test("an exact name not among the customer's domains", () => {
    const [platform] = checkCertificateNames(['cdn.beta.example'], customer, others, true);
    assert.equal(platform!.field, 'certificatePem');
    assert.match(platform!.message, /names "cdn\.beta\.example", which is not one of customer "alpha"'s domains \(cdn\.alpha\.example, www\.alpha\.example, a\.shared\.example\); it belongs to customer "beta"\. .*add the domain to the customer first/);
    const [scoped] = checkCertificateNames(['cdn.beta.example'], customer, others, false);
    assert.ok(!scoped!.message.includes('beta"'), scoped!.message);
    assert.match(checkCertificateNames(['nobody.example'], customer, [], true)[0]!.message, /names "nobody\.example", which is not one of customer "alpha"'s domains/);
  });

  test("a wildcard covering none of the customer's domains", () => {
    assert.match(checkCertificateNames(['*.beta.example'], customer, others, true)[0]!.message, /names the wildcard "\*\.beta\.example", which covers none of customer "alpha"'s domains/);
    // One label only: *.shared.example does not cover x.y.shared.example.
    assert.equal(checkCertificateNames(['*.shared.example'], { id: 'alpha', domains: ['x.y.shared.example'] }, [], true).length, 1);
  });

  test("a wildcard that also covers another customer's domain: the owner named to the platform only", () => {
    const [platform] = checkCertificateNames(['*.shared.example'], customer, others, true);
    assert.match(platform!.message, /names the wildcard "\*\.shared\.example", which also covers "b\.shared\.example", a domain of customer "beta"\. .*naming this customer's domains exactly/);
    const [scoped] = checkCertificateNames(['*.shared.example'], customer, others, false);
    assert.match(scoped!.message, /names the wildcard "\*\.shared\.example", which also covers a domain of another customer\./);
    assert.ok(!scoped!.message.includes('b.shared.example') && !scoped!.message.includes('beta'), scoped!.message);
  });
});
