/**
 * The webhook signature (docs/API.md, "Webhooks"): `Edgeplane-Signature: v1=<hex>` where hex is
 * HMAC-SHA256, keyed with the webhook's secret (its UTF-8 bytes), over the
 * `Edgeplane-Webhook-Timestamp` value (Unix seconds), a `.`, and the raw body. The timestamp is
 * inside the MAC so a receiver that refuses old timestamps (the replay window) refuses replays.
 * One function for the sender and for receivers written in TypeScript (the tests are one).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const WEBHOOK_SIGNATURE_VERSION = 'v1';
/** What receivers should accept between the timestamp and their clock, either way. */
export const WEBHOOK_REPLAY_WINDOW_SECONDS = 300;

export const WEBHOOK_HEADERS = {
  id: 'edgeplane-webhook-id',
  timestamp: 'edgeplane-webhook-timestamp',
  signature: 'edgeplane-signature',
} as const;

/** The header's value for this body sent at `timestamp` (Unix seconds). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `${WEBHOOK_SIGNATURE_VERSION}=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Whether a received body is genuine and fresh: one of the header's `v1=` values (several may
 * be sent, comma-separated, while a secret is being replaced) matches, and the timestamp is
 * within `windowSeconds` of `nowSeconds`.
 */
export function verifyWebhook(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  body: string,
  nowSeconds: number = Math.floor(Date.now() / 1000),
  windowSeconds: number = WEBHOOK_REPLAY_WINDOW_SECONDS,
): boolean {
  const timestamp = Number(headers.timestamp);
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > windowSeconds || headers.signature === undefined) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  return headers.signature.split(',').some((part) => {
    const got = Buffer.from(part.trim());
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}
