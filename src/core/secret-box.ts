/**
 * Authenticated encryption for secrets at rest (origin Basic Auth passwords):
 * AES-256-GCM with a key derived from CDN_SECRET_KEY by HKDF, so any string of
 * sufficient length works as the operator's secret. Ciphertext format:
 * `v1.<iv b64url>.<tag b64url>.<data b64url>`.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export const SECRET_KEY_MIN_LENGTH = 32;

export class SecretBox {
  readonly #key: Buffer;

  constructor(secret: string) {
    if (secret.length < SECRET_KEY_MIN_LENGTH) {
      throw new Error(`secret must be at least ${SECRET_KEY_MIN_LENGTH} characters`);
    }
    this.#key = Buffer.from(hkdfSync('sha256', secret, 'edgeplane', 'secret-box v1', 32));
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join('.');
  }

  /** Returns null when the ciphertext is malformed or was sealed with another key. */
  open(ciphertext: string): string | null {
    const [version, iv, tag, data] = ciphertext.split('.');
    if (version !== 'v1' || iv === undefined || tag === undefined || data === undefined) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      return null;
    }
  }
}

/** A fresh random secret suitable for CDN_SECRET_KEY or an admin token. */
export function generateSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
