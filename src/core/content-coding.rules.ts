/**
 * Content negotiation on Accept-Encoding (RFC 9110 §12.5.3), reduced to the three answers
 * Edgeplane ever sends: brotli, gzip or the body as it is. Whatever a client writes, it
 * lands on one of these three, so a cache keyed by the result keeps at most three copies
 * of a representation, and no spelling of the field can make one client's answer another's.
 * Used by the edge (stored and on-the-fly encodings) and by the api's own pages.
 */

/** The codings Edgeplane sends; `identity` is the body as stored, without a content coding. */
export type ContentCoding = 'br' | 'gzip' | 'identity';

/** What a server can encode with, in the order it prefers among equal weights (smaller first). */
export const ENCODINGS = ['br', 'gzip'] as const;
export type Encoding = (typeof ENCODINGS)[number];

/**
 * The coding to answer with, from the client's Accept-Encoding field (`undefined`: absent).
 *
 * - Absent or empty field: identity (§12.5.3 lets a server pick any coding for an absent
 *   field; clients that send none, such as curl without --compressed, expect none).
 * - Each member is `coding[;q=weight]`; `x-gzip` is gzip (§8.4.1.3); a member whose weight
 *   is not a valid qvalue (§12.4.2: 0 to 1, three decimals at most) is ignored.
 * - `q=0` refuses a coding; `*` weighs every coding not named (identity included).
 * - The best weight wins; among equal weights br before gzip, and an encoding before
 *   identity unless identity is named with a higher weight than every encoding.
 * - When nothing is acceptable (`identity;q=0` and no encoding), the body goes as it is:
 *   §12.5.3 allows that or 406, and a CDN answering 406 for a fetchable object helps nobody.
 */
export function negotiateCoding(field: string | undefined, offered: readonly Encoding[] = ENCODINGS): ContentCoding {
  if (field === undefined) return 'identity';
  let br = -1;
  let gzip = -1;
  let identity = -1;
  let star = -1;
  let start = 0;
  const end = field.length;
  while (start <= end) {
    let comma = field.indexOf(',', start);
    if (comma < 0) comma = end;
    const member = parseMember(field, start, comma);
    start = comma + 1;
    if (member === undefined) continue;
    const [name, q] = member;
    if (name === 'br') br = Math.max(br, q);
    else if (name === 'gzip' || name === 'x-gzip') gzip = Math.max(gzip, q);
    else if (name === 'identity') identity = Math.max(identity, q);
    else if (name === '*') star = Math.max(star, q);
  }
  const weightOf = (listed: number): number => (listed >= 0 ? listed : star >= 0 ? star : 0);
  const brQ = offered.includes('br') ? weightOf(br) : 0;
  const gzipQ = offered.includes('gzip') ? weightOf(gzip) : 0;
  const best: ContentCoding = brQ >= gzipQ ? 'br' : 'gzip';
  const bestQ = Math.max(brQ, gzipQ);
  if (bestQ <= 0) return 'identity';
  if (identity > bestQ) return 'identity';
  return best;
}

/** One member of the list, lower-cased, with its weight (1 without `q`); undefined when empty or malformed. */
function parseMember(field: string, from: number, to: number): [string, number] | undefined {
  const semi = field.indexOf(';', from);
  const nameEnd = semi < 0 || semi > to ? to : semi;
  const name = field.slice(from, nameEnd).trim().toLowerCase();
  if (name === '') return undefined;
  if (nameEnd === to) return [name, 1];
  let q = 1;
  for (const param of field.slice(nameEnd + 1, to).split(';')) {
    const eq = param.indexOf('=');
    if (eq < 0) return undefined;
    if (param.slice(0, eq).trim().toLowerCase() !== 'q') continue;
    const value = param.slice(eq + 1).trim();
    // RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    if (!/^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(value)) return undefined;
    q = Number(value);
  }
  return [name, q];
}

/**
 * Whether the client accepts `coding` (lower-case: `gzip`, `br`, `deflate`, ...) with a
 * weight above 0, named or through `*` (RFC 9110 §12.5.3). An absent field accepts none:
 * clients that send none (curl without --compressed) cannot decode one.
 */
export function acceptsCoding(field: string | undefined, coding: string): boolean {
  if (field === undefined) return false;
  let named = -1;
  let star = -1;
  let start = 0;
  while (start <= field.length) {
    let comma = field.indexOf(',', start);
    if (comma < 0) comma = field.length;
    const member = parseMember(field, start, comma);
    start = comma + 1;
    if (member === undefined) continue;
    const name = member[0] === 'x-gzip' ? 'gzip' : member[0];
    if (name === coding) named = Math.max(named, member[1]);
    else if (name === '*') star = Math.max(star, member[1]);
  }
  return (named >= 0 ? named : star) > 0;
}
