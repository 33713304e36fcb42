/**
 * Every metric the api exposes beyond prom-client's defaults, declared once: name, help,
 * labels (bounded: operation is a schema root field, never client text) and unit.
 */
export const apiMetricCatalog = {
  graphqlOperations: {
    name: 'cdn_api_graphql_operations_total',
    help: 'GraphQL operations answered over HTTP, by root field and outcome (ok, error, unauthenticated).',
    labelNames: ['operation', 'outcome'] as const,
    unit: 'operations',
  },
  relayPublishedSeq: {
    name: 'cdn_api_relay_published_seq',
    help: 'Last change_log seq the bus holds, as seen by this api\'s relay.',
    labelNames: [] as const,
    unit: 'seq',
  },
} as const;

export type OperationOutcome = 'ok' | 'error' | 'unauthenticated';
