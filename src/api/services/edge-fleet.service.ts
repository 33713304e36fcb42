/** The live edges, as the fleet channel reports them (the `edges` query). */
import { cdnError } from '../../core/errors';
import type { EdgeFleet, EdgeStatus } from '../../core/fleet.port';

export class EdgeFleetService {
  readonly #fleet: EdgeFleet;

  constructor(fleet: EdgeFleet) {
    this.#fleet = fleet;
  }

  /**
   * Edges whose heartbeat has not expired, ordered by edge id. While Redis is unreachable (a
   * failover takes seconds) the caller gets a retryable CDN_ERR_FLEET_UNAVAILABLE.
   */
  async liveEdges(): Promise<EdgeStatus[]> {
    try {
      return await this.#fleet.liveEdges();
    } catch {
      throw cdnError('CDN_ERR_FLEET_UNAVAILABLE');
    }
  }
}
