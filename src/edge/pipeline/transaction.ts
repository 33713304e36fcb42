/**
 * The state of one client request as it moves through the pipeline (Varnish's `req`,
 * `bereq`, `beresp` rolled into one object), and the long-lived things every step uses.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Readable } from 'node:stream';
import type CachePolicy from 'http-cache-semantics';
import type { Dispatcher } from 'undici';
import type { CustomerConfig } from '../../core/customer.types';
import type { Decision } from '../../core/delivery-rules.compile';
import type { ClientRates } from '../access/client-rates';
import type { RulesOrFailure } from './customer-rules';
import { httpErrorBody, type CdnError } from '../../core/errors';
import type { CustomerSource } from '../../core/customer-source.port';
import type { HopClaims } from '../../core/shield-hop';
import type { ShieldGate } from '../shield/shield-gate';
import type { StoredHeaders, StoredObject } from '../cache/cache-store.port';
import type { CacheResult, Transport } from '../edge.metrics';
import type { Recode } from './compression.rules';
import type { EncodedVariants } from './encoded-variants';
import type { Flights } from './fetch.flight';
import type { FlightContext, Synthetic } from './flight.context';
import type { ByteRange, Multipart } from './range.rules';

export type { PurgeJudge, Synthetic } from './flight.context';

/** The steps of the request path (request.fsm.ts lists them once), and `done`. */
export type StepName = 'resolve' | 'https' | 'rules' | 'lookup' | 'hit' | 'stale' | 'miss' | 'pass' | 'fetch' | 'synth' | 'deliver' | 'done';

export interface PipelineContext extends FlightContext {
  customers: CustomerSource & { isReady(): boolean };
  /** Origin fetches in flight, by collapse key (request collapsing). */
  flights: Flights;
  /** CDN_EDGE_LOG_SAMPLE: the share of requests that get a log line (0..1). */
  logSample: number;
  /**
   * Where plain HTTP is redirected (https.step.ts): the port clients reach HTTPS on
   * (CDN_EDGE_TLS_PUBLIC_PORT); undefined when this edge has no TLS listener, so it never
   * redirects (a TLS terminator in front would otherwise be sent round in circles).
   */
  httpsPort?: number | undefined;
  /** A customer's delivery rules, compiled once per customer version (customer-rules.ts). */
  rules(customer: CustomerConfig): RulesOrFailure;
  /** Per-client rate budgets for the rules' rateLimit (shared by the workers of an edge). */
  clientRates: ClientRates;
  /** CDN_EDGE_SIGNED_URL_LEEWAY_SECONDS: how long past its expiry a signed URL is still accepted (clock skew). */
  signedUrlLeewaySeconds: number;
  /** Brotli and gzip (CDN_EDGE_COMPRESS_*): the stored encoded copies and the settings; absent: bodies go as stored. */
  compression?: EncodedVariants | undefined;
  /** On a shield (CDN_EDGE_ROLE=shield): judges the hops of other edges; absent on an edge. */
  shieldGate?: ShieldGate | undefined;
  /** Access logs (export files, live tail; edge/logs); absent when neither is on, and the request path does nothing for them. */
  accessLog?: AccessLogSink | undefined;
}

/** What finish() and the hit lane know of a request that ended, for its access log record (edge/logs). */
export interface AccessFacts {
  customer: string;
  host: string;
  path: string;
  status: number;
  bytes: number;
  cache: CacheResult;
  originMs: number | undefined;
  /** performance.now() when the request arrived. */
  startedAt: number;
  transport: Transport;
  aborted: boolean;
}

/** Where requests' access log records go (edge/logs/access-log.ts): asked first, so nothing is built for nobody. */
export interface AccessLogSink {
  wants(customerId: string): boolean;
  record(req: ClientRequest, facts: AccessFacts): void;
}

/**
 * A client request as the public ports hand it over: node:http's on the plain port and for
 * HTTP/1.1 over TLS, node:http2's compatibility objects for h2 (same API for everything the
 * pipeline uses; what differs is handled where it differs: the host, the body, the socket).
 */
export type ClientRequest = IncomingMessage | Http2ServerRequest;
export type ClientResponse = ServerResponse | Http2ServerResponse;

/** Whether this request gets its `request` log line: info enabled, and picked by the sample rate. */
export function sampled(ctx: PipelineContext): boolean {
  return ctx.logger.isLevelEnabled('info') && (ctx.logSample >= 1 || Math.random() < ctx.logSample);
}

