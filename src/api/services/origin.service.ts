/**
 * A customer's origins and origin policy: the list replaced as a whole (validated as a whole
 * first with core/origin.rules.ts, every refusal naming the origin and the field, each URL
 * through the same SSRF guard as originUrl), passwords sealed with the SecretBox at once, and
 * each change committed with the customer's version bump and outbox row (customer-announce.ts),
 * so every edge gets the new origins with the customer's next change. Nothing changes when
 * anything is refused: every check runs before the first write. Throws CdnError only.
 */
import type { OriginBasicAuth } from '../../core/customer.types';
import { invalidInput, type FieldProblem } from '../../core/errors';
import { checkOriginPolicy, checkOrigins, normalizeOriginPolicy, normalizeOrigins, originLabel, type OriginInput } from '../../core/origin.rules';
import type { OriginConfig } from '../../core/origin.types';
import type { SecretBox } from '../../core/secret-box';
import type { Logger } from '../../obs/logger.factory';
import type { Database } from '../db/database';
import { listOrigins, replaceOrigins, updateOriginPolicy } from '../db/origin.store';
import type { CustomerRecord } from '../domain/customer.types';
import { announceCustomer, lockCustomer } from './customer-announce';
import { checkOrigin, type OriginPolicy as OriginAddressPolicy } from './customer.validation';
import type { OriginCommand, OriginPolicyCommand } from './origin.commands';

export interface OriginServiceOptions {
  db: Database;
  secretBox: SecretBox;
  /** Where origins may point (CDN_ALLOW_PRIVATE_ORIGINS), as for originUrl. */
  addressPolicy: OriginAddressPolicy;
  logger: Logger;
  onCommitted?: () => void;
  now?: () => number;
}

const FIELD = 'origins';

export class OriginService {
  readonly #db: Database;
  readonly #box: SecretBox;
  readonly #addresses: OriginAddressPolicy;
  readonly #log: Logger;
  readonly #onCommitted: () => void;
  readonly #now: () => number;

  constructor(options: OriginServiceOptions) {
    this.#db = options.db;
    this.#box = options.secretBox;
    this.#addresses = options.addressPolicy;
    this.#log = options.logger;
    this.#onCommitted = options.onCommitted ?? (() => {});
    this.#now = options.now ?? Date.now;
  }

