/**
 * Splits one body into two readers (the client and the cache file) with shared
 * backpressure: the slower reader sets the pace, so nothing buffers a whole object.
 * If the source fails or closes before its end, both readers fail, so the store
 * never renames a partial object into place.
 *
 * `beforeEnd` holds back the last chunk of the first reader (the client's response) until
 * the store is done: a client knows a response with Content-Length is complete at its last
 * byte, so this is what lets a client that saw a MISS and asks again at once get the HIT.
 */
import { PassThrough, Transform, type Readable } from 'node:stream';

export function teeStream(source: Readable, beforeEnd?: () => Promise<unknown>): [Readable, Readable] {
  const a = beforeEnd === undefined ? new PassThrough() : holdLastChunk(beforeEnd);
  const b = new PassThrough();
  const fail = (err: Error): void => {
    a.destroy(err);
    b.destroy(err);
  };
  source.once('error', fail);
  source.once('close', () => {
    if (!source.readableEnded) fail(Object.assign(new Error('the origin body ended early'), { code: 'EDGE_BODY_ABORTED' }));
  });
  source.pipe(a);
  source.pipe(b);
  return [a, b];
}

/** Passes chunks on one step late, and the last one only once `beforeEnd` has settled. */
function holdLastChunk(beforeEnd: () => Promise<unknown>): Transform {
  let held: Buffer | undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const previous = held;
      held = chunk;
      callback(null, previous);
    },
    flush(callback) {
      const last = held;
      held = undefined;
      beforeEnd().then(
        () => callback(null, last),
        () => callback(null, last),
      );
    },
  });
}
