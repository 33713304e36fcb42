/**
 * The `accessLog` subscription: a live tail of one customer's requests on every edge, filtered
 * and sampled under load, saying so (services/access-log-tail.service.ts). A customer's own
 * roles may tail their customer only (stats.read, as for cacheStats: the access log is that
 * customer's traffic, client addresses included); another customer's id is NOT_FOUND.
 */
import { Arg, Authorized, ID, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import type { AccessLogFilter } from '../../core/access-log.port';
import { cdnError } from '../../core/errors';
import type { AccessLogEntry as Entry } from '../services/access-log-tail.service';
import { requireAccess } from './access';
import { AccessLogEntry, AccessLogEntryKind, AccessLogFilterInput, AccessLogRecord } from './access-log.type';
import type { ApiContext } from './context.type';
import { mapIterator } from './map-iterator';

type AccessLogArgs = { customerId: string; filter?: AccessLogFilterInput | null };

@Resolver()
export class AccessLogResolver {
  @Authorized('stats.read@customerId')
  @Subscription(() => AccessLogEntry, {
    description:
      'A live tail of one customer\'s access log on every edge: one entry per request (kind RECORD), filtered by status, path prefix ' +
      'and cache result. Edges send at most CDN_EDGE_LOG_TAIL_PER_SECOND requests per customer per second each; beyond that they ' +
      'say how many they skipped (kind SKIPPED). Starts now (no history: the export files, CDN_LOG_DIR, hold that). ' +
      'NOT_FOUND for an unknown customer; SERVICE_UNAVAILABLE when this api has no access log channel.',
    subscribe: async ({ args, context }: SubscribeResolverData<unknown, AccessLogArgs, ApiContext>) => {
      requireAccess(context, 'stats.read', args.customerId);
      if (!(await context.services.customers.get(args.customerId))) throw cdnError('CDN_ERR_CUSTOMER_NOT_FOUND', args.customerId);
      return mapIterator(context.services.accessLogs.tail(args.customerId, filterOf(args.filter)), toEntry);
    },
  })
  accessLog(
    @Root() entry: AccessLogEntry,
    @Arg('customerId', () => ID) _customerId: string,
    @Arg('filter', () => AccessLogFilterInput, { nullable: true }) _filter: AccessLogFilterInput | null,
  ): AccessLogEntry {
    return entry;
  }
}

function filterOf(input: AccessLogFilterInput | null | undefined): AccessLogFilter {
  return {
    statusClasses: input?.statusClasses ?? undefined,
    statuses: input?.statuses ?? undefined,
    pathPrefix: input?.pathPrefix ?? undefined,
    cacheResults: (input?.cacheResults ?? undefined) as AccessLogFilter['cacheResults'],
  };
}

function toEntry(entry: Entry): AccessLogEntry {
  const r = entry.record;
  const record =
    r === null
      ? null
      : Object.assign(new AccessLogRecord(), {
          time: new Date(r.time),
          edgeId: r.edge,
          customerId: r.customer,
          clientIp: r.client,
          method: r.method,
          host: r.host,
          path: r.path,
          status: r.status,
          bytes: r.bytes,
          cache: r.cache,
          originMs: r.originMs ?? null,
          ms: r.ms,
          transport: r.transport,
          tls: r.tls ?? null,
          alpn: r.alpn ?? null,
          userAgent: r.ua ?? null,
          referer: r.referer ?? null,
          aborted: r.aborted === true,
        });
  return Object.assign(new AccessLogEntry(), { kind: entry.kind as AccessLogEntryKind, record, edgeId: entry.edgeId, at: new Date(entry.at), skipped: entry.skipped });
}
