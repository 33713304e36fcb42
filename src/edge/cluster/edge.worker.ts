/**
 * The worker side of the edge cluster: reports this worker's metrics registry to the
 * primary's aggregation, pushes readiness and applied seq when they change, and drains
 * when the primary asks or goes away.
 */
import { AggregatorRegistry } from 'prom-client';
import type { EdgeHandle } from '../server';
import type { CustomerSeriesSnapshot } from '../edge.metrics';
import { isDrain, isForget, isSeriesRequest, type ForgetMessage, type SeriesMessage, type WorkerListeningMessage, type WorkerStatusMessage } from './cluster.messages';

const STATUS_POLL_MS = 200;

/** This worker's per-customer metric rows, once its edge runs (reportToPrimary). */
let customerSeries: (() => CustomerSeriesSnapshot) | undefined;

/**
 * Call first thing in a worker (before the edge starts): answers the primary's metric
 * requests from now on (prom-client only listens once an AggregatorRegistry exists; a
 * starting worker answers with nothing rather than making the primary wait), and runs
 * `drain` once, on the primary's drain message or when the IPC channel closes (the
 * primary died: never serve orphaned).
 */
export function joinPrimary(drain: () => void): void {
  AggregatorRegistry.setRegistries([]);
  new AggregatorRegistry();
  let drained = false;
  const once = (): void => {
    if (drained) return;
    drained = true;
    drain();
  };
  process.on('message', (message: unknown) => {
    if (isDrain(message)) once();
    else if (isSeriesRequest(message)) answerSeries(message.id);
  });
  process.once('disconnect', once);
}

/** Answers at once, with nothing while the edge starts, so a scrape never waits on a starting worker. */
function answerSeries(id: number): void {
  if (!process.connected || process.send === undefined) return;
  const reply: SeriesMessage = { type: 'cdn-edge:series', id, ...(customerSeries?.() ?? { rows: [], stored: {} }) };
  process.send(reply);
}

/** For startEdge's `onInvalidate`: tells the other workers (through the primary) to forget keys. */
export function announceInvalidation(keys: string[]): void {
  if (!process.connected || process.send === undefined) return;
  const message: ForgetMessage = { type: 'cdn-edge:forget', keys };
  process.send(message);
}

/**
 * Once the edge listens: its metrics go to the primary, its status is kept current there,
 * and keys other workers deleted leave its memory tier.
 */
export function reportToPrimary(edge: EdgeHandle): () => void {
  if (process.connected && process.send !== undefined) {
    const listening: WorkerListeningMessage = { type: 'cdn-edge:listening', port: edge.port, ...(edge.tlsPort === undefined ? {} : { tlsPort: edge.tlsPort }) };
    process.send(listening);
  }
  process.on('message', (message: unknown) => {
    if (isForget(message)) edge.forgetLocal(message.keys);
  });
  AggregatorRegistry.setRegistries([edge.metrics.registry]);
  customerSeries = () => edge.metrics.customerSeries();
  let last = '';
  const send = (): void => {
    const status: WorkerStatusMessage = { type: 'cdn-edge:status', ready: edge.isReady(), appliedSeq: edge.appliedSeq() };
    const key = `${status.ready}:${status.appliedSeq}`;
    if (key === last || !process.connected || process.send === undefined) return;
    last = key;
    process.send(status);
  };
  send();
  const timer = setInterval(send, STATUS_POLL_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    customerSeries = undefined;
  };
}
