/**
 * ACME account keys (RFC 8555 §7.3): the key is the account, so the api keeps it (encrypted
 * with CDN_SECRET_KEY) and hands it back to every issuer it makes; a new key would be a new
 * account with none of the old one's authorizations or rate-limit history. ECDSA P-256, as
 * PKCS#8 PEM: the form acme-client's signing and CSR code both read.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

/** A new ECDSA P-256 private key, PKCS#8 PEM (also used for each certificate's key). */
export function createEcdsaP256KeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return pkcs8Pem(privateKey);
}

/**
 * The account key in the form acme-client needs (PKCS#8 PEM), from any PEM form of an EC
 * P-256/P-384 or RSA (>= 2048 bits) private key. Throws, saying why, for anything else: a
 * configuration error the caller reports at start, not at the first certificate.
 */
export function normalizeAccountKeyPem(pem: string): string {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`The ACME account key is not a readable PEM private key (${(err as Error).message}).`);
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve !== 'prime256v1' && details.namedCurve !== 'secp384r1') {
      throw new Error(`The ACME account key is on curve ${details.namedCurve ?? 'unknown'}; ACME servers take P-256 or P-384.`);
    }
  } else if (key.asymmetricKeyType === 'rsa') {
    if ((details.modulusLength ?? 0) < 2048) throw new Error('The ACME account key is an RSA key shorter than 2048 bits; use P-256 or RSA >= 2048.');
  } else {
    throw new Error(`The ACME account key is an ${key.asymmetricKeyType ?? 'unknown'} key; ACME servers take ECDSA (P-256, P-384) or RSA.`);
  }
  return pkcs8Pem(key);
}

function pkcs8Pem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}
