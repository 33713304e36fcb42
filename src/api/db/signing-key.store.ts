/** The signing_key queries (services call them inside their own unit of work). */
import type { Tx } from './database';
import { SigningKeyEntity } from './signing-key.entity';

export interface SigningKeyRow {
  customerId: string;
  id: string;
  secretEnc: string;
  createdAt: Date;
}

/** The customer's keys, oldest first. */
export async function listSigningKeys(m: Tx, customerId: string): Promise<SigningKeyRow[]> {
  return m.getRepository(SigningKeyEntity).find({ where: { customerId }, order: { createdAt: 'ASC', id: 'ASC' } });
}

export async function insertSigningKey(m: Tx, row: SigningKeyRow): Promise<void> {
  await m.insert(SigningKeyEntity, row);
}

/** False when the customer had no such key. */
export async function deleteSigningKey(m: Tx, customerId: string, id: string): Promise<boolean> {
  const result = await m.delete(SigningKeyEntity, { customerId, id });
  return (result.affected ?? 0) > 0;
}
