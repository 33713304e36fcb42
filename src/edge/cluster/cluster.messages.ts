/**
 * The IPC messages between the edge's cluster primary and its workers (besides
 * prom-client's own metric requests). Plain JSON over the cluster channel.
 */
import type { CustomerSeriesSnapshot } from '../edge.metrics';

/** Worker -> primary, whenever readiness or the applied seq changes. */
export interface WorkerStatusMessage {
  type: 'cdn-edge:status';
  ready: boolean;
  appliedSeq: number;
}

/** Primary -> worker: stop accepting, finish in-flight requests, exit 0. */
export interface DrainMessage {
  type: 'cdn-edge:drain';
}

/**
 * Worker -> primary -> every other worker: cache keys this worker deleted (an unsafe
 * method invalidated them). The disk and index are shared; each worker's memory tier is
 * not, so the others must drop their copies.
 */
export interface ForgetMessage {
  type: 'cdn-edge:forget';
  keys: string[];
}

export function isForget(message: unknown): message is ForgetMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'cdn-edge:forget' && Array.isArray((message as { keys?: unknown }).keys);
}

export const DRAIN: DrainMessage = Object.freeze({ type: 'cdn-edge:drain' });

export function isWorkerStatus(message: unknown): message is WorkerStatusMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'cdn-edge:status';
}

export function isDrain(message: unknown): message is DrainMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'cdn-edge:drain';
}

/**
 * Primary -> worker: send your per-customer metric rows (edge.metrics.ts). They travel as
 * plain numbers, summed by the primary, rather than through prom-client's aggregation,
 * which would re-hash the labels of every series of every worker at each scrape.
 */
export interface SeriesRequestMessage {
  type: 'cdn-edge:series-request';
  id: number;
}

/** Worker -> primary: the answer (empty while the worker's edge is still starting). */
export interface SeriesMessage extends CustomerSeriesSnapshot {
  type: 'cdn-edge:series';
  id: number;
}

export function isSeriesRequest(message: unknown): message is SeriesRequestMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'cdn-edge:series-request' && typeof (message as { id?: unknown }).id === 'number';
}

export function isSeries(message: unknown): message is SeriesMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === 'cdn-edge:series' &&
    typeof (message as { id?: unknown }).id === 'number' &&
    Array.isArray((message as { rows?: unknown }).rows)
  );
}
