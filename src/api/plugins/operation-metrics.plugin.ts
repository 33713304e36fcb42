/**
 * Apollo plugin counting operations, and timing them, by root field. The label is a field name checked
 * against the schema (or a fixed word), so a client cannot create label values.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, type OperationDefinitionNode } from 'graphql';
import type { ApiMetrics } from './metrics.registry';

export function rootFields(operation: OperationDefinitionNode | undefined): string[] {
  if (!operation) return ['invalid'];
  const names = operation.selectionSet.selections.map((s) =>
    s.kind === Kind.FIELD ? (s.name.value.startsWith('__') ? 'introspection' : s.name.value) : 'fragment',
  );
  return [...new Set(names)];
}

export function operationMetricsPlugin(metrics: ApiMetrics): ApolloServerPlugin {
  return {
    async contextCreationDidFail() {
      metrics.countOperation('unknown', 'unauthenticated');
    },
    async requestDidStart() {
      const started = performance.now();
      return {
        async willSendResponse({ operation, response, errors }) {
          // Fields are only known to exist in the schema once validation passed.
          const validated = operation !== undefined && !errors?.some((e) => e.extensions?.code === 'GRAPHQL_VALIDATION_FAILED');
          const failed =
            (errors?.length ?? 0) > 0 || (response.body.kind === 'single' && (response.body.singleResult.errors?.length ?? 0) > 0);
          const seconds = (performance.now() - started) / 1000;
          for (const field of validated ? rootFields(operation) : ['invalid']) {
            metrics.countOperation(field, failed ? 'error' : 'ok');
            metrics.observeOperationDuration(field, seconds);
          }
        },
      };
    },
  };
}
