/**
 * The hop from an edge to an origin shield (docs/EDGE.md, "Origin shield"): an edge that
 * misses sends the request to a shield instead of the origin, with an `Edgeplane-Hop` field
 * that proves it comes from an edge of this fleet and says what the shield must take from the
 * edge rather than from the socket:
 *
 *   Edgeplane-Hop: v1; edge=<edge id>; t=<unix ms>; seq=<applied change seq>; client=<address>; proto=<http|https>; sig=<base64url>
 *
 *   sig = HMAC-SHA256(hop key, "v1\n" t "\n" edge "\n" seq "\n" client "\n" proto "\n" method "\n" host "\n" target)
 *   hop key = HKDF-SHA256(CDN_SECRET_KEY, salt "edgeplane", info "shield-hop v1", 32 bytes)
 *
 * - `client` and `proto` are the end user's address and scheme as the edge saw them: the
 *   shield's origin request forwards them (X-Forwarded-For, X-Forwarded-Proto) and keys
 *   variants by them, as the edge would have.
 * - `seq` is the last change the edge applied. A shield answers from its cache only once it
 *   has applied at least that seq itself, so an edge never refills from a shield an object
 *   older than a purge the edge has applied.
 * - The signature covers the method, Host and target too: a captured field is good for that
 *   one request only, and only within HOP_WINDOW_MS of `t` (both ways: clocks differ), so a
 *   replay can at most ask again for an object the edge asked for.
 *
 * Only a shield reads this field. Without it (or at an edge) a request is a client's like
 * any other: the shield is never an open proxy, since it serves customers' domains only, and
 * a forged field is refused (403) before anything is asked of an origin.
 */
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

export const HOP_FIELD = 'edgeplane-hop';
/** How far `t` may be from the shield's clock, either way. */
export const HOP_WINDOW_MS = 60_000;

export type HopProto = 'http' | 'https';

/** What an edge attests about the request it sends to a shield. */
export interface HopClaims {
  /** The fleet id of the edge process that sent it. */
  edge: string;
  /** The change seq that edge had applied when it sent the request. */
  seq: number;
  /** The end user's address as the edge's socket saw it. */
  client: string;
  proto: HopProto;
}

/** What the signature binds the claims to: the request as the shield receives it. */
export interface HopRequest {
  method: string;
  /** The Host field as sent (the customer's domain). */
  host: string;
  /** The request target as sent (path and query). */
  target: string;
}

export type HopVerdict = { ok: true; claims: HopClaims } | { ok: false; reason: string };

const EDGE_ID = /^[\x21-\x7e]{1,200}$/;
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;

/** Whether an edge id can travel in the field (printable, no space or ";"). */
export function isHopEdgeId(edge: string): boolean {
  return EDGE_ID.test(edge) && !edge.includes(';');
}

/** The key both sides derive from CDN_SECRET_KEY (never the secret itself, which also seals secrets at rest). */
export function hopKey(secretKey: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secretKey, 'edgeplane', 'shield-hop v1', 32));
}

function signature(key: Buffer, t: number, claims: HopClaims, request: HopRequest): string {
  const message = ['v1', String(t), claims.edge, String(claims.seq), claims.client, claims.proto, request.method, request.host, request.target].join('\n');
  return createHmac('sha256', key).update(message, 'utf8').digest('base64url');
}

/** The field's value for one request, signed at `nowMs`. */
export function signHop(key: Buffer, claims: HopClaims, request: HopRequest, nowMs: number): string {
  if (!isHopEdgeId(claims.edge)) throw new TypeError(`edge id "${claims.edge}" cannot travel in ${HOP_FIELD}`);
  if (isIP(claims.client) === 0) throw new TypeError(`client "${claims.client}" is not an IP address`);
  const t = Math.floor(nowMs);
  return `v1; edge=${claims.edge}; t=${t}; seq=${claims.seq}; client=${claims.client}; proto=${claims.proto}; sig=${signature(key, t, claims, request)}`;
}

/**
 * Checks a received field: well formed, signed with this fleet's key for this very request,
 * within the window. Every refusal says what was wrong (for the shield's log and the 403).
 */
export function verifyHop(key: Buffer, field: string | string[] | undefined, request: HopRequest, nowMs: number): HopVerdict {
  if (field === undefined) return { ok: false, reason: `no ${HOP_FIELD} field` };
  if (Array.isArray(field)) return { ok: false, reason: `more than one ${HOP_FIELD} field` };
  const parts = field.split(';').map((p) => p.trim());
  if (parts[0] !== 'v1') return { ok: false, reason: `${HOP_FIELD} is not version v1` };
  const values = new Map<string, string>();
  for (const part of parts.slice(1)) {
    const eq = part.indexOf('=');
    if (eq <= 0 || values.has(part.slice(0, eq))) return { ok: false, reason: `${HOP_FIELD} is malformed near "${part.slice(0, 40)}"` };
    values.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const edge = values.get('edge') ?? '';
  const t = values.get('t') ?? '';
  const seq = values.get('seq') ?? '';
  const client = values.get('client') ?? '';
  const proto = values.get('proto') ?? '';
  const sig = values.get('sig') ?? '';
  if (!EDGE_ID.test(edge)) return { ok: false, reason: `${HOP_FIELD} has no valid edge id` };
  if (!/^[0-9]{1,15}$/.test(t)) return { ok: false, reason: `${HOP_FIELD} has no valid time` };
  if (!/^[0-9]{1,15}$/.test(seq)) return { ok: false, reason: `${HOP_FIELD} has no valid seq` };
  if (isIP(client) === 0) return { ok: false, reason: `${HOP_FIELD} has no valid client address` };
  if (proto !== 'http' && proto !== 'https') return { ok: false, reason: `${HOP_FIELD} has no valid proto` };
  if (!SIGNATURE.test(sig)) return { ok: false, reason: `${HOP_FIELD} has no valid signature` };
  const claims: HopClaims = { edge, seq: Number(seq), client, proto };
  const expected = Buffer.from(signature(key, Number(t), claims, request));
  if (!timingSafeEqual(expected, Buffer.from(sig))) {
    return { ok: false, reason: `the ${HOP_FIELD} signature does not match this request: the sending edge has another CDN_SECRET_KEY, or the field was not made for it` };
  }
  const skew = nowMs - Number(t);
  if (Math.abs(skew) > HOP_WINDOW_MS) {
    return { ok: false, reason: `the ${HOP_FIELD} field was signed ${Math.round(skew / 1000)} s from now, beyond the ${HOP_WINDOW_MS / 1000} s window (a replay, or clocks that differ: run NTP on every edge)` };
  }
  return { ok: true, claims };
}

/**
 * Rendezvous (highest random weight) hashing: the shield for a key is the one whose
 * hash(shield, key) is highest. Every edge computes the same choice from the same list, and
 * when a shield joins or leaves only the keys it wins or held move.
 */
export function rendezvousOrder<T extends { url: string }>(nodes: readonly T[], key: string): T[] {
  const scored = nodes.map((node) => ({ node, score: createHash('sha256').update(node.url).update('\n').update(key).digest().readBigUInt64BE(0) }));
  scored.sort((a, b) => (a.score > b.score ? -1 : a.score < b.score ? 1 : a.node.url < b.node.url ? -1 : 1));
  return scored.map((s) => s.node);
}
