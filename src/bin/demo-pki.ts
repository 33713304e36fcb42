/**
 * A small certificate authority for the demo (`npm start` serves its three customers over
 * HTTPS with certificates it signs) and for the tests: ECDSA P-256 keys, X.509 v3
 * certificates with the extensions browsers and openssl check (basic constraints, key usage,
 * extended key usage, subject alternative names, key identifiers). Built on @peculiar/x509
 * (the same library acme-client uses) over Node's WebCrypto: Node itself can read
 * certificates (crypto.X509Certificate) but not write them.
 */
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const RSA = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' } as const;

export interface Pem {
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority extends Pem {
  name: string;
  /** Signs a leaf certificate for `domains` (DNS names, `*.` wildcards allowed). */
  issue(domains: readonly string[], options?: LeafOptions): Promise<Leaf>;
}

export interface LeafOptions {
  notBefore?: Date;
  notAfter?: Date;
  /** Key type of the leaf (default ecdsa: P-256). */
  keyType?: 'ecdsa' | 'rsa';
}

export interface Leaf extends Pem {
  /** The leaf followed by the CA certificate, as a server sends it. */
  chainPem: string;
}

const DAY_MS = 24 * 3600 * 1000;

async function keyPair(type: 'ecdsa' | 'rsa'): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(type === 'rsa' ? RSA : EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPemOf(keys: CryptoKeyPair): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
}

async function importKeys(keyPem: string, certPem: string): Promise<CryptoKeyPair> {
  const der = createPrivateKey(keyPem).export({ format: 'der', type: 'pkcs8' });
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, EC, true, ['sign']);
  const publicKey = await new x509.X509Certificate(certPem).publicKey.export(EC, ['verify']);
  return { privateKey, publicKey } as CryptoKeyPair;
}

const serial = (): string => '01' + randomBytes(15).toString('hex');

/** A new root CA (ECDSA P-256), valid for `days` (default 10 years). */
export async function createCertificateAuthority(name: string, days = 3650): Promise<CertificateAuthority> {
  const keys = await keyPair('ecdsa');
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + days * DAY_MS),
    keys,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return authorityOf(name, cert.toString('pem'), await keyPemOf(keys), keys);
}

/** A CA from its PEM files (the demo's, kept in <CDN_DATA_DIR>/tls/). */
export async function loadCertificateAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  return authorityOf(cert.subject.replace(/^CN=/, ''), certPem, keyPem, await importKeys(keyPem, certPem));
}

function authorityOf(name: string, certPem: string, keyPem: string, keys: CryptoKeyPair): CertificateAuthority {
  const caCert = new x509.X509Certificate(certPem);
  return {
    name,
    certPem,
    keyPem,
    issue: async (domains, options = {}) => {
      const leafKeys = await keyPair(options.keyType ?? 'ecdsa');
      const now = Date.now();
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: `CN=${domains[0] ?? 'edgeplane'}`,
        issuer: caCert.subject,
        notBefore: options.notBefore ?? new Date(now - 3600_000),
        notAfter: options.notAfter ?? new Date(now + 90 * DAY_MS),
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: EC,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension(domains.map((value) => ({ type: 'dns' as const, value }))),
          await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
          await x509.AuthorityKeyIdentifierExtension.create(caCert),
        ],
      });
      const leafPem = cert.toString('pem');
      return { certPem: leafPem, keyPem: await keyPemOf(leafKeys), chainPem: `${leafPem}\n${certPem}` };
    },
  };
}
