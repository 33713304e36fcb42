/**
 * The `auditLog` query. Thin: arguments in, the audit service, mapper out. Platform callers
 * need audit.read and see every entry; a customer's token (customer.audit: CUSTOMER_ADMIN)
 * sees the entries about its customer only: the filter is its own customer id, whatever it
 * asks, and another customer's id is NOT_FOUND as everywhere else (access.ts).
 */
import { Arg, Authorized, Ctx, ID, Int, Query, Resolver } from 'type-graphql';
import { requireAccess } from './access';
import { toGraphqlAuditEntry } from './audit.mapper';
import { AUDIT_PAGE_SIZE_DEFAULT } from '../services/audit.service';
import { AuditEntry, AuditEntryConnection } from './audit.type';
import type { ApiContext } from './context.type';
import { PageInfo } from './customer-connection.type';

@Resolver(() => AuditEntry)
export class AuditResolver {
  @Authorized()
  @Query(() => AuditEntryConnection, {
    description:
      'The audit log (ADMIN): every mutation run, newest first, a page at a time (first: 1 to 500). With customerId, only the entries about that ' +
      'customer (a deleted customer\'s entries remain until they expire, CDN_AUDIT_RETENTION_DAYS). ' +
      'A CUSTOMER_ADMIN token reads the entries about its own customer only (customerId, if given, must be its own); of the platform\'s staff it sees the role, not the token id or IP address.',
  })
  async auditLog(
    @Ctx() ctx: ApiContext,
    @Arg('first', () => Int, { nullable: true, defaultValue: AUDIT_PAGE_SIZE_DEFAULT }) first: number | null,
    @Arg('after', () => String, { nullable: true, description: 'pageInfo.endCursor of the previous page.' }) after?: string | null,
    @Arg('customerId', () => ID, { nullable: true }) customerId?: string | null,
  ): Promise<AuditEntryConnection> {
    const scoped = ctx.principal?.customerId !== undefined;
    const principal = scoped ? requireAccess(ctx, 'customer.audit', customerId ?? undefined) : requireAccess(ctx, 'audit.read');
    const filter = scoped ? principal.customerId! : (customerId ?? null);
    const page = await ctx.services.audit.list({ first: first ?? AUDIT_PAGE_SIZE_DEFAULT, after: after ?? null, customerId: filter });
    const connection = new AuditEntryConnection();
    connection.nodes = page.nodes.map((r) => toGraphqlAuditEntry(r, { forCustomer: scoped }));
    connection.pageInfo = Object.assign(new PageInfo(), { endCursor: page.endCursor, hasNextPage: page.hasNextPage });
    return connection;
  }
}
