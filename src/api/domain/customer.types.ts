/**
 * A customer as the api's services hand it out: core's CustomerConfig (what travels on the
 * bus, the Basic Auth password as ciphertext) plus what only the database keeps.
 */
import type { CustomerConfig } from '../../core/customer.types';

export interface CustomerRecord extends CustomerConfig {
  /** The bus does not carry it; the `customer` row does. */
  createdAt: Date;
}
