/** The `auditLog` query. Thin: arguments in, the audit service, mapper out. */
import { Arg, Authorized, Ctx, ID, Int, Query, Resolver } from 'type-graphql';
import { toGraphqlAuditEntry } from './audit.mapper';
import { AUDIT_PAGE_SIZE_DEFAULT } from '../services/audit.service';
import { AuditEntry, AuditEntryConnection } from './audit.type';
import type { ApiContext } from './context.type';
import { PageInfo } from './customer-connection.type';

@Resolver(() => AuditEntry)
export class AuditResolver {
  @Authorized('audit.read')
  @Query(() => AuditEntryConnection, {
    description:
      'The audit log (ADMIN): every mutation run, newest first, a page at a time (first: 1 to 500). With customerId, only the entries about that ' +
      'customer (a deleted customer\'s entries remain until they expire, CDN_AUDIT_RETENTION_DAYS).',
  })
  async auditLog(
    @Ctx() ctx: ApiContext,
    @Arg('first', () => Int, { nullable: true, defaultValue: AUDIT_PAGE_SIZE_DEFAULT }) first: number | null,
    @Arg('after', () => String, { nullable: true, description: 'pageInfo.endCursor of the previous page.' }) after?: string | null,
    @Arg('customerId', () => ID, { nullable: true }) customerId?: string | null,
  ): Promise<AuditEntryConnection> {
    const page = await ctx.services.audit.list({ first: first ?? AUDIT_PAGE_SIZE_DEFAULT, after: after ?? null, customerId: customerId ?? null });
    const connection = new AuditEntryConnection();
    connection.nodes = page.nodes.map(toGraphqlAuditEntry);
    connection.pageInfo = Object.assign(new PageInfo(), { endCursor: page.endCursor, hasNextPage: page.hasNextPage });
    return connection;
  }
}
