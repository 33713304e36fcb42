/**
 * Cache warming as it travels from the api to the edges (the `warm.requested` bus event) and
 * as edges report their progress back (warm reports over the fleet channel, core/fleet.port.ts).
 *
 * A warm names URLs of one customer; every edge (or the one named) fetches each of them
 * through its own request path, so what it stores is what a client's miss would store
 * (docs/EDGE.md, "Cache warming").
 */

/** Longest URL (or path) a warm accepts, in characters: the limit of a purge value. */
export const WARM_URL_MAX_CHARS = 2048;

/** URLs one warm may name unless the api's CDN_WARM_MAX_URLS says otherwise. */
export const WARM_MAX_URLS_DEFAULT = 1000;
/**
 * The most CDN_WARM_MAX_URLS may allow: a warm's URLs travel in one bus change, read by every
 * edge and api, so 10,000 URLs of 2 KiB at most keep one change near 20 MiB at worst.
 */
export const WARM_MAX_URLS_CAP = 10_000;

/** One URL to warm: the Host to send and the request target (path with its query) as a client would send it. */
export interface WarmTarget {
  /** One of the customer's domains, lower-cased. */
  host: string;
  /** `/img/logo.png?v=2`: starts with `/`, no fragment, no spaces or control characters. */
  path: string;
}

export interface WarmRequest {
  /** UUID assigned by the api. */
  id: string;
  customerId: string;
  /** Distinct targets, in the order given. */
  targets: WarmTarget[];
  /** Only the edge whose CDN_EDGE_ID this is warms; null: every edge. */
  edgeId: string | null;
  /** ISO time the api accepted the warm. */
  requestedAt: string;
}

/**
 * Where one edge stands with a warm, as it reports it:
 * - `warming`: it took the warm up and is fetching (the counts so far);
 * - `done`: every URL was fetched (`done + failed = total`);
 * - `stopped`: the edge process stopped before finishing (a shutdown); what it did stays cached.
 */
export type WarmReportState = 'warming' | 'done' | 'stopped';

export const WARM_REPORT_STATES: readonly WarmReportState[] = ['warming', 'done', 'stopped'];

/**
 * The edge a warm is reported under: the machine (`CDN_EDGE_ID`), not a cluster worker
 * (`<CDN_EDGE_ID>#<n>`), since one worker warms for the whole machine. The fleet lists
 * workers; this is how their machine is named.
 */
export function machineOf(edgeId: string): string {
  return edgeId.replace(/#[0-9]+$/, '');
}
