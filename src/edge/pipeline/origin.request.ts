/**
 * One origin request, as both kinds of fetch make it (a collapsed cache fill in
 * fetch.flight.ts, a pass in fetch.step.ts): timed, counted (the customer's origin latency,
 * or its failure by kind), and a failure turned into the catalog error the client sees,
 * logged with what the client must not see (the cause; for an SSRF refusal the host and the
 * address it resolved to). undici never retries: the request reaches the origin at most once.
 */
import type { Dispatcher } from 'undici';
import type { CustomerConfig } from '../../core/customer.types';
import { httpErrorBody } from '../../core/errors';
import { findForbidden, originError } from '../origin/origin-errors';
import type { OriginRequest } from '../origin/origin-pools';
import type { FlightContext, Synthetic } from './flight.context';
import { originFailureKind } from './origin-failure.rules';

export type OriginOutcome =
  | { ok: true; res: Dispatcher.ResponseData; ms: number }
  /** `synthetic` is the client's answer; none when the request was aborted (the client left). */
  | { ok: false; ms: number; synthetic: Synthetic | undefined };

export async function askOrigin(ctx: FlightContext, customer: CustomerConfig, req: OriginRequest & { signal: AbortSignal }): Promise<OriginOutcome> {
  const started = performance.now();
  const meter = ctx.metrics.meter(customer.id);
  let res: Dispatcher.ResponseData;
  try {
    res = await ctx.pools.request(ctx.targets.of(customer), req);
  } catch (err) {
    const ms = performance.now() - started;
    if (req.signal.aborted) return { ok: false, ms, synthetic: undefined };
    meter.originFailure(originFailureKind(err));
    const e = originError(err, customer.id);
    const forbidden = findForbidden(err);
    ctx.logger.warn(
      {
        customer: customer.id,
        code: e.code,
        cause: (err as { code?: string }).code ?? String(err),
        ...(forbidden === undefined ? {} : { originHost: forbidden.host, address: forbidden.address }),
      },
      'origin request failed',
    );
    return { ok: false, ms, synthetic: { status: e.status, body: httpErrorBody(e) } };
  }
  const ms = performance.now() - started;
  meter.originResponse(ms, res.statusCode);
  return { ok: true, res, ms };
}
