/**
 * A change to what the edges know of a customer that is not a change of its own row (a
 * certificate uploaded, issued or deleted, an ACME challenge added or removed) still travels
 * as the customer's `customer.upserted` change: the customer's version is bumped and its new
 * config written to the outbox, in the caller's transaction, so the edges get domains and
 * certificates together and in order (core/tls.types.ts). For the certificate service and the
 * ACME client alike.
 */
import { cdnError } from '../../core/errors';
import { isPlainText } from '../../core/text.rules';
import { appendChange } from '../db/change-log.writer';
import { findCustomer, lockCustomerForUpdate, updateCustomer } from '../db/customer.store';
import type { Tx } from '../db/database';
import type { CustomerRecord } from '../domain/customer.types';

/**
 * Locks the customer's row for the rest of the transaction (its version bumps queue, and it
 * cannot be deleted meanwhile). Throws CDN_ERR_CUSTOMER_NOT_FOUND when there is none.
 */
export async function lockCustomer(m: Tx, customerId: string): Promise<{ version: number }> {
  const current = isPlainText(customerId) ? await lockCustomerForUpdate(m, customerId) : null;
  if (!current) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
  return current;
}

/**
 * Bumps the version of a customer locked with lockCustomer (at `version`) and appends its
 * config, as it now stands in the transaction, to the outbox. Call after the writes.
 */
export async function announceCustomer(m: Tx, customerId: string, version: number, at: Date = new Date()): Promise<CustomerRecord> {
  await updateCustomer(m, customerId, { updatedAt: at, version: version + 1 });
  const customer = (await findCustomer(m, customerId))!;
  const { createdAt: _createdAt, ...config } = customer;
  await appendChange(m, { kind: 'customer.upserted', v: 1, customer: config });
  return customer;
}
