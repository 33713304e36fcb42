/**
 * Steps `synth` (a JSON answer the edge makes up: bad host, unknown host, origin
 * errors) and `deliver` (write status, headers and the body stream to the client).
 * Writes go to the raw Node response: the hit path does no more than it must.
 */
import { pipeline } from 'node:stream';
import { VIA } from '../origin/origin-headers';
import type { StepName } from './request.fsm';
import type { EdgeTransaction } from './transaction';

export function synthStep(tx: EdgeTransaction): StepName {
  const synthetic = tx.synthetic!;
  const body = Buffer.from(JSON.stringify(synthetic.body));
  tx.status = synthetic.status;
  tx.bytes = body.length;
  if (tx.res.destroyed) return 'done';
  tx.res.writeHead(synthetic.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  tx.res.end(body);
  return 'done';
}

export function deliverStep(tx: EdgeTransaction): StepName {
  const headers = tx.headers;
  headers['x-cache'] = tx.cache;
  // RFC 9110 §7.6.3: an intermediary adds itself to Via in both directions.
  const via = headers.via;
  headers.via = via === undefined ? VIA : `${Array.isArray(via) ? via.join(', ') : via}, ${VIA}`;
  const res = tx.res;
  const body = tx.body;
  if (res.destroyed) {
    body?.destroy();
    return 'done';
  }
  res.writeHead(tx.status, headers);
  if (body === undefined) {
    res.end();
    return 'done';
  }
  body.on('data', (chunk: Buffer) => (tx.bytes += chunk.length));
  // Errors here are a client gone or an origin body cut short: the response is cut
  // short too, and the store (if any) sees the same failure and keeps nothing.
  pipeline(body, res, () => {});
  return 'done';
}
