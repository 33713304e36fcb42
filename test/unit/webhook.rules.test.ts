/**
 * The webhook signature (core/webhook.signature.ts) against an independent HMAC, its replay
 * window and several values in one header; the dispatcher's back-off (exponential, capped,
 * jittered between half and all of it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { retryDelayMs } from '../../src/api/services/webhook-dispatcher';
import { signWebhook, verifyWebhook, WEBHOOK_REPLAY_WINDOW_SECONDS } from '../../src/core/webhook.signature';

test('the signature is v1= hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret, as the docs say', () => {
  const body = '{"id":"e1","type":"purge.completed","customerId":"a","occurredAt":"2026-01-01T00:00:00.000Z","data":{}}';
  const expected = createHmac('sha256', Buffer.from('s3cr3t', 'utf8')).update(`1700000000.${body}`).digest('hex');
  assert.equal(signWebhook('s3cr3t', 1700000000, body), `v1=${expected}`);
});

test('verification: the right secret and body within the window; not another secret, body, timestamp or an old one', () => {
  const body = '{"a":1}';
  const now = 1_800_000_000;
  const signature = signWebhook('k', now, body);
  assert.equal(verifyWebhook('k', { timestamp: String(now), signature }, body, now), true);
  assert.equal(verifyWebhook('k', { timestamp: String(now), signature }, body, now + WEBHOOK_REPLAY_WINDOW_SECONDS), true);
  assert.equal(verifyWebhook('k', { timestamp: String(now), signature }, body, now + WEBHOOK_REPLAY_WINDOW_SECONDS + 1), false, 'replayed too late');
  assert.equal(verifyWebhook('k', { timestamp: String(now), signature }, body, now - WEBHOOK_REPLAY_WINDOW_SECONDS - 1), false, 'from the future');
  assert.equal(verifyWebhook('other', { timestamp: String(now), signature }, body, now), false);
  assert.equal(verifyWebhook('k', { timestamp: String(now), signature }, '{"a":2}', now), false);
  assert.equal(verifyWebhook('k', { timestamp: String(now + 1), signature }, body, now), false, 'the timestamp is signed');
  assert.equal(verifyWebhook('k', { timestamp: 'soon', signature }, body, now), false);
  assert.equal(verifyWebhook('k', { timestamp: String(now), signature: undefined }, body, now), false);
  assert.equal(verifyWebhook('k', { timestamp: String(now), signature: `v1=${'0'.repeat(64)}, ${signature}` }, body, now), true, 'any of several values');
});

test('back-off: doubles from the base, capped, each delay between half and all of it', () => {
  const policy = { baseMs: 1000, maxMs: 60_000 };
  assert.deepEqual([1, 2, 3, 4].map((n) => retryDelayMs(n, policy, () => 1)), [1000, 2000, 4000, 8000]);
  assert.deepEqual([1, 2, 3].map((n) => retryDelayMs(n, policy, () => 0)), [500, 1000, 2000]);
  assert.equal(retryDelayMs(30, policy, () => 1), 60_000);
  assert.equal(retryDelayMs(1000, policy, () => 0.5), 45_000, 'no overflow for a large attempt count');
});
