/**
 * The live origin shields, as the fleet heartbeats list them (core/fleet.port.ts: `role`
 * `shield` with its `shieldUrl`), refreshed every heartbeat interval, and which one a key
 * goes to: rendezvous hashing (core/shield-hop.ts), so every edge sends a key to the same
 * shield and a shield joining or leaving moves only its share of the keys.
 *
 * A shield this edge could not reach (or that refused its hop) is left out for
 * SHIELD_DOWN_MS, so its keys go to the next shield in rendezvous order (or, with none, to
 * the origin) until then; the fleet forgets a shield that stopped within three heartbeats.
 * Cluster workers of one shield each heartbeat under their own id with one URL: one node.
 * A shield never sends to a shield (edge/server.ts gives a shield no directory).
 */
import type { EdgeFleet } from '../../core/fleet.port';
import { rendezvousOrder } from '../../core/shield-hop';
import type { Logger } from '../../obs/logger.factory';

/** How long a shield that failed a request is left out. */
export const SHIELD_DOWN_MS = 10_000;

export interface ShieldNode {
  /** `http(s)://host:port` of its public port. */
  url: string;
}

export interface ShieldDirectoryOptions {
  fleet: Pick<EdgeFleet, 'liveEdges'>;
  intervalMs: number;
  logger: Logger;
  now?: () => number;
}

export class ShieldDirectory {
  readonly #o: ShieldDirectoryOptions;
  readonly #now: () => number;
  readonly #log: Logger;
  #nodes: readonly ShieldNode[] = [];
  /** url → until when it is left out. */
  readonly #down = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #failing = false;
  #refreshing: Promise<void> | undefined;

  constructor(options: ShieldDirectoryOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#log = options.logger.child({ component: 'shield-directory' });
  }

  /** Reads the fleet now, then every interval. Resolves after the first read (never rejects). */
  start(): Promise<void> {
    this.#timer = setInterval(() => void this.refresh(), this.#o.intervalMs);
    this.#timer.unref();
    return this.refresh();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** One read of the fleet's live shields; while the fleet cannot be read, the last list stays. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#read().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #read(): Promise<void> {
    let edges;
    try {
      edges = await this.#o.fleet.liveEdges();
    } catch (err) {
      if (!this.#failing) this.#log.warn({ err: err instanceof Error ? err.message : String(err), shields: this.#nodes.length }, 'cannot read the live shields: keeping the last list');
      this.#failing = true;
      return;
    }
    this.#failing = false;
    const urls = new Set<string>();
    for (const edge of edges) if (edge.role === 'shield' && edge.ready && edge.shieldUrl !== undefined) urls.add(edge.shieldUrl);
    const before = this.#nodes.map((n) => n.url).join(' ');
    this.#nodes = [...urls].sort().map((url) => Object.freeze({ url }));
    const after = this.#nodes.map((n) => n.url).join(' ');
    if (before !== after) this.#log.info({ shields: this.#nodes.map((n) => n.url) }, this.#nodes.length === 0 ? 'no origin shield is live: misses go to the origins' : 'live origin shields changed');
  }

  /** The shields live now (those left out after a failure included). */
  get nodes(): readonly ShieldNode[] {
    return this.#nodes;
  }

  /** The shield for `key`: the first in rendezvous order that is not left out; undefined: none (ask the origin). */
  pick(key: string): ShieldNode | undefined {
    const nodes = this.#nodes;
    if (nodes.length === 0) return undefined;
    const now = this.#now();
    for (const node of nodes.length === 1 ? nodes : rendezvousOrder(nodes, key)) {
      const until = this.#down.get(node.url);
      if (until === undefined) return node;
      if (until <= now) {
        this.#down.delete(node.url);
        return node;
      }
    }
    return undefined;
  }

  /** Leaves `node` out for SHIELD_DOWN_MS (its keys go to the next shield, or the origin). */
  failed(node: ShieldNode, reason: string): void {
    const known = this.#down.has(node.url);
    this.#down.set(node.url, this.#now() + SHIELD_DOWN_MS);
    if (!known) this.#log.warn({ shield: node.url, reason, forMs: SHIELD_DOWN_MS }, 'origin shield failed: its misses go elsewhere for a while');
  }
}
