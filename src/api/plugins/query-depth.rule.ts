/**
 * Validation rule: an operation nests fields at most `max` deep (`{ a { b { c } } }` is 3),
 * fragments expanded. Introspection (`__schema`, `__type`) is measured against at least
 * INTROSPECTION_MAX_DEPTH: GraphiQL's own introspection query is about 14 deep, and the
 * schema it walks is finite.
 */
import { GraphQLError, type ValidationRule } from 'graphql';
import { CdnError } from '../../core/errors';
import { foldSelections, rootFields } from './selection.walk';

export const INTROSPECTION_MAX_DEPTH = 16;

export function maxDepthRule(max: number): ValidationRule {
  return (context) => ({
    OperationDefinition(operation) {
      const fragments = (name: string) => context.getFragment(name);
      let worst: { depth: number; limit: number } | undefined;
      for (const field of rootFields(operation.selectionSet, fragments)) {
        const depth = field.selectionSet
          ? 1 + foldSelections(field.selectionSet, fragments, { empty: 0, field: (_node, child) => 1 + child, combine: Math.max })
          : 1;
        const introspection = field.name.value === '__schema' || field.name.value === '__type';
        const limit = introspection ? Math.max(max, INTROSPECTION_MAX_DEPTH) : max;
        if (depth > limit && (worst === undefined || depth - limit > worst.depth - worst.limit)) worst = { depth, limit };
      }
      if (worst === undefined) return;
      const error = new CdnError('CDN_ERR_QUERY_TOO_DEEP', [worst.depth, worst.limit], { depth: worst.depth, maxDepth: worst.limit });
      context.reportError(new GraphQLError(error.message, { nodes: [operation], originalError: error }));
    },
  });
}
