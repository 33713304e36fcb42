/**
 * type-graphql's authChecker for `@Authorized()`. Every resolver carries it, so a
 * context without a principal can never reach one, even if a transport forgot to check.
 * Roles are the hook for scoped tokens: an empty list means "any authenticated caller".
 */
import type { AuthCheckerFn } from 'type-graphql';
import { cdnError } from '../../core/errors';
import type { ApiContext } from './context.type';

export const authChecker: AuthCheckerFn<ApiContext> = ({ context, info }, roles) => {
  const principal = context.principal;
  if (!principal) throw cdnError('CDN_ERR_AUTH_MISSING');
  if (roles.length === 0 || roles.includes(principal.role)) return true;
  throw cdnError('CDN_ERR_AUTH_FORBIDDEN', `use ${info.parentType.name}.${info.fieldName}`);
};
