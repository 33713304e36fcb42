/**
 * type-graphql's authChecker for `@Authorized()`. Every resolver carries it, so a context
 * without a principal can never reach one, even if a transport forgot to check. The
 * argument is a requirement as access.ts reads it: a capability, optionally with the
 * argument that names the customer (`'purge.create@input.customerId'`). No argument:
 * any authenticated caller.
 */
import type { AuthCheckerFn } from 'type-graphql';
import { cdnError } from '../../core/errors';
import { argAt, parseRequirement, requireAccess } from './access';
import type { ApiContext } from './context.type';

export const authChecker: AuthCheckerFn<ApiContext> = ({ context, args }, requirements) => {
  if (!context.principal) throw cdnError('CDN_ERR_AUTH_MISSING');
  for (const spec of requirements) {
    const { capability, argPath } = parseRequirement(spec);
    requireAccess(context, capability, argAt(args as Record<string, unknown>, argPath));
  }
  return true;
};