  /**
   * Replaces every origin of the customer. CDN_ERR_INPUT_INVALID names every problem
   * (`origins[1] (backup).healthCheck.timeoutMs`); CDN_ERR_CUSTOMER_NOT_FOUND for no such customer.
   */
  async set(customerId: string, commands: readonly OriginCommand[]): Promise<CustomerRecord> {
    // What core checks: the list without keepBasicAuth (the api's own word), new passwords in clear.
    const inputs: OriginInput[] = commands.map((c) => ({
      name: c.name,
      url: c.url,
      ...(c.basicAuth != null ? { basicAuth: { username: c.basicAuth.username, password: c.basicAuth.password } } : {}),
      ...(c.priority != null ? { priority: c.priority } : {}),
      ...(c.weight != null ? { weight: c.weight } : {}),
      ...(c.hostHeader != null ? { hostHeader: c.hostHeader } : {}),
      ...(c.tlsServerName != null ? { tlsServerName: c.tlsServerName } : {}),
      ...(c.healthCheck != null ? { healthCheck: withoutNulls(c.healthCheck) } : {}),
    }));
    const problems = checkOrigins(inputs, { field: FIELD });
    commands.forEach((c, i) => {
      if (c.keepBasicAuth === true && c.basicAuth != null) {
        problems.push({ field: `${originLabel(FIELD, i, c.name)}.keepBasicAuth`, message: 'give either basicAuth (new credentials) or keepBasicAuth: true (the current ones), not both' });
      }
    });
    problems.push(...(await this.#checkAddresses(commands, problems)));
    if (problems.length > 0) throw invalidInput(problems);

    const sealed = new Map(inputs.flatMap((o) => (o.basicAuth ? [[o.name, { username: o.basicAuth.username, passwordCiphertext: this.#box.seal(o.basicAuth.password) }] as const] : [])));
    const customer = await this.#db.transaction(async (m) => {
      const { version } = await lockCustomer(m, customerId);
      const current = new Map((await listOrigins(m, customerId)).map((o) => [o.name, o]));
      const credentials = resolveBasicAuth(commands, current, sealed);
      if (credentials.problems.length > 0) throw invalidInput(credentials.problems);
      const origins: OriginConfig[] = normalizeOrigins(inputs).map((o) => ({ ...o, basicAuth: credentials.byName.get(o.name) ?? null }));
      const at = new Date(this.#now());
      await replaceOrigins(m, customerId, origins, at);
      return announceCustomer(m, customerId, version, at);
    });
    this.#onCommitted();
    this.#log.info({ customerId, origins: customer.origins?.map((o) => o.name) }, 'origins replaced');
    return customer;
  }

  /** Replaces the customer's origin policy (null or absent fields: the edge's defaults). */
  async setPolicy(customerId: string, policy: OriginPolicyCommand): Promise<CustomerRecord> {
    const problems = checkOriginPolicy(withoutNulls(policy), 'policy');
    if (problems.length > 0) throw invalidInput(problems);
    const stored = normalizeOriginPolicy(policy);
    const customer = await this.#db.transaction(async (m) => {
      const { version } = await lockCustomer(m, customerId);
      const at = new Date(this.#now());
      await updateOriginPolicy(m, customerId, stored);
      return announceCustomer(m, customerId, version, at);
    });
    this.#onCommitted();
    this.#log.info({ customerId, originPolicy: stored }, 'origin policy replaced');
    return customer;
  }

  /** The SSRF guard for every URL core accepted (a URL core refused is already named). */
  async #checkAddresses(commands: readonly OriginCommand[], known: readonly FieldProblem[]): Promise<FieldProblem[]> {
    const checks = commands.map((c, i) => {
      const field = `${originLabel(FIELD, i, c.name)}.url`;
      return typeof c.url !== 'string' || known.some((p) => p.field === field) ? Promise.resolve([]) : checkOrigin(c.url, field, this.#addresses);
    });
    return (await Promise.all(checks)).flat();
  }
}

/**
 * Each origin's credentials: new (sealed), kept (keepBasicAuth), or none. An origin sent
 * without either whose current namesake has Basic Auth is refused rather than stripped:
 * clients never read passwords back, so silence would drop them.
 */
function resolveBasicAuth(
  commands: readonly OriginCommand[],
  current: ReadonlyMap<string, OriginConfig>,
  sealed: ReadonlyMap<string, OriginBasicAuth>,
): { byName: Map<string, OriginBasicAuth | null>; problems: FieldProblem[] } {
  const byName = new Map<string, OriginBasicAuth | null>();
  const problems: FieldProblem[] = [];
  commands.forEach((c, i) => {
    const label = originLabel(FIELD, i, c.name);
    const now = current.get(c.name)?.basicAuth ?? null;
    if (c.basicAuth != null) byName.set(c.name, sealed.get(c.name)!);
    else if (c.keepBasicAuth === true) {
      if (now === null) {
        problems.push({ field: `${label}.keepBasicAuth`, message: `origin "${c.name}" has no Basic Auth to keep; give basicAuth { username password }, or leave keepBasicAuth out` });
      } else byName.set(c.name, now);
    } else if (c.basicAuth === undefined && now !== null) {
      problems.push({
        field: `${label}.basicAuth`,
        message: `origin "${c.name}" has Basic Auth now, and passwords are never read back: send keepBasicAuth: true to keep it, basicAuth { username password } to replace it, or basicAuth: null to remove it`,
      });
    } else byName.set(c.name, null);
  });
  return { byName, problems };
}

/** GraphQL sends null for absent optional fields; core reads null and absent alike, but a plain copy keeps the problems' paths clean. */
function withoutNulls<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined)) as T;
}
