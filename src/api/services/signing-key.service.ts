/**
 * Keys for signed URLs: at most two per customer, so a key can be replaced without breaking
 * the links already handed out (create the new one, sign with it, delete the old one once its
 * links have expired). The secret is generated here, sealed at once, shown once (the
 * createSigningKey answer) and never again; the edges receive the ciphertext inside the
 * customer's config, like the Basic Auth password. Each change commits with the customer's
 * version bump and outbox row (customer-announce.ts). Throws CdnError only.
 */
import { cdnError, invalidInput, type FieldProblem } from '../../core/errors';
import { normalizeHostname } from '../../core/customer.rules';
import { SIGNING_KEYS_MAX } from '../../core/delivery-rules.types';
import { generateSecret, type SecretBox } from '../../core/secret-box';
import { generateKeyId, signPath } from '../../core/signed-url';
import { isPlainText } from '../../core/text.rules';
import type { Logger } from '../../obs/logger.factory';
import { customerExists, findCustomer } from '../db/customer.store';
import type { Database } from '../db/database';
import { deleteSigningKey, insertSigningKey, listSigningKeys } from '../db/signing-key.store';
import { announceCustomer, lockCustomer } from './customer-announce';

export interface SigningKeyInfo {
  id: string;
  createdAt: Date;
}

export interface NewSigningKey extends SigningKeyInfo {
  /** Shown this once. */
  secret: string;
}

export interface SignUrlCommand {
  customerId: string;
  /** An absolute http(s) URL on one of the customer's domains. */
  url: string;
  /** Seconds from now, 1 to SIGNED_URL_LIFETIME_MAX. */
  expiresIn: number;
  /** The key to sign with; absent: the newest. */
  keyId?: string | null;
  /** Sign a path prefix instead of the whole path (the URL's path must start with it). */
  pathPrefix?: string | null;
  /** Bind the link to this client address. */
  clientIp?: string | null;
}

/** One year: a longer-lived link is a key in all but name. */
export const SIGNED_URL_LIFETIME_MAX = 365 * 24 * 3600;

export interface SigningKeyServiceOptions {
  db: Database;
  secretBox: SecretBox;
  logger: Logger;
  onCommitted?: () => void;
  now?: () => number;
}

export class SigningKeyService {
  readonly #db: Database;
  readonly #box: SecretBox;
  readonly #log: Logger;
  readonly #onCommitted: () => void;
  readonly #now: () => number;

  constructor(options: SigningKeyServiceOptions) {
    this.#db = options.db;
    this.#box = options.secretBox;
    this.#log = options.logger;
    this.#onCommitted = options.onCommitted ?? (() => {});
    this.#now = options.now ?? Date.now;
  }

