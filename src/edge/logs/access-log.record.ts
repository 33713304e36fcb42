/**
 * One access log record per client request (core/access-log.port.ts), built from what the
 * pipeline's transaction or the hit lane knows, and its NDJSON line. Everything a client sent
 * (path, host, user agent, referer) is hostile: bounded in length here, and the line escapes
 * every control character (C0 as JSON does, plus DEL, C1 and the Unicode line and paragraph
 * separators), so one request is always exactly one line and no field can be forged.
 */
import type { TLSSocket } from 'node:tls';
import type { AccessLogCacheResult, AccessLogRecord } from '../../core/access-log.port';
import { normalizeClientAddress } from '../../core/client-address.rules';
import type { AccessFacts, ClientRequest } from '../pipeline/transaction';

/** Longest path, user agent and referer kept (characters; the rest is cut and marked `…`). */
export const PATH_MAX = 2048;
export const UA_MAX = 512;
export const REFERER_MAX = 1024;
const HOST_MAX = 255;

/** The record of a request that just ended on edge process `edge`, `nowMs` its end (epoch ms, the edge's clock). */
export function accessRecord(req: ClientRequest, edge: string, facts: AccessFacts, nowMs: number): AccessLogRecord {
  const record: AccessLogRecord = {
    time: isoTime(nowMs),
    edge,
    customer: facts.customer,
    client: clientOf(req),
    method: clip(req.method ?? '', 32),
    host: clip(facts.host, HOST_MAX),
    path: clip(facts.path, PATH_MAX),
    status: facts.status,
    bytes: facts.bytes,
    cache: facts.cache as AccessLogCacheResult,
    ms: Math.round((performance.now() - facts.startedAt) * 1000) / 1000,
    transport: facts.transport,
  };
  if (facts.originMs !== undefined) record.originMs = Math.round(facts.originMs * 1000) / 1000;
  if (facts.transport !== 'http') {
    const socket = req.socket as TLSSocket | undefined;
    const version = socket?.getProtocol?.();
    if (typeof version === 'string') record.tls = version;
    const alpn = socket?.alpnProtocol;
    if (typeof alpn === 'string') record.alpn = alpn;
  }
  // From the raw list: `req.headers` is built on first use, and the hit lane never builds it.
  const raw = req.rawHeaders;
  let ua: string | undefined;
  let referer: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // node:http keeps the first of each (a repeat is dropped): so does the log.
    if (name.length === 10 && ua === undefined && name.toLowerCase() === 'user-agent') ua = raw[i + 1];
    else if (name.length === 7 && referer === undefined && name.toLowerCase() === 'referer') referer = raw[i + 1];
  }
  if (ua !== undefined) record.ua = clip(ua, UA_MAX);
  if (referer !== undefined) record.referer = clip(referer, REFERER_MAX);
  if (facts.aborted) record.aborted = true;
  return record;
}

/**
 * The record as one line: JSON (which escapes quotes, backslashes and C0 controls, newline
 * included), then DEL, C1 controls, U+2028 and U+2029 escaped too, so the line holds no raw
 * control character at all and parses back to the same values; then the newline.
 */
export function accessLine(record: AccessLogRecord): string {
  return `${JSON.stringify(record).replace(UNSAFE, escape)}\n`;
}

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u007f-\u009f\u2028\u2029]/g;

function escape(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** The ISO form of `ms`, formatted once per second (a busy edge writes many lines per second). */
let secondStart = Number.NaN;
let secondPrefix = '';
function isoTime(ms: number): string {
  const within = ms - secondStart;
  if (!(within >= 0 && within < 1000)) {
    secondStart = ms - (((ms % 1000) + 1000) % 1000);
    secondPrefix = new Date(secondStart).toISOString().slice(0, 20);
    return isoTime(ms);
  }
  const millis = Math.floor(within);
  return `${secondPrefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}

function clip(value: string, max: number): string {
  return value.length <= max ? value : `${value.slice(0, max)}…`;
}

function clientOf(req: ClientRequest): string {
  const address = req.socket?.remoteAddress;
  return address === undefined ? '' : normalizeClientAddress(address);
}
