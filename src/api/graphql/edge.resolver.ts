/** The `edges` query: the live edges from the fleet channel. */
import { Authorized, Ctx, Query, Resolver } from 'type-graphql';
import type { EdgeStatus } from '../../core/fleet.port';
import type { ApiContext } from './context.type';
import { Edge, EdgeRole } from './edge.type';

function toGraphqlEdge(status: EdgeStatus): Edge {
  return Object.assign(new Edge(), {
    edgeId: status.edgeId,
    host: status.host,
    pid: status.pid,
    version: status.version,
    appliedSeq: status.appliedSeq,
    lastHeartbeat: new Date(status.heartbeatAt),
    startedAt: new Date(status.startedAt),
    ready: status.ready,
    cacheObjects: status.cacheObjects,
    cacheBytes: status.cacheBytes,
    role: status.role === 'shield' ? EdgeRole.SHIELD : EdgeRole.EDGE,
    shieldUrl: status.role === 'shield' ? (status.shieldUrl ?? null) : null,
  });
}

@Resolver(() => Edge)
export class EdgeResolver {
  @Authorized('fleet.read')
  @Query(() => [Edge], { description: 'Every live edge process (heartbeat not expired), by edgeId.' })
  async edges(@Ctx() ctx: ApiContext): Promise<Edge[]> {
    return (await ctx.services.fleet.liveEdges()).map(toGraphqlEdge);
  }
}
