/**
 * Apollo plugin writing the audit log: every mutation root field an authenticated caller
 * runs over HTTP gets one entry (who, which field, its arguments without secrets, the
 * customer it is about, when, from which request) before it runs, and its outcome (`OK`
 * or the error's `extensions.code`) after.
 *
 * Why before: the entry is written before the mutation can change anything, and if it
 * cannot be written the mutation is refused (CDN_ERR_AUDIT_UNAVAILABLE, nothing changed).
 * So no mutation ever runs unaudited. It costs no availability worth having: the audit
 * table lives in the same database as everything a mutation writes, so when it cannot take
 * a row, the mutation would almost surely have failed too. Once a mutation has run, its
 * answer is never changed: a failure to record the outcome is logged and the entry keeps
 * outcome null ("never seen to end"), which is also what an api that died mid-mutation
 * leaves behind.
 *
 * Not audited: queries and subscriptions; requests refused before any mutation ran
 * (no or a bad token, a syntax or validation error, invalid variables), which change
 * nothing, and which anyone could otherwise use to fill the table.
 */
import type { ApolloServerPlugin, GraphQLRequestContextDidResolveOperation, GraphQLRequestContextWillSendResponse } from '@apollo/server';
import {
  getArgumentValues,
  getDirectiveValues,
  getNamedType,
  getVariableValues,
  GraphQLError,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  Kind,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLFormattedError,
  type SelectionSetNode,
} from 'graphql';
import type { AuditActor, AuditFinish, AuditSink, AuditStart } from '../../core/audit.port';
import { cdnError, invalidInput, isCdnError, type CdnError } from '../../core/errors';
import type { Logger } from '../../obs/logger.factory';
import { redactArguments, safeString } from './audit.redaction';

/** Root fields one mutation operation may hold; every one of them gets an entry. */
export const MAX_AUDITED_FIELDS = 20;
const CUSTOMER_ID_MAX_CHARS = 63;

/** What the plugin needs of the GraphQL context (ApiContext has it). */
export type AuditedContext = {
  principal: { kind: string; role: string; tokenId?: string | null; customerId?: string | null } | null;
  /** The HTTP request the operation came in on. */
  http?: { requestId: string; ip: string } | undefined;
};

interface Planned {
  /** The response key: the alias, or the field name. */
  key: string;
  field: string;
  returnType: string;
  customerId: string | null;
}

export function auditPlugin(options: { sink: AuditSink; logger: Logger; onWriteFailed?: (what: 'entry' | 'outcome') => void }): ApolloServerPlugin<AuditedContext> {
  const log = options.logger.child({ component: 'audit' });
  const failed = options.onWriteFailed ?? (() => {});
  return {
    async requestDidStart() {
      let begun: Promise<{ ids: string[]; planned: Planned[] } | null> | undefined;
      // How each root field's resolver ended, by response key: the response alone cannot tell, since an
      // error in one non-null mutation field nulls the whole `data`, hiding the fields that did run.
      const ran = new Map<string, { error: unknown }>();
      return {
        async didResolveOperation(rc) {
          const start = plan(rc);
          if (!start) return;
          if (start.entries.length > MAX_AUDITED_FIELDS) {
            throw refusal(invalidInput([{ field: 'mutation', message: `at most ${MAX_AUDITED_FIELDS} root fields per mutation operation, got ${start.entries.length}; send them in several requests` }]));
          }
          begun = options.sink.begin(start.entries).then(
            (ids) => ({ ids, planned: start.planned }),
            (err: unknown) => {
              log.error({ err, mutations: start.planned.map((p) => p.field) }, 'audit entry could not be written; mutation refused');
              failed('entry');
              return null;
            },
          );
          if ((await begun) === null) throw refusal(cdnError('CDN_ERR_AUDIT_UNAVAILABLE'));
        },
        async executionDidStart() {
          if (!begun) return undefined;
          return {
            willResolveField({ info }) {
              if (info.path.prev !== undefined || info.operation.operation !== 'mutation') return undefined;
              const key = String(info.path.key);
              return (error) => {
                ran.set(key, { error });
              };
            },
          };
        },
        async willSendResponse(rc) {
          // Awaited even when another plugin refused the operation while the entry was being written.
          const started = await begun;
          if (!started) return;
          const outcomes = finishOf(started.ids, started.planned, ran, rc);
          try {
            await options.sink.finish(outcomes);
          } catch (err) {
            log.error({ err, auditIds: started.ids }, 'audit outcome could not be written; the entry keeps outcome null');
            failed('outcome');
          }
        },
      };
    },
  };
}

/** The entries for a mutation operation, or null when it is not one to audit. */
function plan(rc: GraphQLRequestContextDidResolveOperation<AuditedContext>): { entries: AuditStart[]; planned: Planned[] } | null {
  const { operation, schema, document, request, contextValue } = rc;
  const principal = contextValue.principal;
  const mutationType = schema.getMutationType();
  if (operation?.operation !== 'mutation' || !principal || !mutationType) return null;
  const variables = getVariableValues(schema, operation.variableDefinitions ?? [], request.variables ?? {});
  // Invalid variables: graphql-js refuses the whole operation before any field runs.
  if (variables.errors) return null;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const nodes = new Map<string, FieldNode>();
  collectRootFields(operation.selectionSet, fragments, variables.coerced, nodes, new Set());

  const actor: AuditActor = {
    kind: clip(principal.kind, 32)!,
    role: clip(principal.role, 32)!,
    tokenId: clip(principal.tokenId ?? null, 64),
    customerId: asCustomerId(principal.customerId),
  };
  const entries: AuditStart[] = [];
  const planned: Planned[] = [];
  for (const [key, node] of nodes) {
    const field = node.name.value;
    if (field.startsWith('__')) continue;
    const def = mutationType.getFields()[field];
    if (!def) continue;
    let args: Record<string, unknown> = {};
    try {
      args = getArgumentValues(def, node, variables.coerced);
    } catch {
      // graphql-js fails this field the same way; it is still recorded, with its outcome.
    }
    const returnType = getNamedType(def.type).name;
    // A customer-scoped token can only act on its customer.
    const customerId = customerIdInArguments(field, returnType, args) ?? actor.customerId;
    planned.push({ key, field, returnType, customerId });
    entries.push({
      actor,
      mutation: field,
      operationName: clip(rc.operationName, 200),
      arguments: redactArguments(args),
      customerId,
      requestId: clip(contextValue.http?.requestId ?? null, 100),
      clientIp: clip(contextValue.http?.ip ?? null, 64),
    });
  }
  return entries.length > 0 ? { entries, planned } : null;
}

