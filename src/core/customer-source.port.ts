/**
 * What the edge needs from "somewhere that knows the customers": a lookup by host and by
 * id, kept current by whoever feeds it (the bus sync, or a customers.json file).
 */
import type { CustomerConfig } from './customer.types';

export interface CustomerSource {
  byHost(host: string): CustomerConfig | undefined;
  byId(id: string): CustomerConfig | undefined;
  all(): CustomerConfig[];
}
