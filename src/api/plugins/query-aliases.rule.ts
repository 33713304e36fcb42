/**
 * Validation rule: an operation uses at most `max` aliases, fragments expanded (a fragment
 * with 5 aliases spread into 4 places counts 20). Aliases are how one request asks for the
 * same expensive field many times over.
 */
import { GraphQLError, type ValidationRule } from 'graphql';
import { CdnError } from '../../core/errors';
import { foldSelections } from './selection.walk';

export function maxAliasesRule(max: number): ValidationRule {
  return (context) => ({
    OperationDefinition(operation) {
      const aliases = foldSelections(operation.selectionSet, (name) => context.getFragment(name), {
        empty: 0,
        field: (node, child) => (node.alias ? 1 : 0) + child,
        combine: (a, b) => a + b,
      });
      if (aliases <= max) return;
      const error = new CdnError('CDN_ERR_QUERY_TOO_MANY_ALIASES', [aliases, max], { aliases, maxAliases: max });
      context.reportError(new GraphQLError(error.message, { nodes: [operation], originalError: error }));
    },
  });
}
