/**
 * The checks an uploaded certificate and private key pass before the api stores them
 * (`uploadCertificate`): what a TLS server needs to present them (a chain in order, a key
 * that matches, a key type every client accepts, valid now) and what a shared CDN needs (DNS
 * names only, and only the customer's own: checkCertificateNames). Pure: the caller hands in
 * the time and the domains; every refusal is a FieldProblem saying what was wrong and how to
 * fix it, on `certificatePem` or `privateKeyPem`. No message ever quotes the key, nor the
 * contents of a block pasted in the wrong field (it may be a key).
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { nameMatches } from './certificate.rules';
import type { FieldProblem } from './errors';

export const CERTIFICATE_PEM_MAX_BYTES = 64 * 1024;
export const PRIVATE_KEY_PEM_MAX_BYTES = 64 * 1024;
/** The leaf and its intermediates; real chains hold two to four. */
export const CHAIN_MAX_CERTIFICATES = 10;
export const RSA_MIN_BITS = 2048;
/** Beyond this an RSA handshake costs the shared edges too much CPU for what it adds. */
export const RSA_MAX_BITS = 8192;
/** OpenSSL's curve names of the ECDSA curves every browser accepts, as people call them. */
const EC_CURVES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384' };

const CERT_FIELD = 'certificatePem';
const KEY_FIELD = 'privateKeyPem';
const KEY_TYPES = 'use an ECDSA P-256 or P-384 key, or RSA of 2048 to 8192 bits';

/** A certificate and key that passed every check but the customer's names. */
export interface CertificateUpload {
  /** The chain as canonical PEM blocks, leaf first (text around the blocks dropped). */
  certPem: string;
  /** PKCS#8 PEM of the key: seal it at once, never log it. */
  keyPem: string;
  /** The leaf's DNS subject alternative names, lower-case, in order, without repeats. */
  domains: string[];
  notBefore: Date;
  notAfter: Date;
  /** The leaf's issuer as one line (`C=US, O=Let's Encrypt, CN=R11`). */
  issuer: string;
}

interface PemBlock {
  label: string;
  der: Buffer;
  /** 1-based line of the BEGIN line. */
  line: number;
}

const BEGIN = /^-----BEGIN ([A-Z0-9 ]+)-----$/;
const END = /^-----END ([A-Z0-9 ]+)-----$/;
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/;
// Every C0 and C1 control but CR and LF (PEM is lines), DEL, the Unicode line separators.
const CONTROL = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Checks both PEM texts at `nowMs`. `upload` is null when there is any problem; the
 * problems of the two fields come together, so one answer names everything to fix.
 */
export function readCertificateUpload(certificatePem: string, privateKeyPem: string, nowMs: number): { problems: FieldProblem[]; upload: CertificateUpload | null } {
  const cert = readChain(certificatePem, nowMs);
  const key = readKey(privateKeyPem);
  const problems = [...cert.problems, ...key.problems];
  if (cert.chain !== null && key.key !== null && !matches(cert.chain[0]!, key.key)) {
    problems.push({
      field: KEY_FIELD,
      message: "does not belong to the certificate: its public key is not the leaf certificate's. Send the private key generated together with this certificate's signing request",
    });
  }
  if (problems.length > 0 || cert.chain === null || key.key === null) return { problems, upload: null };
  const leaf = cert.chain[0]!;
  return {
    problems: [],
    upload: {
      certPem: cert.chain.map((c) => c.toString().trim()).join('\n') + '\n',
      keyPem: key.key.export({ type: 'pkcs8', format: 'pem' }).toString(),
      domains: cert.domains,
      notBefore: leaf.validFromDate,
      notAfter: leaf.validToDate,
      issuer: oneLine(leaf.issuer),
    },
  };
}

/**
 * The names of a certificate against its customer's domains: an exact name must be one of
 * them; a wildcard (RFC 6125, nameMatches) must cover at least one of them and none of
 * `others` (other customers' domains it could cover). `revealOwners`: whether the caller
 * may learn which domain and customer a wildcard collides with (platform callers); a
 * customer-scoped caller learns only that it covers another customer's domain.
 */
