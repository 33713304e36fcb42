/** The api's own prom-client registry (never the global one: several apis may share a process in tests). */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { apiMetricCatalog, type OperationOutcome } from './metrics.catalog';

export class ApiMetrics {
  readonly registry = new Registry();
  readonly #operations: Counter<'operation' | 'outcome'>;
  readonly #publishedSeq: Gauge;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const ops = apiMetricCatalog.graphqlOperations;
    this.#operations = new Counter({ name: ops.name, help: ops.help, labelNames: ops.labelNames, registers: [this.registry] });
    const seq = apiMetricCatalog.relayPublishedSeq;
    this.#publishedSeq = new Gauge({ name: seq.name, help: seq.help, registers: [this.registry] });
  }

  countOperation(operation: string, outcome: OperationOutcome): void {
    this.#operations.inc({ operation, outcome });
  }

  setPublishedSeq(seq: number): void {
    this.#publishedSeq.set(seq);
  }
}
