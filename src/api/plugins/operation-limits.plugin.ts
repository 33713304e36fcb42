/**
 * The hardened GraphQL surface for operations, over HTTP (an Apollo plugin plus validation
 * rules) and graphql-ws (`onSubscribe`) alike: depth, aliases and introspection as
 * validation rules; then, per request, the cost (it depends on the variables) and the
 * caller's rate limits. Refusals are CdnErrors from the catalog; over HTTP they carry their
 * status (400, 429) and, for rate limits, a Retry-After header.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import {
  getOperationAST,
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type GraphQLErrorExtensions,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';
import { CdnError, isCdnError } from '../../core/errors';
import type { RateLimiter } from '../../core/rate-limit.port';
import type { Logger } from '../../obs/logger.factory';
import type { ApiLimits } from '../config';
import type { ApiContext } from '../graphql/context.type';
import type { SubscribePayload } from '../graphql/subscriptions.server';
import type { Principal } from '../../core/roles';
import { introspectionOffRule } from './introspection-off.rule';
import { maxAliasesRule } from './query-aliases.rule';
import { operationCost } from './query-cost.rules';
import { maxDepthRule } from './query-depth.rule';
import { RateGuard } from './rate-limit.plugin';

export class OperationLimits {
  /** For Apollo's `validationRules`; also run over graphql-ws. */
  readonly validationRules: ValidationRule[];
  readonly #limits: Readonly<ApiLimits>;
  readonly #rates: RateGuard | undefined;

  /** Without a limiter there are no rate limits (the other limits still apply). */
  constructor(options: { limits: Readonly<ApiLimits>; limiter?: RateLimiter; logger: Logger }) {
    this.#limits = options.limits;
    this.validationRules = [
      maxDepthRule(options.limits.maxDepth),
      maxAliasesRule(options.limits.maxAliases),
      ...(options.limits.introspection ? [] : [introspectionOffRule]),
    ];
    this.#rates =
      options.limiter &&
      new RateGuard({
        limiter: options.limiter,
        limits: { perMinute: options.limits.ratePerMinute, purgesPerMinute: options.limits.purgeRatePerMinute },
        logger: options.logger.child({ component: 'rate-limits' }),
      });
  }

  /** The checks of one validated operation about to run. Throws a CdnError to refuse it. */
  async admit(args: {
    schema: GraphQLSchema;
    document: DocumentNode;
    variables: Readonly<Record<string, unknown>> | null | undefined;
    operationName: string | null | undefined;
    principal: Principal | null;
  }): Promise<void> {
    const operation = getOperationAST(args.document, args.operationName);
    if (!operation) return; // nothing will run; the transport reports that
    const cost = operationCost(args.schema, args.document, args.variables ?? undefined, args.operationName);
    if (cost.kind === 'cost' && cost.cost > this.#limits.maxCost) {
      throw new CdnError('CDN_ERR_QUERY_TOO_COSTLY', [cost.cost, this.#limits.maxCost], { cost: cost.cost, maxCost: this.#limits.maxCost });
    }
    if (cost.kind === 'too-large') {
      throw new CdnError('CDN_ERR_QUERY_TOO_COSTLY', [`over ${this.#limits.maxCost}`, this.#limits.maxCost], { maxCost: this.#limits.maxCost });
    }
    await this.#rates?.admit(args.principal, args.document, operation);
  }

  /** For ApolloServer's `plugins`: admit() once the operation is resolved, before it runs. */
  apolloPlugin(): ApolloServerPlugin<ApiContext> {
    return {
      requestDidStart: async () => ({
        didResolveOperation: async (request) => {
          try {
            await this.admit({
              schema: request.schema,
              document: request.document,
              variables: request.request.variables,
              operationName: request.request.operationName,
              principal: request.contextValue.principal,
            });
          } catch (err) {
            throw isCdnError(err) ? httpError(err) : err;
          }
        },
      }),
    };
  }

  /**
   * For graphql-ws' `onSubscribe`: parses, validates with the limit rules, admits. Returns
   * the arguments to run with, or the errors to send instead.
   */
  async subscribe(schema: GraphQLSchema, principal: Principal | null, payload: SubscribePayload): Promise<ExecutionArgs | readonly GraphQLError[]> {
    let document: DocumentNode;
    try {
      document = parse(payload.query);
    } catch (err) {
      if (err instanceof GraphQLError) return [withCode(err, 'GRAPHQL_PARSE_FAILED')];
      throw err;
    }
    const errors = validate(schema, document, [...specifiedRules, ...this.validationRules]);
    if (errors.length > 0) return errors.map((e) => withCode(e, 'GRAPHQL_VALIDATION_FAILED'));
    try {
      await this.admit({ schema, document, variables: payload.variables, operationName: payload.operationName, principal });
    } catch (err) {
      if (isCdnError(err)) return [new GraphQLError(err.message, { originalError: err })];
      throw err;
    }
    return { schema, document, variableValues: payload.variables, operationName: payload.operationName };
  }
}

/** A refusal as Apollo answers it over HTTP: the catalog status, and Retry-After for rate limits. */
function httpError(err: CdnError): GraphQLError {
  const retryAfter = err.details.retryAfterSeconds;
  const headers = new Map<string, string>(typeof retryAfter === 'number' ? [['retry-after', String(retryAfter)]] : []);
  // Apollo wants a Map here; graphql-yoga's type augmentation (pulled in by the IDE page) declares a record.
  const extensions = { http: { status: err.status, headers } } as unknown as GraphQLErrorExtensions;
  return new GraphQLError(err.message, { originalError: err, extensions });
}

/** graphql-js' own errors carry no code; Apollo adds these same ones over HTTP. */
function withCode(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    originalError: error.originalError ?? undefined,
    extensions: { ...error.extensions, code },
  });
}