export function checkCertificateNames(
  names: readonly string[],
  customer: { id: string; domains: readonly string[] },
  others: ReadonlyArray<{ hostname: string; customerId: string }>,
  revealOwners: boolean,
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const theirs = `customer "${customer.id}"'s domains (${listed(customer.domains)})`;
  for (const name of names) {
    if (!name.startsWith('*.')) {
      if (customer.domains.includes(name)) continue;
      const owner = revealOwners ? others.find((o) => o.hostname === name) : undefined;
      problems.push({
        field: CERT_FIELD,
        message:
          `names "${name}", which is not one of ${theirs}` +
          (owner ? `; it belongs to customer "${owner.customerId}"` : '') +
          '. A certificate may name only its customer\'s domains: add the domain to the customer first, or upload a certificate for its domains only',
      });
      continue;
    }
    if (!customer.domains.some((d) => nameMatches(name, d))) {
      problems.push({
        field: CERT_FIELD,
        message: `names the wildcard "${name}", which covers none of ${theirs}. Upload a certificate for the customer's domains`,
      });
      continue;
    }
    const clash = others.find((o) => nameMatches(name, o.hostname));
    if (clash === undefined) continue;
    problems.push({
      field: CERT_FIELD,
      message: revealOwners
        ? `names the wildcard "${name}", which also covers "${clash.hostname}", a domain of customer "${clash.customerId}". ` +
          'A certificate may cover only its customer\'s domains: upload one naming this customer\'s domains exactly instead of the wildcard'
        : `names the wildcard "${name}", which also covers a domain of another customer. ` +
          "A certificate may cover only this customer's own domains: upload one naming them exactly instead of the wildcard",
    });
  }
  return problems;
}

/** The suffix (`.example.com`) under which a wildcard name covers hosts; null for an exact name. */
export function wildcardSuffix(name: string): string | null {
  return name.startsWith('*.') ? name.slice(1) : null;
}

function readChain(text: string, nowMs: number): { problems: FieldProblem[]; chain: X509Certificate[] | null; domains: string[] } {
  const fail = (message: string) => ({ problems: [{ field: CERT_FIELD, message }], chain: null, domains: [] });
  const blocks = readPem(text, CERT_FIELD, CERTIFICATE_PEM_MAX_BYTES);
  if ('problem' in blocks) return fail(blocks.problem);
  if (blocks.length === 0) {
    return fail('holds no PEM certificate: paste the certificate file (-----BEGIN CERTIFICATE----- …), the leaf first, then its intermediates');
  }
  for (const block of blocks) {
    if (block.label.includes('PRIVATE KEY')) {
      return fail(`holds a private key (the -----BEGIN ${block.label}----- block at line ${block.line}): the key goes in privateKeyPem only. Remove it from certificatePem`);
    }
    if (block.label !== 'CERTIFICATE') {
      return fail(`holds a ${block.label} block (line ${block.line}); only CERTIFICATE blocks belong here, the leaf first, then its intermediates`);
    }
  }
  if (blocks.length > CHAIN_MAX_CERTIFICATES) {
    return fail(`holds ${blocks.length} certificates, more than ${CHAIN_MAX_CERTIFICATES}: send the leaf and its intermediates only (the root may be left out)`);
  }
  const chain: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    const which = `certificate ${i + 1} (line ${block.line})`;
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block.der);
    } catch (err) {
      return fail(`${which} is not a valid X.509 certificate (${(err as Error).message}): copy it again, whole, from the file the issuer gave you`);
    }
    if (cert.raw.length !== block.der.length) {
      return fail(`${which} has ${block.der.length - cert.raw.length} bytes after the certificate: copy it again, whole, from the file the issuer gave you`);
    }
    chain.push(cert);
  }
  const problems: FieldProblem[] = [];
  const problem = (message: string) => problems.push({ field: CERT_FIELD, message });
  const leaf = chain[0]!;
  if (leaf.ca) {
    problem(`starts with a CA certificate ("${oneLine(leaf.subject)}"): put the server's own (leaf) certificate first, then the certificate that issued it, and so on`);
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    if (issuedBy(chain[i]!, chain[i + 1]!)) continue;
    const issuerElsewhere = chain.some((other, j) => j !== i + 1 && j !== i && issuedBy(chain[i]!, other));
    problem(
      `certificate ${i + 1} ("${oneLine(chain[i]!.subject)}") is not issued and signed by certificate ${i + 2} ("${oneLine(chain[i + 1]!.subject)}")` +
        (issuerElsewhere
          ? ': the certificates are out of order. Send the leaf first, then the certificate that issued it, and so on'
          : ': certificate ' + (i + 2) + ' is not its issuer. Send the leaf first, then each certificate\'s own issuer in order (the intermediates your certificate authority gave you; the root may be left out)'),
    );
  }
  for (const [i, cert] of chain.entries()) {
    const which = i === 0 ? 'the certificate (the leaf)' : `certificate ${i + 1} ("${oneLine(cert.subject)}")`;
    if (cert.validToDate.getTime() <= nowMs) {
      problem(`${which} expired at ${cert.validToDate.toISOString()}: renew it with its issuer and upload the new one`);
    } else if (cert.validFromDate.getTime() > nowMs) {
      problem(`${which} is not valid before ${cert.validFromDate.toISOString()}: upload it once it is valid`);
    }
  }
  const names = readDnsNames(leaf);
  problems.push(...names.problems);
  // The chain goes back even with problems, so the key is still checked against its leaf.
  return { problems, chain, domains: names.domains };
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

