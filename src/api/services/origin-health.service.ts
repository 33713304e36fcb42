/**
 * Origin health across the fleet (the `originHealth` query, the origins-down gauge). The
 * truth is each live edge process's heartbeat, which lists the origins it holds down
 * (EdgeStatus.originsDown); a transition stored since that heartbeat (origin_event, from the
 * fleet's origin-health stream) is newer, so it wins. Both carry the edge's own clock, so
 * the two are compared on one clock. An edge older than issue 15 sends no list: only its
 * stored transitions speak for it.
 */
import { cdnError } from '../../core/errors';
import type { EdgeStatus, OriginHealthEvent } from '../../core/fleet.port';
import { PRIMARY_ORIGIN_NAME } from '../../core/origin.types';
import type { Database } from '../db/database';
import { readLatestOriginEvents } from '../db/origin-event.store';
import type { CustomerRecord } from '../domain/customer.types';
import type { OriginEdgeHealthRecord, OriginHealthRecord } from '../domain/origin-health.types';

export interface OriginHealthServiceOptions {
  db: Database;
  customer(id: string): Promise<CustomerRecord | null>;
  /** EdgeFleetService.liveEdges (CDN_ERR_FLEET_UNAVAILABLE while the fleet channel is away). */
  liveEdges(): Promise<EdgeStatus[]>;
}

export class OriginHealthService {
  readonly #o: OriginHealthServiceOptions;

  constructor(options: OriginHealthServiceOptions) {
    this.#o = options;
  }

  /** Every origin of the customer, in preference order, as each live edge sees it; CDN_ERR_CUSTOMER_NOT_FOUND for no such customer. */
  async forCustomer(customerId: string): Promise<OriginHealthRecord[]> {
    const customer = await this.#o.customer(customerId);
    if (customer === null) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', customerId);
    const origins = customer.origins ?? [{ name: PRIMARY_ORIGIN_NAME, url: customer.originUrl }];
    const [edges, latest] = await Promise.all([this.#o.liveEdges(), this.#o.db.read((m) => readLatestOriginEvents(m, customerId))]);
    return origins.map((origin) => ({ customerId, name: origin.name, url: origin.url, edges: edges.map((edge) => edgeHealth(edge, customerId, origin.name, latest)) }));
  }

  /** Per customer, how many of its origins some live edge holds down (from the heartbeats alone). */
  async downByCustomer(): Promise<Map<string, number>> {
    const down = new Map<string, Set<string>>();
    for (const edge of await this.#o.liveEdges()) {
      for (const d of edge.originsDown ?? []) {
        const set = down.get(d.customerId) ?? new Set<string>();
        set.add(d.origin);
        down.set(d.customerId, set);
      }
    }
    return new Map([...down].map(([customerId, origins]) => [customerId, origins.size]));
  }
}

/** One origin on one edge: its newest stored transition if later than the heartbeat, else the heartbeat's list. */
export function edgeHealth(edge: EdgeStatus, customerId: string, origin: string, latest: readonly OriginHealthEvent[]): OriginEdgeHealthRecord {
  const event = latest.find((e) => e.edgeId === edge.edgeId && e.origin === origin && e.customerId === customerId);
  const fromEvent = (e: OriginHealthEvent): OriginEdgeHealthRecord => ({ edgeId: edge.edgeId, state: e.state, since: e.at, reason: e.reason });
  if (edge.originsDown === undefined) return event === undefined ? { edgeId: edge.edgeId, state: 'up', since: null, reason: null } : fromEvent(event);
  if (event !== undefined && Date.parse(event.at) > Date.parse(edge.heartbeatAt)) return fromEvent(event);
  const down = edge.originsDown.find((d) => d.customerId === customerId && d.origin === origin);
  if (down !== undefined) return { edgeId: edge.edgeId, state: 'down', since: down.since, reason: down.reason };
  // Up at the heartbeat: since its last stored coming back, if that is what the api saw last.
  return event?.state === 'up' ? fromEvent(event) : { edgeId: edge.edgeId, state: 'up', since: null, reason: null };
}
