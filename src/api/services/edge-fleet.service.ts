/** The live edges, as the fleet channel reports them (the `edges` query). */
import type { EdgeFleet, EdgeStatus } from '../../core/fleet.port';

export class EdgeFleetService {
  readonly #fleet: EdgeFleet;

  constructor(fleet: EdgeFleet) {
    this.#fleet = fleet;
  }

  /** Edges whose heartbeat has not expired, ordered by edge id. */
  liveEdges(): Promise<EdgeStatus[]> {
    return this.#fleet.liveEdges();
  }
}
