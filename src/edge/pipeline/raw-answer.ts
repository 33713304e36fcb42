/**
 * A hit lane's HTTP/1.1 answer written to the socket as bytes made once per fields object:
 * the status line and every stored field serialised and validated the first time, the head
 * with its Age and connection fields kept as bytes until the Age changes (once a second).
 *
 * Why below ServerResponse: node:http validates and serialises every field of every answer
 * again (`writeHead`: two RegExps, a case-folded name and four string joins per field) and
 * hands the socket a string to encode, and that is most of what a lane hit cost over the least
 * a Node cache can do. Measured (docs/BENCHMARKS.md, "A hit below ServerResponse"): lane hits
 * answered this way cost 1.03–1.12× the Node floor's CPU, through `writeHead` 1.12–1.42×.
 *
 * What it relies on, and how it stays Node's answer:
 * - It answers only when node:http would send exactly this: the response is this socket's
 *   current one (`res.socket` set: a pipelined answer waits for the one before it, and has no
 *   socket yet), the connection stays open (`shouldKeepAlive`), the fields carry Date and
 *   Content-Length (Node would add neither), and every field passes node:http's own
 *   validateHeaderName / validateHeaderValue (checked once, when the text is made). Anything
 *   else: false, and the caller uses writeHead as always.
 * - The connection fields are those node:http writes for a kept-alive answer with a length:
 *   `Connection: keep-alive` and `Keep-Alive: timeout=<server keepAliveTimeout in s>`.
 * - The response is then ended through its own `end()`, after telling it its head is sent
 *   (`_header`, `_headerSent`: node:http's fields for that, the one private part used;
 *   test/integration/edge.hit-lane.test.ts holds every answer to writeHead's — status, fields,
 *   Connection, Keep-Alive, pipelined order — so a Node release that changed them fails there).
 */
import { STATUS_CODES, validateHeaderName, validateHeaderValue, type ServerResponse } from 'node:http';
import type { StoredHeaders } from '../cache/cache-store.port';

/**
 * A fields object's answer head for the status it was made for (one: a fields object belongs
 * to one stored answer): the text up to its Age line (NOT_RAW when node:http must write it),
 * and the whole head as bytes for the Age it was last sent with (made again when the Age has
 * changed: at most once a second). About twice the size of the fields per object the lane
 * holds, for as long as it holds it.
 */
interface Head {
  status: number;
  text: string;
  age: number;
  bytes: Buffer | undefined;
}
const heads = new WeakMap<StoredHeaders, Head>();
const NOT_RAW = '';

/** The connection fields node:http sends on a kept-alive answer, for a server's keepAliveTimeout (and no maxRequestsPerSocket, which the edge never sets). */
export function keepAliveFields(keepAliveTimeoutMs: number): string {
  return keepAliveTimeoutMs > 0 ? `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(keepAliveTimeoutMs / 1000)}\r\n\r\n` : 'Connection: keep-alive\r\n\r\n';
}

/**
 * Answers `status` with `fields` (its `age` replaced by `age`, in seconds) and `body` straight
 * to the socket; false, with nothing written, when node:http's writeHead must do it.
 */
export function writeRawAnswer(res: ServerResponse, status: number, fields: StoredHeaders, age: number, body: Buffer, connectionFields: string): boolean {
  const socket = res.socket;
  if (socket === null || socket.destroyed || !res.shouldKeepAlive || res.headersSent || (res as { maxRequestsOnConnectionReached?: boolean }).maxRequestsOnConnectionReached === true) return false;
  let head = heads.get(fields);
  if (head === undefined || head.status !== status) {
    head = { status, text: makeHead(fields, status), age: -1, bytes: undefined };
    heads.set(fields, head);
  }
  if (head.text === NOT_RAW) return false;
  if (head.age !== age || head.bytes === undefined) {
    head.bytes = Buffer.from(`${head.text}age: ${age}\r\n${connectionFields}`, 'latin1');
    head.age = age;
  }
  socket.cork();
  socket.write(head.bytes);
  socket.write(body);
  res.statusCode = status;
  const internal = res as unknown as { _header: string; _headerSent: boolean };
  internal._header = head.text;
  internal._headerSent = true;
  // Finishes the response as node:http does (and uncorks the socket: one writev).
  res.end();
  return true;
}

function makeHead(fields: StoredHeaders, status: number): string {
  if (fields.date === undefined || fields['content-length'] === undefined || fields.connection !== undefined || fields['transfer-encoding'] !== undefined) return NOT_RAW;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
  try {
    for (const name in fields) {
      if (name === 'age') continue;
      const value = fields[name]!;
      validateHeaderName(name);
      for (const one of Array.isArray(value) ? value : [value]) {
        validateHeaderValue(name, one);
        head += `${name}: ${one}\r\n`;
      }
    }
  } catch {
    return NOT_RAW;
  }
  return head;
}
