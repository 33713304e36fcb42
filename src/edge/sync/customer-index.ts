/**
 * The in-memory customer table both feeds share: by id and by normalised host, swapped
 * one customer at a time so a lookup never sees half an update. Emits the changes it
 * made so the server can react (cache removal, origin pool pruning).
 */
import { normalizeHostname } from '../../core/customer.rules';
import type { CustomerConfig } from '../../core/customer.types';
import type { CustomerSource } from '../../core/customer-source.port';
import type { CustomerFeedEvent, CustomerFeedListener } from '../customer-feed.port';

export class CustomerIndex implements CustomerSource {
  readonly #byId = new Map<string, CustomerConfig>();
  readonly #byHost = new Map<string, CustomerConfig>();
  readonly #listeners = new Set<CustomerFeedListener>();

  byHost(host: string): CustomerConfig | undefined {
    return this.#byHost.get(host);
  }

  byId(id: string): CustomerConfig | undefined {
    return this.#byId.get(id);
  }

  all(): CustomerConfig[] {
    return [...this.#byId.values()];
  }

  count(): number {
    return this.#byId.size;
  }

  subscribe(listener: CustomerFeedListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Applies one customer; returns false (and changes nothing) when it is older than the one known. */
  upsert(customer: CustomerConfig, options: { force?: boolean } = {}): boolean {
    const previous = this.#byId.get(customer.id);
    if (previous !== undefined && customer.version < previous.version && options.force !== true) return false;
    const frozen = Object.freeze({ ...customer, domains: Object.freeze(customer.domains.map(normalizeHostname)) as string[] });
    if (previous !== undefined) this.#unlinkHosts(previous);
    this.#byId.set(customer.id, frozen);
    for (const host of frozen.domains) this.#byHost.set(host, frozen);
    this.#emit({ kind: 'upserted', customer: frozen, previous });
    return true;
  }

  delete(customerId: string): boolean {
    const previous = this.#byId.get(customerId);
    if (previous === undefined) return false;
    this.#unlinkHosts(previous);
    this.#byId.delete(customerId);
    this.#emit({ kind: 'deleted', customer: previous });
    return true;
  }

  /** Makes the table equal to `customers` (a snapshot): missing ones are deleted. */
  replaceAll(customers: readonly CustomerConfig[]): void {
    const keep = new Set(customers.map((c) => c.id));
    for (const id of [...this.#byId.keys()]) if (!keep.has(id)) this.delete(id);
    for (const customer of customers) {
      const known = this.#byId.get(customer.id);
      // A snapshot is authoritative: it may carry a lower version after a restore.
      if (known !== undefined && known.version === customer.version && known.updatedAt === customer.updatedAt) continue;
      this.upsert(customer, { force: true });
    }
  }

  #unlinkHosts(customer: CustomerConfig): void {
    for (const host of customer.domains) {
      if (this.#byHost.get(host) === customer) this.#byHost.delete(host);
    }
  }

  #emit(event: CustomerFeedEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}
