/**
 * The access log of one edge process (docs/EDGE.md "Access logs"): the export files
 * (CDN_LOG_DIR, access-log.files.ts) and the live tail (access-log.tail.ts), behind one
 * `wants` / `record` pair that the pipeline's finish() and the hit lane call. An edge with
 * neither has no AccessLog at all (ctx.accessLog undefined): the request path pays one
 * property check. Shield hops are not logged (another edge's miss: that edge logs the request).
 */
import type { AccessLogRecord } from '../../core/access-log.port';
import type { AccessFacts, AccessLogSink, ClientRequest } from '../pipeline/transaction';
import type { AccessLogFiles } from './access-log.files';
import { accessLine, accessRecord } from './access-log.record';
import type { AccessLogTail } from './access-log.tail';

export class AccessLog implements AccessLogSink {
  readonly #files: AccessLogFiles | undefined;
  readonly #tail: AccessLogTail | undefined;
  readonly #now: () => number;
  readonly edgeId: string;

  constructor(options: { files?: AccessLogFiles; tail?: AccessLogTail; edgeId: string; now: () => number }) {
    this.#files = options.files;
    this.#tail = options.tail;
    this.#now = options.now;
    this.edgeId = options.edgeId;
  }

  /** Whether a request of `customerId` gets a record (files on, or the customer tailed). */
  wants(customerId: string): boolean {
    return this.#files !== undefined || (this.#tail !== undefined && this.#tail.wants(customerId));
  }

  /** Builds and hands over the record of a request that just ended. */
  record(req: ClientRequest, facts: AccessFacts): AccessLogRecord {
    const now = this.#now();
    const record = accessRecord(req, this.edgeId, facts, now);
    this.#files?.add(record.customer, now, accessLine(record));
    if (this.#tail !== undefined && this.#tail.wants(record.customer)) this.#tail.add(record);
    return record;
  }

  start(): void {
    this.#files?.start();
    this.#tail?.start();
  }

  async close(): Promise<void> {
    await Promise.all([this.#files?.close(), this.#tail?.stop()]);
  }

  /** Lines written to and dropped from the files (the metrics read them). */
  counts(): { written: number; dropped: number } {
    return { written: this.#files?.written ?? 0, dropped: this.#files?.dropped ?? 0 };
  }
}
