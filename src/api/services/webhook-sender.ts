/**
 * Sends one webhook request: a POST with undici, bounded in time, no redirect followed (a 3xx
 * is a failed attempt like any other non-2xx), the answer's body read up to a bounded snippet.
 * SSRF: the connection's own lookup refuses a host whose addresses include one that is not
 * public unicast (core/address.rules.ts, the origins' rule), before any socket connects, so a
 * host whose DNS changed after the URL was saved still cannot reach inside; an IP literal is
 * checked before the request. CDN_ALLOW_PRIVATE_WEBHOOKS lifts it (tests, a lab).
 * The api may not import the edge's guard (src/edge/origin/address-guard.ts); this is the
 * same rule on the same table.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { Agent, request } from 'undici';
import { describeForbiddenBlock, forbiddenOriginBlock } from '../../core/address.rules';
import { cdnError } from '../../core/errors';

export interface WebhookSendResult {
  ok: boolean;
  /** The receiver's status; null when there was no answer. */
  status: number | null;
  /** Why it failed; null when it did not. */
  error: string | null;
  /** The start of the answer's body. */
  response: string | null;
}

export interface WebhookSenderOptions {
  timeoutMs: number;
  allowPrivate: boolean;
  responseMaxBytes?: number;
  /** dns.lookup; tests hand in their answers. */
  lookup?: typeof dnsLookup;
}

const USER_AGENT = 'Edgeplane-Webhooks/1';

class ForbiddenWebhookAddress extends Error {
  constructor(host: string, address: string) {
    const block = forbiddenOriginBlock(address);
    super(`${host === address ? `address ${address}` : `host ${host} resolves to ${address}, which`} is not a public unicast address${block ? ` (${describeForbiddenBlock(block)})` : ''}`);
  }
}

export class WebhookSender {
  readonly #o: WebhookSenderOptions;
  readonly #agent: Agent;

  constructor(options: WebhookSenderOptions) {
    this.#o = options;
    const resolve = options.lookup ?? dnsLookup;
    const allowPrivate = options.allowPrivate;
    this.#agent = new Agent({
      connect: {
        timeout: options.timeoutMs,
        // Every address resolved, checked before the socket connects (a mix of public and private cannot steer it inside).
        lookup(hostname: string, opts: { all?: boolean; family?: number | string }, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void {
          resolve(hostname, { all: true, verbatim: true }, (err, addresses) => {
            if (err) return callback(err, []);
            const bad = allowPrivate ? undefined : addresses.find((a) => forbiddenOriginBlock(a.address) !== undefined);
            if (bad !== undefined) return callback(new ForbiddenWebhookAddress(hostname, bad.address) as NodeJS.ErrnoException, []);
            if (opts.all === true) return callback(null, addresses);
            callback(null, addresses[0]!.address, addresses[0]!.family);
          });
        },
      },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      // A webhook is one request now and then: no connection is kept for long.
      keepAliveTimeout: 1000,
      connections: 4,
    });
  }

  async send(url: string, headers: Record<string, string>, body: string): Promise<WebhookSendResult> {
    const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
    if (!this.#o.allowPrivate && isIP(host) !== 0 && forbiddenOriginBlock(host) !== undefined) {
      return { ok: false, status: null, error: cdnError('CDN_ERR_WEBHOOK_FORBIDDEN_ADDRESS', new ForbiddenWebhookAddress(host, host).message).message, response: null };
    }
    const signal = AbortSignal.timeout(this.#o.timeoutMs);
    try {
      const res = await request(url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT, ...headers },
        body,
        signal,
      });
      const response = await readSnippet(res.body, this.#o.responseMaxBytes ?? 1024);
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      return { ok, status: res.statusCode, error: ok ? null : `the receiver answered ${res.statusCode}`, response };
    } catch (err) {
      return { ok: false, status: null, error: describe(err, this.#o.timeoutMs), response: null };
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

/** The first `max` bytes of a body as text; the rest is read and dropped (so the connection can be reused). */
async function readSnippet(body: AsyncIterable<Buffer> & { destroy?: () => void }, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < max) chunks.push(chunk.subarray(0, max - size));
    size += chunk.length;
    if (size > 64 * 1024) {
      body.destroy?.();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof ForbiddenWebhookAddress) return cdnError('CDN_ERR_WEBHOOK_FORBIDDEN_ADDRESS', err.message).message;
  const e = err as { name?: string; code?: string; message?: string; cause?: unknown };
  if (e.cause instanceof ForbiddenWebhookAddress) return cdnError('CDN_ERR_WEBHOOK_FORBIDDEN_ADDRESS', e.cause.message).message;
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return `no answer within ${timeoutMs} ms`;
  }
  return `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
}