export class EdgeTransaction {
  readonly req: ClientRequest;
  readonly res: ClientResponse;
  /** How the request arrived (plain HTTP/1.x, HTTP/1.x over TLS, h2). */
  readonly transport: Transport;
  readonly startedAt = performance.now();
  /** The normalised Host (empty until resolved). */
  host = '';
  path = '';
  query = '';
  customer: CustomerConfig | undefined;
  /** The delivery rules' decision for this request (rules.step.ts); undefined before that step. */
  decision: Decision | undefined;
  /** Header and cookie values the rules add to the key (`h:name=value`, `c:name=value`); empty for most. */
  keyParts: readonly string[] = [];
  /** The object's key: customer, path, normalised query, and a digest of keyParts when there are some (core/delivery-key.ts). */
  key = '';
  /** Set when the URL varies (a Vary marker was found): the key of this request's variant. */
  variantKey: string | undefined;
  /** The header names of that Vary marker. */
  markerVary: readonly string[] | undefined;
  /** GET/HEAD: looked up and possibly stored; anything else passes. */
  cacheable = false;
  cache: CacheResult = 'NONE';
  /** The stored object found at lookup (fresh, or stale and kept for revalidation / stale-if-error). */
  stored: StoredObject | undefined;
  /** Its RFC 9111 policy. */
  policy: CachePolicy | undefined;
  /** Go to the origin without joining a collapsed fetch (the shared answer did not fit this request). */
  solo = false;
  /** Times this request looked up or joined a fetch again (bounded). */
  retries = 0;
  /** Body length when known (Range needs it). */
  size: number | undefined;
  /** Deliver reads the body of `stored` (hit, stale, revalidated). */
  fromStore = false;
  /** Set by planAnswer: the byte ranges to cut out of the full body (206). */
  ranges: readonly ByteRange[] | undefined;
  multipart: Multipart | undefined;
  /** The body is encoded or decoded by the edge while it streams (content-coding.choice.ts). */
  recode: Recode | undefined;
  /** The answer is a stored encoded copy: its coding and the identity's length (compression metrics). */
  copyOf: { coding: 'br' | 'gzip'; identitySize: number } | undefined;
  origin: Dispatcher.ResponseData | undefined;
  originMs: number | undefined;
  /** Aborts the origin request when the client goes away first. */
  abort: AbortController | undefined;
  synthetic: Synthetic | undefined;
  /** Fields a synthetic answer carries besides its own (Retry-After of a 429). */
  synthHeaders: StoredHeaders | undefined;
  /** What deliver sends. */
  status = 200;
  headers: StoredHeaders = {};
  body: Readable | undefined;
  /** Or the whole body in one buffer (a small miss's, fetch.step.ts): one write, no stream. */
  wholeBody: Buffer | undefined;
  bytes = 0;

  /**
   * Set on a shield for a request another edge of the fleet sent (a valid Edgeplane-Hop,
   * edge/shield/shield-gate.ts): its client and scheme are the claims', the edge has judged
   * access and redirects already, and the answer goes back as the origin's (no fields for
   * browsers, no compression).
   */
  hop: HopClaims | undefined;

  /** Strict-Transport-Security sent with the answer (https.step.ts: TLS answers of a customer with HSTS). */
  hsts: string | undefined;

  constructor(req: ClientRequest, res: ClientResponse, transport: Transport = 'http') {
    this.req = req;
    this.res = res;
    this.transport = transport;
  }

  /** Arrived over TLS. */
  get secure(): boolean {
    return this.transport !== 'http';
  }

  /** The end user's address: the socket's, or on a shield the one the asking edge signed. */
  get clientAddress(): string | undefined {
    return this.hop !== undefined ? this.hop.client : this.req.socket?.remoteAddress;
  }

  /** The end user's scheme: this connection's, or on a shield the one the asking edge signed. */
  get proto(): 'http' | 'https' {
    return this.hop !== undefined ? this.hop.proto : this.secure ? 'https' : 'http';
  }

  get isHead(): boolean {
    return this.req.method === 'HEAD';
  }

  /** The client's side is gone (connection, or h2 stream, closed or reset): nothing more can be sent. */
  get clientGone(): boolean {
    const res = this.res;
    return 'stream' in res ? res.stream.destroyed || res.stream.closed : res.destroyed;
  }

  /**
   * The request has a body to read: HTTP/1 frames one with Content-Length or
   * Transfer-Encoding; h2 with DATA frames, Content-Length optional (RFC 9113 §8.1), so a
   * request stream not ended with its headers has one.
   */
  get hasBody(): boolean {
    const req = this.req;
    if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) return true;
    return 'stream' in req && !req.stream.endAfterHeaders;
  }

  /** Answers with the edge's JSON error for `err` (its catalog code, status and message). */
  synth(err: CdnError, extra?: Record<string, unknown>): 'synth' {
    this.synthetic = { status: err.status, body: httpErrorBody(err, extra) };
    return 'synth';
  }
}
