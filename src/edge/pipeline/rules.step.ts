/**
 * Step `rules`: the customer's delivery rules (core/delivery-rules.*), once the HTTPS step has
 * let the request through. In order:
 *
 * 1. access: deny, client address, Referer, signed URL, rate limit per client address — a
 *    refusal is the edge's own 403 or 429 (with Retry-After), never asked of the origin;
 * 2. redirect: the rule's status and Location, made up here;
 * 3. the cache key: the query string as the rule's policy leaves it (also what the origin
 *    gets; signed-URL parameters never enter either), and the header and cookie values rules
 *    add to the key (core/delivery-key.ts);
 * 4. bypass: straight to the origin (`pass`), else `lookup`.
 *
 * On a shield, a request from another edge of the fleet (tx.hop) skips 1 and 2: that edge
 * judged them for its client; 3 and 4 are worked out again, from the fields it passed on, so
 * the shield keys the object as the edge did.
 *
 * What else the decision says is applied where it belongs: TTLs when the fetch stores
 * (fetch.flight.ts), origin fields on the origin request, response fields and the browser TTL
 * in deliver. The hit lane answers only requests whose decision needs none of 1–4.
 */
import { normalizeClientAddress } from '../../core/client-address.rules';
import { keyParts } from '../../core/delivery-key';
import { applyQueryPolicy, checkAccess, renderRedirect, requestFacts, type Decision } from '../../core/delivery-rules.compile';
import { cdnError } from '../../core/errors';
import { verifySignedUrl } from '../../core/signed-url';
import type { RateVerdict } from '../access/client-rates';
import { answer } from './https.step';
import type { EdgeTransaction, PipelineContext, StepName } from './transaction';

export function rulesStep(tx: EdgeTransaction, ctx: PipelineContext): StepName | Promise<StepName> {
  const customer = tx.customer!;
  const rules = ctx.rules(customer);
  if ('failed' in rules) return tx.synth(cdnError('CDN_ERR_EDGE_INTERNAL_ERROR'));
  const facts = requestFacts({ method: tx.req.method ?? 'GET', path: tx.path, headers: tx.req.headers });
  const decision = rules.compiled.decide(facts);
  tx.decision = decision;
  const access = decision.access;
  // A shield's hop (tx.hop): the asking edge judged access and redirects for the end user already.
  if (access !== undefined && tx.hop === undefined) {
    const address = normalizeClientAddress(tx.req.socket.remoteAddress ?? '');
    const verdict = checkAccess(access, { address, referer: facts.header('referer') });
    if (!verdict.ok) return refuse(tx, ctx, verdict.reason);
    if (access.signedUrl) {
      const signature = verifySignedUrl({ path: tx.path, query: tx.query, clientAddress: address, nowMs: ctx.clock.now(), leewaySeconds: ctx.signedUrlLeewaySeconds, keys: rules.keys });
      if (!signature.ok) {
        ctx.metrics.ruleRefused(customer.id, 'signature');
        return tx.synth(cdnError('CDN_ERR_EDGE_SIGNATURE_INVALID', signature.message));
      }
    }
    const limit = access.rateLimit;
    if (limit !== undefined) {
      const verdict = ctx.clientRates.take(`${customer.id}\n${limit.rule}\n${address}`, limit);
      if (verdict instanceof Promise) return verdict.then((v) => (v.allowed ? afterAccess(tx, decision, facts) : tooMany(tx, ctx, limit.perSecond, v)));
      if (!verdict.allowed) return tooMany(tx, ctx, limit.perSecond, verdict);
    }
  }
  return afterAccess(tx, decision, facts);
}

function afterAccess(tx: EdgeTransaction, decision: Decision, facts: ReturnType<typeof requestFacts>): StepName {
  if (decision.redirect !== undefined && tx.hop === undefined) {
    const location = renderRedirect(decision.redirect, { scheme: tx.secure ? 'https' : 'http', host: tx.host, path: tx.path, query: tx.query });
    return answer(tx, decision.redirect.status, { location }, '');
  }
  tx.query = applyQueryPolicy(tx.query, decision.query);
  tx.keyParts = decision.keyHeaders.length + decision.keyCookies.length === 0 ? NO_PARTS : keyParts(decision.keyHeaders, decision.keyCookies, facts);
  if (decision.bypass) tx.cacheable = false;
  return tx.cacheable ? 'lookup' : 'pass';
}

const NO_PARTS: readonly string[] = Object.freeze([]);

function refuse(tx: EdgeTransaction, ctx: PipelineContext, reason: string): 'synth' {
  ctx.metrics.ruleRefused(tx.customer!.id, 'access');
  return tx.synth(cdnError('CDN_ERR_EDGE_ACCESS_DENIED', reason));
}

function tooMany(tx: EdgeTransaction, ctx: PipelineContext, perSecond: number, verdict: RateVerdict): 'synth' {
  ctx.metrics.ruleRefused(tx.customer!.id, 'rate');
  const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
  tx.synthHeaders = { 'retry-after': String(seconds) };
  return tx.synth(cdnError('CDN_ERR_EDGE_TOO_MANY_REQUESTS', perSecond, seconds));
}