// Node writes each name `TYPE:value`, the value JSON-quoted when it holds a comma, a quote or a control.
const SAN_ENTRY = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y;
const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function readDnsNames(leaf: X509Certificate): { problems: FieldProblem[]; domains: string[] } {
  const reissue = "reissue it with the customer's domains as DNS names";
  const san = leaf.subjectAltName;
  if (san === undefined || san === '') {
    return { problems: [{ field: CERT_FIELD, message: `has no subject alternative names (browsers ignore the common name): ${reissue}` }], domains: [] };
  }
  const problems: FieldProblem[] = [];
  const domains: string[] = [];
  const entries = new RegExp(SAN_ENTRY.source, 'y');
  let read = 0;
  for (let m = entries.exec(san); m !== null; m = read < san.length ? entries.exec(san) : null) {
    read = entries.lastIndex;
    const type = m[1]!;
    let value = m[2]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        // Left quoted: refused below as a DNS name, ignored for other types.
      }
    }
    if (type === 'IP Address') {
      problems.push({ field: CERT_FIELD, message: `names the IP address ${value}; the CDN serves host names only: reissue it without IP addresses` });
    } else if (type === 'DNS') {
      const name = value.toLowerCase();
      if (!isDnsName(name)) {
        problems.push({ field: CERT_FIELD, message: `names ${JSON.stringify(value)}, which is neither a host name nor a wildcard such as *.example.com: reissue it without that name` });
      } else if (!domains.includes(name)) {
        domains.push(name);
      }
    }
    // Other names (email, URI) play no part in TLS server authentication.
  }
  if (read < san.length) {
    problems.push({ field: CERT_FIELD, message: `has subject alternative names the api cannot read (from character ${read + 1}): ${reissue}` });
  }
  if (domains.length === 0 && problems.length === 0) {
    problems.push({ field: CERT_FIELD, message: `has no DNS names among its subject alternative names: ${reissue}` });
  }
  return { problems, domains };
}

/** A host name, or `*.` and a name of at least two labels (RFC 6125 as browsers apply it). */
function isDnsName(name: string): boolean {
  const labels = name.split('.');
  if (name.length > 253 || labels.length < 2) return false;
  const rest = labels[0] === '*' ? labels.slice(1) : labels;
  if (labels[0] === '*' && rest.length < 2) return false;
  return rest.every((l) => DNS_LABEL.test(l));
}

