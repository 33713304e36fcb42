/**
 * The request path as an explicit state machine (after Varnish's cache_req_fsm.c). Every
 * step is listed once, here; each returns the name of the next one:
 *
 *   resolve ─► https ─► rules ─► lookup ─► hit ──────────────────────────────► deliver
 *                │        │         ├────► stale (serve, refresh in background) ► deliver
 *                │        │         └────► miss ─► fetch ─┬─ stream / own ──────► deliver
 *                │        │                  ▲            ├─ revalidated (304) ──► deliver
 *                │        │                  └─ lookup ◄──┴─ stale-if-error ─────► deliver
 *                │        ├───────────────► pass ─► fetch ──────────────────────► deliver
 *                │        └─ the rules' redirect (done); their 403 / 429 (synth)
 *                └─ ACME challenge answer, redirect to https:// (done)
 *   (any step) ─► synth
 *
 * `fetch` for a cacheable request waits on the one origin fetch in flight for its key
 * (fetch.flight.ts: Varnish's separate backend fetch), which stores the object itself.
 */
import { cdnError } from '../../core/errors';
import { hitStep, lookupStep, missStep, passStep, staleStep } from './cache.steps';
import { deliverStep, synthStep } from './deliver.steps';
import { fetchStep } from './fetch.step';
import { httpsStep } from './https.step';
import { resolveStep } from './resolve.step';
import { rulesStep } from './rules.step';
import type { EdgeTransaction, PipelineContext, StepName } from './transaction';

export type { StepName } from './transaction';

type Step = (tx: EdgeTransaction, ctx: PipelineContext) => StepName | Promise<StepName>;

export const STEPS: Readonly<Record<Exclude<StepName, 'done'>, Step>> = Object.freeze({
  /** Host (or h2 :authority) -> customer. */
  resolve: resolveStep,
  /** The customer's HTTPS rules: ACME challenge answers and the redirect on plain HTTP, HSTS over TLS; then GET/HEAD go to lookup, other methods pass. */
  https: httpsStep,
  /** The customer's delivery rules: access (403, 429), redirects, the key's query and extra fields, bypass; then lookup or pass. */
  rules: rulesStep,
  /** Key (and Vary marker) -> stored object: fresh is a hit, stale within stale-while-revalidate is stale, else a miss. */
  lookup: lookupStep,
  /** Fresh stored object (X-Cache: HIT). */
  hit: hitStep,
  /** RFC 5861 stale-while-revalidate: served stale (X-Cache: STALE) while one refresh runs. */
  stale: staleStep,
  /** Absent or stale (X-Cache: MISS): fetch, conditionally when the stale object has validators. */
  miss: missStep,
  /** Not cacheable: straight to the origin, never stored (X-Cache: BYPASS). */
  pass: passStep,
  fetch: fetchStep,
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
    if (!tx.res.headersSent) {
      tx.synth(cdnError('CDN_ERR_EDGE_INTERNAL_ERROR'));
      synthStep(tx);
    }
    else tx.res.destroy();
  }
}