  async create(customerId: string): Promise<NewSigningKey> {
    const secret = generateSecret(32);
    const created = await this.#db.transaction(async (m) => {
      const { version } = await lockCustomer(m, customerId);
      const held = await listSigningKeys(m, customerId);
      if (held.length >= SIGNING_KEYS_MAX) throw cdnError('CDN_ERR_SIGNING_KEYS_FULL', customerId, SIGNING_KEYS_MAX);
      let id = generateKeyId();
      while (held.some((k) => k.id === id)) id = generateKeyId();
      const createdAt = new Date(this.#now());
      await insertSigningKey(m, { customerId, id, secretEnc: this.#box.seal(secret), createdAt });
      await announceCustomer(m, customerId, version, createdAt);
      return { id, createdAt, secret };
    });
    this.#onCommitted();
    this.#log.info({ customerId, keyId: created.id }, 'signing key created');
    return created;
  }

  async delete(customerId: string, id: string): Promise<SigningKeyInfo> {
    const deleted = await this.#db.transaction(async (m) => {
      const { version } = await lockCustomer(m, customerId);
      const key = (await listSigningKeys(m, customerId)).find((k) => k.id === id);
      if (key === undefined || !(await deleteSigningKey(m, customerId, id))) throw cdnError('CDN_ERR_SIGNING_KEY_NOT_FOUND', customerId, id);
      await announceCustomer(m, customerId, version);
      return { id: key.id, createdAt: key.createdAt };
    });
    this.#onCommitted();
    this.#log.info({ customerId, keyId: id }, 'signing key deleted');
    return deleted;
  }

  /** The customer's keys, oldest first, without their secrets. */
  async list(customerId: string): Promise<SigningKeyInfo[]> {
    return this.#db.read(async (m) => {
      if (!isPlainText(customerId) || !(await customerExists(m, customerId))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
      return (await listSigningKeys(m, customerId)).map((k) => ({ id: k.id, createdAt: k.createdAt }));
    });
  }

  /** A signed link to `url`, valid for `expiresIn` seconds (the edges accept it until then, plus their clock-skew leeway). */
  async signUrl(cmd: SignUrlCommand): Promise<{ url: string; keyId: string; expiresAt: Date }> {
    const customer = await this.#db.read((m) => findCustomer(m, cmd.customerId));
    if (customer === null) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', cmd.customerId);
    const problems: FieldProblem[] = [];
    let url: URL | undefined;
    try {
      url = new URL(cmd.url);
    } catch {
      problems.push({ field: 'url', message: 'must be an absolute URL such as https://cdn.example.com/file.zip' });
    }
    if (url !== undefined) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push({ field: 'url', message: `must be http or https, got ${url.protocol.slice(0, -1)}` });
      else if (!customer.domains.includes(normalizeHostname(url.hostname))) {
        problems.push({ field: 'url', message: `its host "${url.hostname}" is not one of the customer's domains (${customer.domains.join(', ')})` });
      }
      if (url.hash !== '') problems.push({ field: 'url', message: 'must not have a fragment (#...): browsers do not send it' });
    }
    if (!Number.isInteger(cmd.expiresIn) || cmd.expiresIn < 1 || cmd.expiresIn > SIGNED_URL_LIFETIME_MAX) {
      problems.push({ field: 'expiresIn', message: `must be whole seconds from 1 to ${SIGNED_URL_LIFETIME_MAX} (one year), got ${cmd.expiresIn}` });
    }
    if (cmd.pathPrefix != null && url !== undefined && (!cmd.pathPrefix.startsWith('/') || !url.pathname.startsWith(cmd.pathPrefix))) {
      problems.push({ field: 'pathPrefix', message: `must start with "/" and be a prefix of the URL's path "${url.pathname}"` });
    }
    if (problems.length > 0) throw invalidInput(problems);
    const keys = customer.signingKeys ?? [];
    if (keys.length === 0) throw cdnError('CDN_ERR_SIGNING_KEY_NONE', cmd.customerId);
    const key = cmd.keyId == null ? keys[keys.length - 1]! : keys.find((k) => k.id === cmd.keyId);
    if (key === undefined) throw cdnError('CDN_ERR_SIGNING_KEY_NOT_FOUND', cmd.customerId, cmd.keyId!);
    const secret = this.#box.open(key.secretCiphertext);
    if (secret === null) throw cdnError('CDN_ERR_SECRET_UNREADABLE', `signing key ${key.id} of customer "${cmd.customerId}"`);
    const expiresAt = Math.floor(this.#now() / 1000) + cmd.expiresIn;
    const signed = signPath({
      path: url!.pathname,
      query: url!.search.slice(1),
      keyId: key.id,
      secret,
      expiresAt,
      ...(cmd.pathPrefix != null ? { pathPrefix: cmd.pathPrefix } : {}),
      ...(cmd.clientIp != null ? { clientIp: cmd.clientIp } : {}),
    });
    return { url: `${url!.protocol}//${url!.host}${signed}`, keyId: key.id, expiresAt: new Date(expiresAt * 1000) };
  }
}
