/**
 * Validation rule for CDN_API_INTROSPECTION=false: `__schema` and `__type` are refused
 * (`__typename` stays: clients need it and it reveals nothing). Replaces Apollo's own rule,
 * whose message names an Apollo setting the operator does not have.
 */
import { GraphQLError, type ValidationRule } from 'graphql';
import { CdnError } from '../../core/errors';

export const introspectionOffRule: ValidationRule = (context) => ({
  Field(node) {
    if (node.name.value !== '__schema' && node.name.value !== '__type') return;
    const error = new CdnError('CDN_ERR_QUERY_INTROSPECTION_OFF', []);
    context.reportError(new GraphQLError(error.message, { nodes: [node], originalError: error }));
  },
});
