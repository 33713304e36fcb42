/**
 * Alerts: setAlertRules, alertRules, alerts, alertHistory and the alertChanged subscription,
 * fed by this replica's alert evaluator through the PubSub (see server.ts). Thin: arguments in,
 * service call, mapper out. A customer admin manages its customer's rules
 * (customer.update); a customer viewer reads them and the alerts (customer.read, stats.read).
 */
import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import { mayAccess } from './access';
import { toGraphqlAlert, toGraphqlAlertEvent, toGraphqlAlertRule } from './alert.mapper';
import { Alert, AlertChange, AlertEventConnection, AlertRule, AlertRuleInput } from './alert.type';
import { ALERT_CHANGED, type ApiContext } from './context.type';
import { PageInfo } from './customer-connection.type';

@Resolver()
export class AlertResolver {
  @Authorized('customer.update@customerId')
  @Mutation(() => [AlertRule], {
    description:
      "Replaces the customer's alert rules (the whole list, in order). Validated as a whole first: every refusal names the rule and the field, and nothing changes. " +
      'A rule keeps its id and state when its name is kept; a rule deleted, disabled or changed while PENDING or FIRING goes back to OK (a FIRING one is reported resolved).',
  })
  async setAlertRules(@Ctx() ctx: ApiContext, @Arg('customerId', () => ID) customerId: string, @Arg('rules', () => [AlertRuleInput]) rules: AlertRuleInput[]): Promise<AlertRule[]> {
    return (await ctx.services.alerts.set(customerId, rules)).map(toGraphqlAlertRule);
  }

  @Authorized('customer.read@customerId')
  @Query(() => [AlertRule], { description: "The customer's alert rules, in order. NOT_FOUND for an unknown customer." })
  async alertRules(@Ctx() ctx: ApiContext, @Arg('customerId', () => ID) customerId: string): Promise<AlertRule[]> {
    return (await ctx.services.alerts.rules(customerId)).map(toGraphqlAlertRule);
  }

  @Authorized('stats.read@customerId')
  @Query(() => [Alert], { description: "Each of the customer's alert rules and where it stands: state, since when, the last value. NOT_FOUND for an unknown customer." })
  async alerts(@Ctx() ctx: ApiContext, @Arg('customerId', () => ID) customerId: string): Promise<Alert[]> {
    return (await ctx.services.alerts.alerts(customerId)).map(toGraphqlAlert);
  }

  @Authorized('stats.read@customerId')
  @Query(() => AlertEventConnection, { description: "The customer's alert transitions, newest first, a page at a time (first: 1 to 500), kept 30 days. NOT_FOUND for an unknown customer." })
  async alertHistory(
    @Ctx() ctx: ApiContext,
    @Arg('customerId', () => ID) customerId: string,
    @Arg('first', () => Int, { nullable: true, defaultValue: 50 }) first: number | null,
    @Arg('after', () => String, { nullable: true, description: 'pageInfo.endCursor of the previous page.' }) after?: string | null,
  ): Promise<AlertEventConnection> {
    const page = await ctx.services.alerts.history(customerId, { first, after: after ?? null });
    return Object.assign(new AlertEventConnection(), {
      nodes: page.nodes.map(toGraphqlAlertEvent),
      totalCount: page.totalCount,
      pageInfo: Object.assign(new PageInfo(), { endCursor: page.endCursor, hasNextPage: page.hasNextPage }),
    });
  }

  @Authorized('stats.read@customerId')
  @Subscription(() => AlertChange, {
    topics: ALERT_CHANGED,
    filter: ({ payload, args, context }: { payload: AlertChange; args: { customerId: string }; context: ApiContext }) =>
      args.customerId === payload.customerId && mayAccess(context.principal, 'stats.read', payload.customerId),
    description: "Every change of state of the customer's alerts (PENDING, FIRING, resolved to OK), through any api replica, within an evaluation interval.",
  })
  alertChanged(@Root() change: AlertChange, @Arg('customerId', () => ID) _customerId: string): AlertChange {
    return change;
  }
}
