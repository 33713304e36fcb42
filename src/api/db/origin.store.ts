/**
 * The customer_origin queries and the customer's origin_policy (services call them inside
 * their own unit of work). The customer's own origin_url and Basic Auth columns are kept as
 * the preferred origin's here, in the same transaction, so older readers and the down
 * migration see what the edges use.
 */
import type { OriginBasicAuth } from '../../core/customer.types';
import { inPreferenceOrder, preferredOrigin, primaryOrigin } from '../../core/origin.rules';
import type { OriginConfig, OriginPolicy } from '../../core/origin.types';
import { CustomerOriginEntity } from './customer-origin.entity';
import { CustomerEntity } from './customer.entity';
import type { Tx } from './database';
import { basicAuthOf, toOriginConfig } from './origin.mapper';

/** The customer's origins in preference order, passwords as ciphertext. */
export async function listOrigins(m: Tx, customerId: string): Promise<OriginConfig[]> {
  return inPreferenceOrder((await m.getRepository(CustomerOriginEntity).findBy({ customerId })).map(toOriginConfig));
}

/**
 * Replaces every origin of the customer (an origin keeps its creation time when its name
 * stays) and mirrors the preferred one into the customer's row. `origins` must hold at least
 * one, checked and normalised (core/origin.rules.ts), passwords sealed.
 */
export async function replaceOrigins(m: Tx, customerId: string, origins: readonly OriginConfig[], at: Date): Promise<void> {
  const preferred = preferredOrigin(origins);
  if (preferred === undefined) throw new Error(`customer ${customerId}: an origin list must not be empty`);
  const repo = m.getRepository(CustomerOriginEntity);
  const created = new Map((await repo.find({ where: { customerId }, select: { name: true, createdAt: true } })).map((r) => [r.name, r.createdAt]));
  await m.delete(CustomerOriginEntity, { customerId });
  await m.insert(CustomerOriginEntity, origins.map((o) => originRow(customerId, o, created.get(o.name) ?? at, at)));
  await m.update(CustomerEntity, { id: customerId }, {
    originUrl: preferred.url,
    basicAuthUsername: preferred.basicAuth?.username ?? null,
    basicAuthPasswordEnc: preferred.basicAuth?.passwordCiphertext ?? null,
  });
}

/**
 * updateCustomer's originUrl and basicAuth (undefined keeps, null removes): they are the
 * preferred origin's, so they change that origin. The caller writes the customer's own columns.
 */
export async function updatePreferredOrigin(m: Tx, customerId: string, change: { url?: string; basicAuth?: OriginBasicAuth | null }, at: Date): Promise<void> {
  const rows = await m.getRepository(CustomerOriginEntity).findBy({ customerId });
  const preferred = preferredOrigin(rows);
  if (preferred === undefined) {
    // Only a row written around the api could lack origins: start it with its primary one.
    const customer = await m.getRepository(CustomerEntity).findOneByOrFail({ id: customerId });
    const current = primaryOrigin(customer.originUrl, basicAuthOf(customer.basicAuthUsername, customer.basicAuthPasswordEnc));
    const origin = { ...current, ...(change.url !== undefined ? { url: change.url } : {}), ...(change.basicAuth !== undefined ? { basicAuth: change.basicAuth } : {}) };
    await m.insert(CustomerOriginEntity, originRow(customerId, origin, at, at));
    return;
  }
  const row: Partial<CustomerOriginEntity> = { updatedAt: at };
  if (change.url !== undefined) row.url = change.url;
  if (change.basicAuth !== undefined) {
    row.basicAuthUsername = change.basicAuth?.username ?? null;
    row.basicAuthPasswordEnc = change.basicAuth?.passwordCiphertext ?? null;
  }
  await m.update(CustomerOriginEntity, { customerId, name: preferred.name }, row);
}

/** null: every edge default. */
export async function updateOriginPolicy(m: Tx, customerId: string, policy: OriginPolicy | null): Promise<void> {
  await m.update(CustomerEntity, { id: customerId }, { originPolicy: policy });
}

function originRow(customerId: string, o: OriginConfig, createdAt: Date, updatedAt: Date): Partial<CustomerOriginEntity> {
  return {
    customerId,
    name: o.name,
    url: o.url,
    basicAuthUsername: o.basicAuth?.username ?? null,
    basicAuthPasswordEnc: o.basicAuth?.passwordCiphertext ?? null,
    priority: o.priority,
    weight: o.weight,
    hostHeader: o.hostHeader,
    tlsServerName: o.tlsServerName,
    healthCheck: o.healthCheck,
    createdAt,
    updatedAt,
  };
}
