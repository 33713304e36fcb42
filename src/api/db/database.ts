/**
 * The api's handle on its DataSource. It exists for one reason: PGlite gives every
 * query runner the same session, so two overlapping transactions would silently share
 * one (docs/CONTRIBUTING.md). On PGlite every unit of work goes through a queue; on PostgreSQL
 * they run concurrently, each on its own pooled connection.
 */
import type { DataSource, EntityManager } from 'typeorm';
import { isSingleSession } from './data-source';

export type Isolation = 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

export class Database {
  readonly #ds: DataSource;
  readonly #serial: boolean;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(ds: DataSource) {
    this.#ds = ds;
    this.#serial = isSingleSession(ds);
  }

  /** One transaction; everything `fn` does through `m` commits or rolls back together. */
  transaction<T>(fn: (m: EntityManager) => Promise<T>, isolation: Isolation = 'READ COMMITTED'): Promise<T> {
    return this.#run(() => this.#ds.transaction(isolation, fn));
  }

  /** Reads outside an explicit transaction. */
  read<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.#run(() => fn(this.#ds.manager));
  }

  async ping(): Promise<void> {
    await this.#run(() => this.#ds.query('SELECT 1'));
  }

  #run<T>(work: () => Promise<T>): Promise<T> {
    if (!this.#serial) return work();
    const result = this.#tail.then(work, work);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