/** Root fields by response key, through fragments, honouring @skip and @include. */
function collectRootFields(
  set: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  variables: Record<string, unknown>,
  out: Map<string, FieldNode>,
  visited: Set<string>,
): void {
  for (const s of set.selections) {
    if (getDirectiveValues(GraphQLSkipDirective, s, variables)?.if === true) continue;
    if (getDirectiveValues(GraphQLIncludeDirective, s, variables)?.if === false) continue;
    if (s.kind === Kind.FIELD) {
      const key = s.alias?.value ?? s.name.value;
      if (!out.has(key)) out.set(key, s);
    } else if (s.kind === Kind.INLINE_FRAGMENT) {
      collectRootFields(s.selectionSet, fragments, variables, out, visited);
    } else {
      const fragment = fragments.get(s.name.value);
      if (!fragment || visited.has(s.name.value)) continue;
      visited.add(s.name.value);
      collectRootFields(fragment.selectionSet, fragments, variables, out, visited);
    }
  }
}

/**
 * The customer a mutation is about, from its arguments: a `customerId` (top level or in
 * `input`), or for the customer mutations themselves (`createCustomer`, `deleteCustomer`,
 * anything returning a Customer) the `id`.
 */
export function customerIdInArguments(field: string, returnType: string, args: Readonly<Record<string, unknown>>): string | null {
  const input = isRecord(args.input) ? args.input : {};
  const aboutCustomer = returnType === 'Customer' || /Customer$/.test(field);
  return asCustomerId(args.customerId) ?? asCustomerId(input.customerId) ?? (aboutCustomer ? (asCustomerId(args.id) ?? asCustomerId(input.id)) : null);
}

/** The customer a mutation was about, from what it returned (only what the client selected). */
function customerIdInResult(p: Planned, value: unknown): string | null {
  if (!isRecord(value)) return null;
  const customer = isRecord(value.customer) ? value.customer : {};
  return asCustomerId(value.customerId) ?? asCustomerId(customer.id) ?? (p.returnType === 'Customer' ? asCustomerId(value.id) : null);
}

/**
 * Per field: `OK` when its resolver returned (errors deeper in its result only failed reading
 * it back), the error's code when it threw, and when it never ran: the code of the error that
 * stopped it (its arguments, a refusal of the whole request) or `NOT_RUN` (an earlier field's
 * error ended the operation first).
 */
function finishOf(
  ids: readonly string[],
  planned: readonly Planned[],
  ran: ReadonlyMap<string, { error: unknown }>,
  rc: GraphQLRequestContextWillSendResponse<AuditedContext>,
): AuditFinish[] {
  const body = rc.response.body;
  const result = body.kind === 'single' ? body.singleResult : body.initialResult;
  const errors: readonly GraphQLFormattedError[] = result.errors ?? [];
  const data = isRecord(result.data) ? result.data : {};
  const requestError = errors.find((e) => e.path === undefined || e.path.length === 0);
  return planned.map((p, i) => {
    const own = errors.find((e) => e.path?.length === 1 && e.path[0] === p.key);
    const run = ran.get(p.key);
    let outcome: string;
    if (run && !run.error) outcome = 'OK';
    else if (run) outcome = own ? codeOf(own) : codeOfRaw(run.error);
    else if (own) outcome = codeOf(own);
    else outcome = requestError ? codeOf(requestError) : 'NOT_RUN';
    return { id: ids[i]!, outcome, customerId: p.customerId === null ? customerIdInResult(p, data[p.key]) : null };
  });
}

/** A CdnError thrown before execution, with its HTTP status (Apollo would answer 500). */
function refusal(err: CdnError): GraphQLError {
  return new GraphQLError(err.message, { originalError: err, extensions: { http: { status: err.status } } });
}

function codeOf(error: GraphQLFormattedError): string {
  const code = error.extensions?.code;
  return typeof code === 'string' && code !== '' ? clip(code, 64)! : 'INTERNAL_SERVER_ERROR';
}

/** The code a thrown error gets once formatted (error.format.ts), when no formatted one is at hand. */
function codeOfRaw(error: unknown): string {
  let cause = error;
  while (cause instanceof GraphQLError && cause.originalError) {
    if (typeof cause.extensions.code === 'string') return clip(cause.extensions.code, 64)!;
    cause = cause.originalError;
  }
  if (isCdnError(cause)) return cause.graphqlCode;
  return cause instanceof GraphQLError && typeof cause.extensions.code === 'string' ? clip(cause.extensions.code, 64)! : 'INTERNAL_SERVER_ERROR';
}

function asCustomerId(value: unknown): string | null {
  return typeof value === 'string' && value !== '' && value.length <= CUSTOMER_ID_MAX_CHARS ? safeString(value) : null;
}

function clip(value: string | null | undefined, max: number): string | null {
  if (value === null || value === undefined) return null;
  return safeString(value.length > max ? value.slice(0, max) : value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
