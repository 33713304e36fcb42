/**
 * HTTPS for `cdn start`'s demo customers: a local demo CA made once in `<CDN_DATA_DIR>/tls/`
 * (its key readable by this user only) signs a certificate for each demo domain, uploaded
 * through the public GraphQL API like any customer's. A run finds the certificate of an
 * earlier run and uploads a new one only when none is valid for another 30 days. The CA is
 * trusted by nothing but what is told to (`curl --cacert <dir>/tls/demo-ca.pem`, a browser
 * started with it): it is for this machine's demo, never for real traffic.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createCertificateAuthority, loadCertificateAuthority, type CertificateAuthority } from './demo-pki';

const CA_NAME = 'Edgeplane demo CA (this machine only)';
const RENEW_WITHIN_MS = 30 * 24 * 3600_000;

export interface DemoCa {
  ca: CertificateAuthority;
  /** The CA certificate's file: what curl's --cacert and a browser need. */
  certFile: string;
}

/** The demo CA of `dataDir`, made on first use. */
export async function ensureDemoCa(dataDir: string): Promise<DemoCa> {
  const dir = path.join(dataDir, 'tls');
  const certFile = path.join(dir, 'demo-ca.pem');
  const keyFile = path.join(dir, 'demo-ca.key');
  try {
    const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    return { ca: await loadCertificateAuthority(certPem, keyPem), certFile };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`the demo CA in ${dir} cannot be read (${(err as Error).message}): delete ${dir} to make a new one`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = await createCertificateAuthority(CA_NAME);
  // Key first, certificate last: a certificate file present means its key is too.
  await writeAtomically(keyFile, ca.keyPem, 0o600);
  await writeAtomically(certFile, ca.certPem, 0o644);
  return { ca, certFile };
}

async function writeAtomically(file: string, content: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, file);
}

type Graphql = <T>(query: string, variables: Record<string, unknown>) => Promise<T>;

const CERTIFICATES = `query($id: ID!) { certificates(customerId: $id) { id status notAfter domains } }`;
const UPLOAD = `mutation($id: ID!, $cert: String!, $key: String!) { uploadCertificate(customerId: $id, certificatePem: $cert, privateKeyPem: $key) { id } }`;

/** Makes sure `customerId` holds a certificate for `domain` valid for 30 more days, signed by the demo CA. */
export async function ensureDemoCertificate(graphql: Graphql, ca: CertificateAuthority, customerId: string, domain: string): Promise<void> {
  const { certificates } = await graphql<{ certificates: Array<{ status: string; notAfter: string | null; domains: string[] }> }>(CERTIFICATES, { id: customerId });
  const good = certificates.some(
    (c) => c.status === 'ISSUED' && c.domains.includes(domain) && c.notAfter !== null && Date.parse(c.notAfter) - Date.now() > RENEW_WITHIN_MS,
  );
  if (good) return;
  const leaf = await ca.issue([domain]);
  // The leaf alone: the demo CA signs it directly, and clients that trust the CA need nothing more.
  await graphql(UPLOAD, { id: customerId, cert: leaf.certPem, key: leaf.keyPem });
}
