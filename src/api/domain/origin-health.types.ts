/** Origin health as the api reports it: each origin of a customer, as each live edge process sees it. */
import type { OriginHealthState } from '../../core/fleet.port';

export interface OriginEdgeHealthRecord {
  /** The edge process (its heartbeat's edgeId: each process has its own breakers). */
  edgeId: string;
  state: OriginHealthState;
  /** When it entered this state (ISO, the edge's clock); null when the api never saw it change there. */
  since: string | null;
  /** Why it went down, or came back; null when the api never saw it change there. */
  reason: string | null;
}

export interface OriginHealthRecord {
  customerId: string;
  /** The origin's name within its customer. */
  name: string;
  url: string;
  /** One per live edge process, by edgeId. */
  edges: OriginEdgeHealthRecord[];
}
