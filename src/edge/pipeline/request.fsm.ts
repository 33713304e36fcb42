/**
 * The request path as an explicit state machine (after Varnish's cache_req_fsm.c). Every
 * step is listed once, here; each returns the name of the next one:
 *
 *   resolve ─► lookup ─► hit ──────────────────────────► deliver
 *      │          └────► miss ─► fetch ─► store ────────► deliver
 *      └───────────────► pass ─►   │  └─────────────────► deliver
 *   (any step) ─► synth             └─► synth (origin errors)
 *
 * Later issues add `stale`, `revalidate` and ban checks at lookup without reshaping it.
 */
import { hitStep, lookupStep, missStep, passStep, storeStep } from './cache.steps';
import { deliverStep, synthStep } from './deliver.steps';
import { fetchStep } from './fetch.step';
import { resolveStep } from './resolve.step';
import type { EdgeTransaction, PipelineContext } from './transaction';

export type StepName = 'resolve' | 'lookup' | 'hit' | 'miss' | 'pass' | 'fetch' | 'store' | 'synth' | 'deliver' | 'done';

type Step = (tx: EdgeTransaction, ctx: PipelineContext) => StepName | Promise<StepName>;

export const STEPS: Readonly<Record<Exclude<StepName, 'done'>, Step>> = Object.freeze({
  /** Host -> customer; GET/HEAD go to lookup, other methods pass. */
  resolve: resolveStep,
  /** Cache key -> stored object: fresh is a hit, absent or expired a miss. */
  lookup: lookupStep,
  hit: hitStep,
  miss: missStep,
  /** Not cacheable: straight to the origin, never stored (X-Cache: BYPASS). */
  pass: passStep,
  fetch: fetchStep,
  /** Storable answer: tee the body to the client and to the cache. */
  store: storeStep,
  synth: synthStep,
  deliver: deliverStep,
});

export async function runPipeline(tx: EdgeTransaction, ctx: PipelineContext): Promise<void> {
  let step: StepName = 'resolve';
  try {
    while (step !== 'done') step = await STEPS[step](tx, ctx);
  } catch (err) {
    ctx.logger.error({ err, customer: tx.customer?.id, step }, 'edge pipeline failed');
    tx.cache = 'ERROR';
    void tx.stored?.release();
    if (!tx.res.headersSent) synthStep(Object.assign(tx, { synthetic: { status: 500, body: { error: 'internal_error', message: 'The edge failed to handle this request.' } } }));
    else tx.res.destroy();
  }
}
