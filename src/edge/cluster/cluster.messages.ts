/**
 * The IPC messages between the edge's cluster primary and its workers (besides
 * prom-client's own metric requests). Plain JSON over the cluster channel.
 */
import type { CustomerSeriesSnapshot } from '../edge.metrics';
import type { FillOutcome } from '../pipeline/fill-locks';

/** Worker -> primary, whenever readiness or the applied seq changes. */
export interface WorkerStatusMessage {
  type: 'cdn-edge:status';
  ready: boolean;
  appliedSeq: number;
}

/**
 * Worker -> primary, once its public ports listen (plain, and HTTPS unless it is off). A
 * worker binding sockets of its own (SO_REUSEPORT) is not seen by node:cluster's 'listening'
 * event, which only reports handles the primary shares, and which could not tell the two
 * ports apart.
 */
export interface WorkerListeningMessage {
  type: 'cdn-edge:listening';
  port: number;
  tlsPort?: number;
}

export function isWorkerListening(message: unknown): message is WorkerListeningMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'cdn-edge:listening' && typeof (message as { port?: unknown }).port === 'number';
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

/**
 * Fill locks (pipeline/fill-locks.ts): a worker asks the primary to lead the origin fetch of
 * a key (`acquire`), the primary answers `grant` (lead, or follow the worker that leads),
 * the leader reports how it ended (`release`), and the primary tells every follower (`done`).
 */
export interface FillAcquireMessage {
  type: 'cdn-edge:fill-acquire';
  id: number;
  key: string;
}

export interface FillGrantMessage {
  type: 'cdn-edge:fill-grant';
  id: number;
  lead: boolean;
}

export interface FillReleaseMessage {
  type: 'cdn-edge:fill-release';
  key: string;
  outcome: FillOutcome;
}

export interface FillDoneMessage {
  type: 'cdn-edge:fill-done';
  key: string;
  outcome: FillOutcome;
}

function typed(message: unknown, type: string): boolean {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}

export function isFillAcquire(message: unknown): message is FillAcquireMessage {
  return typed(message, 'cdn-edge:fill-acquire') && typeof (message as { id?: unknown }).id === 'number' && typeof (message as { key?: unknown }).key === 'string';
}

export function isFillGrant(message: unknown): message is FillGrantMessage {
  return typed(message, 'cdn-edge:fill-grant') && typeof (message as { id?: unknown }).id === 'number';
}

export function isFillRelease(message: unknown): message is FillReleaseMessage {
  return typed(message, 'cdn-edge:fill-release') && typeof (message as { key?: unknown }).key === 'string' && isOutcome((message as { outcome?: unknown }).outcome);
}

export function isFillDone(message: unknown): message is FillDoneMessage {
  return typed(message, 'cdn-edge:fill-done') && typeof (message as { key?: unknown }).key === 'string' && isOutcome((message as { outcome?: unknown }).outcome);
}

function isOutcome(value: unknown): value is FillOutcome {
  const kind = (value as { kind?: unknown } | null)?.kind;
  return kind === 'stored' || kind === 'unshared' || kind === 'retry' || (kind === 'failed' && typeof (value as { synthetic?: unknown }).synthetic === 'object');
}

/**
 * Client rates (access/client-rates.ts): a worker asks the primary, which keeps every
 * worker's budgets, to spend one request of `key` (`take`); the primary answers `verdict`.
 */
export interface RateTakeMessage {
  type: 'cdn-edge:rate-take';
  id: number;
  key: string;
  perSecond: number;
  burst: number;
}

export interface RateVerdictMessage {
  type: 'cdn-edge:rate-verdict';
  id: number;
  allowed: boolean;
  retryAfterMs: number;
}

export function isRateTake(message: unknown): message is RateTakeMessage {
  const m = message as Partial<RateTakeMessage>;
  return (
    typed(message, 'cdn-edge:rate-take') &&
    typeof m.id === 'number' &&
    typeof m.key === 'string' &&
    typeof m.perSecond === 'number' &&
    m.perSecond > 0 &&
    Number.isFinite(m.perSecond) &&
    typeof m.burst === 'number' &&
    m.burst >= 1 &&
    Number.isFinite(m.burst)
  );
}

export function isRateVerdict(message: unknown): message is RateVerdictMessage {
  const m = message as Partial<RateVerdictMessage>;
  return typed(message, 'cdn-edge:rate-verdict') && typeof m.id === 'number' && typeof m.allowed === 'boolean' && typeof m.retryAfterMs === 'number';
}
