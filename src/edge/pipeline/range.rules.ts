/**
 * Byte ranges served from a whole 200 (RFC 9110 §14): parsing `Range: bytes=…`, the
 * satisfiable ranges in ascending order with overlaps coalesced (§14.2 allows it), and a
 * stream that cuts the ranges out of the full body, as one part or multipart/byteranges
 * (§14.6).
 */
import { randomBytes } from 'node:crypto';
import { Transform } from 'node:stream';

export type ByteRange = readonly [first: number, last: number];

/** More ranges than this is treated as no Range at all (§14.2: a server may ignore it). */
const MAX_RANGES = 32;

/**
 * RFC 9110 §14.1.2: the satisfiable ranges of `value` for a representation of `size`
 * bytes; `undefined` when the field is to be ignored (other unit, bad syntax, too many),
 * an empty list when none is satisfiable (416).
 */
export function satisfiableRanges(value: string, size: number): ByteRange[] | undefined {
  const eq = value.indexOf('=');
  if (eq < 0 || value.slice(0, eq).trim().toLowerCase() !== 'bytes') return undefined;
  const specs = value.slice(eq + 1).split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length === 0 || specs.length > MAX_RANGES) return undefined;
  const out: [number, number][] = [];
  for (const spec of specs) {
    const m = /^(\d*)-(\d*)$/.exec(spec);
    if (m === null || (m[1] === '' && m[2] === '')) return undefined;
    if (m[1] === '') {
      // suffix-range: the last N bytes (§14.1.1); zero is unsatisfiable.
      const n = Number(m[2]);
      if (n > 0 && size > 0) out.push([Math.max(0, size - n), size - 1]);
      continue;
    }
    const first = Number(m[1]);
    const last = m[2] === '' ? Infinity : Number(m[2]);
    if (last < first) return undefined;
    if (first < size) out.push([first, Math.min(last, size - 1)]);
  }
  out.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const r of out) {
    const prev = merged[merged.length - 1];
    if (prev !== undefined && r[0] <= prev[1] + 1) prev[1] = Math.max(prev[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range[0]}-${range[1]}/${size}`;
}

export interface Multipart {
  boundary: string;
  contentType: string | undefined;
}

export function newBoundary(): string {
  return `edgeplane-${randomBytes(12).toString('hex')}`;
}

function partHead(range: ByteRange, size: number, mp: Multipart): Buffer {
  const type = mp.contentType === undefined ? '' : `Content-Type: ${mp.contentType}\r\n`;
  return Buffer.from(`\r\n--${mp.boundary}\r\n${type}Content-Range: ${contentRange(range, size)}\r\n\r\n`);
}

function closing(mp: Multipart): Buffer {
  return Buffer.from(`\r\n--${mp.boundary}--\r\n`);
}

/** Bytes the answer will have: one part, or the multipart body with its delimiters. */
export function rangesLength(ranges: readonly ByteRange[], size: number, mp: Multipart | undefined): number {
  let n = 0;
  for (const r of ranges) n += r[1] - r[0] + 1 + (mp === undefined ? 0 : partHead(r, size, mp).length);
  return mp === undefined ? n : n + closing(mp).length;
}

/**
 * Passes on only the bytes in `ranges` (ascending, disjoint) of a full body of `size`
 * bytes. It reads the source to its end (a shared origin body must keep flowing to the
 * store and the other clients).
 */
export function rangeSlicer(ranges: readonly ByteRange[], size: number, mp: Multipart | undefined): Transform {
  let pos = 0;
  let next = 0; // index of the first range not yet finished
  let started = false;
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      const start = pos;
      const end = pos + chunk.length; // exclusive
      pos = end;
      while (next < ranges.length) {
        const [first, last] = ranges[next]!;
        if (first >= end) break;
        const from = Math.max(first, start);
        const to = Math.min(last + 1, end);
        if (to > from) {
          if (!started && mp !== undefined) this.push(partHead(ranges[next]!, size, mp));
          started = true;
          this.push(chunk.subarray(from - start, to - start));
        }
        if (last + 1 <= end) {
          next += 1;
          started = false;
        } else break;
      }
      callback();
    },
    flush(callback) {
      callback(null, mp === undefined ? undefined : closing(mp));
    },
  });
}
