/** The alerts' rules without I/O (src/api/services/alert.rules.ts): the rule list's checks, what each kind measures, and the state machine. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALERT_DEFAULTS, ALERT_RULES_MAX, breaches, measure, nextState, readAlertRules, type WindowStats } from '../../src/api/services/alert.rules';

const STATS: WindowStats = { requests: 200, hitRatio: 0.4, errorRatio: 0.05, originP95Ms: 320, bytesPerSecond: 5000 };

test('a rule takes the defaults for what it leaves out; ORIGIN_DOWN takes no threshold', () => {
  const { rules, problems } = readAlertRules([{ name: 'down', kind: 'ORIGIN_DOWN' }, { name: 'hits', kind: 'HIT_RATIO_BELOW', threshold: 0.8, enabled: false }], { windowMaxSeconds: 900 });
  assert.deepEqual(problems, []);
  assert.deepEqual(rules, [
    { name: 'down', kind: 'ORIGIN_DOWN', threshold: null, ...ALERT_DEFAULTS },
    { name: 'hits', kind: 'HIT_RATIO_BELOW', threshold: 0.8, ...ALERT_DEFAULTS, enabled: false },
  ]);
});

test('every problem is named by the rule index, its name and the field', () => {
  const { problems } = readAlertRules(
    [
      { name: '', kind: 'BANDWIDTH_ABOVE', threshold: 1 },
      { name: 'x', kind: 'NOPE' },
      { name: 'p95', kind: 'ORIGIN_LATENCY_P95_ABOVE', threshold: -1, minRequests: 1.5 },
      { name: 'e', kind: 'ERROR_5XX_SHARE_ABOVE', threshold: 0.1, windowSeconds: 901, forSeconds: 86_401 },
      { name: 'e', kind: 'ORIGIN_DOWN', enabled: 'yes' },
    ],
    { windowMaxSeconds: 900 },
  );
  assert.deepEqual(
    problems.map((p) => p.field),
    ['rules[0].name', 'rules[1] (x).kind', 'rules[2] (p95).threshold', 'rules[2] (p95).minRequests', 'rules[3] (e).forSeconds', 'rules[3] (e).windowSeconds', 'rules[4] (e).name', 'rules[4] (e).enabled'],
  );
  assert.match(problems[1]!.message, /one of HIT_RATIO_BELOW, ERROR_5XX_SHARE_ABOVE, ORIGIN_LATENCY_P95_ABOVE, ORIGIN_DOWN, BANDWIDTH_ABOVE/);
  assert.match(problems[2]!.message, /must not be negative/);
  assert.match(problems[5]!.message, /from 10 to 900 \(the live stats keep CDN_STATS_RETENTION_MINUTES\), got 901/);
  assert.match(problems[6]!.message, /unique/);
});

test('a list longer than the most a customer may have is refused whole', () => {
  const many = Array.from({ length: ALERT_RULES_MAX + 1 }, (_, i) => ({ name: `r${i}`, kind: 'ORIGIN_DOWN' }));
  assert.deepEqual(readAlertRules(many, { windowMaxSeconds: 900 }).problems, [{ field: 'rules', message: `has ${ALERT_RULES_MAX + 1} rules; a customer may have at most ${ALERT_RULES_MAX}` }]);
});

test('each kind measures its value, and the ratio kinds need the minimum requests', () => {
  assert.equal(measure({ kind: 'HIT_RATIO_BELOW', minRequests: 100 }, STATS), 0.4);
  assert.equal(measure({ kind: 'HIT_RATIO_BELOW', minRequests: 201 }, STATS), null);
  assert.equal(measure({ kind: 'HIT_RATIO_BELOW', minRequests: 0 }, { ...STATS, requests: 0, hitRatio: null }), null);
  assert.equal(measure({ kind: 'ERROR_5XX_SHARE_ABOVE', minRequests: 100 }, STATS), 0.05);
  assert.equal(measure({ kind: 'ERROR_5XX_SHARE_ABOVE', minRequests: 0 }, { ...STATS, requests: 0, errorRatio: 0 }), null, 'no request: no share');
  assert.equal(measure({ kind: 'ORIGIN_LATENCY_P95_ABOVE', minRequests: 100 }, STATS), 320);
  assert.equal(measure({ kind: 'ORIGIN_LATENCY_P95_ABOVE', minRequests: 100 }, { ...STATS, originP95Ms: null }), null);
  assert.equal(measure({ kind: 'BANDWIDTH_ABOVE', minRequests: 1_000_000 }, STATS), 5000, 'bandwidth ignores minRequests');
});

test('conditions: below for the hit ratio, above for the others, one origin down for ORIGIN_DOWN, never without a value', () => {
  assert.equal(breaches({ kind: 'HIT_RATIO_BELOW', threshold: 0.5 }, 0.4), true);
  assert.equal(breaches({ kind: 'HIT_RATIO_BELOW', threshold: 0.5 }, 0.5), false);
  assert.equal(breaches({ kind: 'ERROR_5XX_SHARE_ABOVE', threshold: 0.05 }, 0.05), false);
  assert.equal(breaches({ kind: 'BANDWIDTH_ABOVE', threshold: 1000 }, 1001), true);
  assert.equal(breaches({ kind: 'ORIGIN_DOWN', threshold: null }, 0), false);
  assert.equal(breaches({ kind: 'ORIGIN_DOWN', threshold: null }, 2), true);
  assert.equal(breaches({ kind: 'HIT_RATIO_BELOW', threshold: 0.5 }, null), false);
});

test('the state machine: pending, firing after `for`, back to OK before it, resolved at once', () => {
  const t0 = new Date(1_000_000);
  assert.equal(nextState('OK', t0, true, 60, t0.getTime()).state, 'PENDING');
  assert.equal(nextState('OK', t0, true, 0, t0.getTime()).state, 'FIRING');
  assert.equal(nextState('PENDING', t0, true, 60, t0.getTime() + 59_999).state, 'PENDING');
  assert.deepEqual(nextState('PENDING', t0, true, 60, t0.getTime() + 60_000), { state: 'FIRING', reason: 'condition held for 60 s' });
  assert.equal(nextState('PENDING', t0, false, 60, t0.getTime() + 1000).state, 'OK');
  assert.equal(nextState('FIRING', t0, true, 60, t0.getTime() + 1000).state, 'FIRING');
  assert.deepEqual(nextState('FIRING', t0, false, 60, t0.getTime() + 1000), { state: 'OK', reason: 'condition no longer holds' });
  assert.equal(nextState('OK', t0, false, 60, t0.getTime()).state, 'OK');
});