function readKey(text: string): { problems: FieldProblem[]; key: KeyObject | null } {
  const fail = (message: string) => ({ problems: [{ field: KEY_FIELD, message }], key: null });
  const blocks = readPem(text, KEY_FIELD, PRIVATE_KEY_PEM_MAX_BYTES);
  if ('problem' in blocks) return fail(blocks.problem);
  // `openssl ecparam -genkey` writes the curve's parameters before the key; they add nothing.
  const keys = blocks.filter((b) => b.label !== 'EC PARAMETERS');
  if (keys.length === 0) return fail('holds no PEM private key: paste the key file (-----BEGIN PRIVATE KEY----- …)');
  if (keys.length > 1) return fail(`holds ${keys.length} PEM blocks: send only the one private key of this certificate`);
  const block = keys[0]!;
  if (block.label === 'ENCRYPTED PRIVATE KEY' || 'encrypted' in block) {
    return fail('is encrypted with a passphrase: send it unencrypted (openssl pkey -in key.pem -out key-plain.pem); the api encrypts it for storage itself');
  }
  if (block.label === 'CERTIFICATE') return fail('holds a certificate, not a private key: certificates go in certificatePem');
  const type = ({ 'PRIVATE KEY': 'pkcs8', 'RSA PRIVATE KEY': 'pkcs1', 'EC PRIVATE KEY': 'sec1' } as const)[block.label];
  if (type === undefined) {
    return fail(`holds a ${block.label} block, not a private key: send the key file (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: block.der, format: 'der', type });
  } catch (err) {
    return fail(`is not a readable ${block.label} (${(err as Error).message}): copy the key file again, whole`);
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve !== undefined && EC_CURVES[details.namedCurve] !== undefined) return { problems: [], key };
    return { problems: [{ field: KEY_FIELD, message: `is an ECDSA key on the curve ${details.namedCurve ?? 'unknown'}, which not every client accepts: ${KEY_TYPES}` }], key };
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits >= RSA_MIN_BITS && bits <= RSA_MAX_BITS) return { problems: [], key };
    return { problems: [{ field: KEY_FIELD, message: `is an RSA key of ${bits} bits, ${bits < RSA_MIN_BITS ? 'too weak' : 'too slow to serve'}: ${KEY_TYPES}` }], key };
  }
  return { problems: [{ field: KEY_FIELD, message: `is a ${key.asymmetricKeyType ?? 'unknown'} key, which not every client accepts: ${KEY_TYPES}` }], key };
}

function matches(leaf: X509Certificate, key: KeyObject): boolean {
  try {
    return leaf.checkPrivateKey(key);
  } catch {
    return false;
  }
}

/**
 * The PEM blocks of a text, or the first problem: too large, a control character, text
 * outside the blocks, a block that is not base64 or never ends. Never quotes the text.
 */
function readPem(text: string, field: string, maxBytes: number): Array<PemBlock & { encrypted?: true }> | { problem: string } {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) return { problem: `is ${bytes} bytes, more than ${maxBytes}: send the PEM file itself (the leaf and its intermediates, or the one key)` };
  const control = CONTROL.exec(text);
  if (control !== null) {
    const line = text.slice(0, control.index).split('\n').length;
    const code = `U+${control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    return { problem: `holds the control character ${code} at line ${line}: PEM is plain lines of text; paste the file again without it` };
  }
  const blocks: Array<PemBlock & { encrypted?: true }> = [];
  const lines = text.split(/\r?\n/);
  let open: { label: string; line: number; body: string[]; encrypted?: true } | null = null;
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    const at = i + 1;
    if (open === null) {
      if (line === '') continue;
      const begin = BEGIN.exec(line);
      if (begin === null) {
        return { problem: `has text outside the PEM blocks at line ${at}: send only -----BEGIN …----- to -----END …----- blocks` };
      }
      open = { label: begin[1]!, line: at, body: [] };
      continue;
    }
    const end = END.exec(line);
    if (end !== null) {
      if (end[1] !== open.label) return { problem: `ends the ${open.label} block of line ${open.line} with -----END ${end[1]}----- at line ${at}: copy the file again, whole` };
      const block: PemBlock & { encrypted?: true } = { label: open.label, line: open.line, der: Buffer.from(open.body.join(''), 'base64') };
      if (open.encrypted) block.encrypted = true;
      blocks.push(block);
      open = null;
      continue;
    }
    // RFC 1421 headers: `Proc-Type: 4,ENCRYPTED` marks a legacy passphrase-protected key.
    if (/^[A-Za-z-]+:/.test(line)) {
      if (/^Proc-Type:.*ENCRYPTED/i.test(line)) open.encrypted = true;
      continue;
    }
    if (!BASE64_LINE.test(line)) return { problem: `line ${at}, inside the ${open.label} block of line ${open.line}, is not base64: copy the file again, whole` };
    open.body.push(line);
  }
  if (open !== null) return { problem: `has no -----END ${open.label}----- line for the block of line ${open.line}: copy the file again, whole` };
  return blocks;
}

/** A distinguished name as Node writes it (one attribute per line) on one line, controls escaped. */
export function oneLine(dn: string): string {
  return dn
    .split('\n')
    .filter((part) => part !== '')
    .join(', ')
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (ch) => `\\u{${ch.charCodeAt(0).toString(16)}}`);
}

function listed(domains: readonly string[]): string {
  const shown = domains.slice(0, 10).join(', ');
  return domains.length > 10 ? `${shown}, and ${domains.length - 10} more` : shown;
}
