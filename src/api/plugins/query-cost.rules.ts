/**
 * What an operation costs (CDN_API_MAX_COST), with graphql-query-complexity: every field
 * costs 1 plus its selection; a field that returns a page or a list of a size the client
 * chooses (`first`, `top`, cacheStatsHistory's `minutes`) costs 1 plus its selection times
 * that size, so the cost follows the number of values the answer can hold. Introspection
 * costs the same way (its lists have no size argument, so it stays small).
 *
 * Not a validation rule: the cost depends on the variables (`first: $n`), and Apollo skips
 * validation for a document it has validated before. It is checked per request instead.
 */
import { getOperationAST, getVariableValues, type DocumentNode, type GraphQLSchema } from 'graphql';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';

/** Beyond this many selections walked (fragments expanded) the cost is not computed further: the operation is refused. */
export const COST_MAX_NODES = 10_000;

/** Arguments that choose how many items a field returns, and the items per unit. */
const SIZE_ARGUMENTS: ReadonlyArray<{ arg: string; perUnit: number; field?: string }> = [
  { arg: 'first', perUnit: 1 },
  { arg: 'last', perUnit: 1 },
  { arg: 'top', perUnit: 1 },
  // One entry per second of history.
  { arg: 'minutes', perUnit: 60, field: 'Query.cacheStatsHistory' },
];

const pageSizeEstimator: ComplexityEstimator = ({ type, field, args, childComplexity }) => {
  const name = `${type.name}.${field.name}`;
  for (const size of SIZE_ARGUMENTS) {
    if (size.field !== undefined && size.field !== name) continue;
    const value = args[size.arg] as unknown;
    if (typeof value === 'number' && Number.isFinite(value)) return 1 + Math.max(1, Math.ceil(value)) * size.perUnit * childComplexity;
  }
  return 1 + childComplexity;
};

export type OperationCost =
  | { kind: 'cost'; cost: number }
  /** The variables do not fit the operation: execution reports that, with a better message. */
  | { kind: 'bad-variables' }
  /** More selections than COST_MAX_NODES once fragments are expanded. */
  | { kind: 'too-large' };

export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Readonly<Record<string, unknown>> | undefined,
  operationName: string | null | undefined,
): OperationCost {
  const operation = getOperationAST(document, operationName);
  if (!operation) return { kind: 'bad-variables' };
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {});
  if (coerced.errors !== undefined) return { kind: 'bad-variables' };
  try {
    const cost = getComplexity({
      schema,
      query: document,
      variables: variables ?? {},
      operationName: operationName ?? undefined,
      estimators: [pageSizeEstimator],
      maxQueryNodes: COST_MAX_NODES,
    });
    return { kind: 'cost', cost };
  } catch {
    // The variables were checked above, so the walk stopped at COST_MAX_NODES.
    return { kind: 'too-large' };
  }
}
