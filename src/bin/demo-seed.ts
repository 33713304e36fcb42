/**
 * Demo customers for `cdn start`, created through the public GraphQL API (the same
 * path an operator uses). Each run starts fresh demo origins on free loopback ports,
 * so a demo customer left by an earlier run is pointed at this run's origin.
 */
import type { CustomerSource } from '../core/customer-source.port';
import { startDemoOrigin, type DemoOrigin } from '../demo/demo-origin';
import type { CertificateAuthority } from './demo-pki';
import { ensureDemoCertificate } from './demo-tls';

export const DEMO_CUSTOMERS = ['customer-a', 'customer-b', 'customer-c'] as const;

export function demoDomain(id: string): string {
  return `cdn.${id}.local`;
}

export interface DemoSetup {
  origins: Map<string, DemoOrigin>;
  close(): Promise<void>;
}

async function graphql<T>(apiUrl: string, token: string, query: string, variables: Record<string, unknown>): Promise<T> {
  const res = await fetch(`${apiUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors !== undefined && body.errors.length > 0) {
    throw new Error(`demo setup: ${body.errors.map((e) => e.message).join('; ')}`);
  }
  return body.data as T;
}

const FIND = `query($id: ID!) { customer(id: $id) { id originUrl } }`;
const CREATE = `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateCustomerInput!) { updateCustomer(id: $id, input: $input) { id } }`;
const RULES = `mutation($id: ID!, $rules: [DeliveryRuleInput!]!) { setDeliveryRules(customerId: $id, rules: $rules) { id } }`;

/**
 * customer-a starts with two everyday delivery rules, so explainRequest and the edge's answers
 * show rules at work: campaign parameters do not split the cache, and a security header on
 * every answer.
 */
const DEMO_RULES: Record<string, unknown[]> = {
  'customer-a': [
    { name: 'tracking', actions: { cacheKey: { query: { mode: 'DENY', names: ['utm_*', 'fbclid', 'gclid'] } } } },
    { name: 'security-headers', actions: { responseHeaders: [{ op: 'SET', name: 'x-content-type-options', value: 'nosniff' }] } },
  ],
};

/**
 * Creates (or repoints) the demo customers, gives each a certificate of the demo CA (when
 * `ca` is given), then waits until the edge has applied them, so the curl lines printed in
 * the banner work the moment they are printed. The demo customers keep plain HTTP
 * (`httpsRedirect: false`), so both the plain and the HTTPS curl line answer.
 */
export async function setUpDemo(apiUrl: string, token: string, edgeCustomers: CustomerSource, ca?: CertificateAuthority): Promise<DemoSetup> {
  const origins = new Map<string, DemoOrigin>();
  try {
    for (const id of DEMO_CUSTOMERS) {
      const origin = await startDemoOrigin({ customerId: id });
      origins.set(id, origin);
      const found = await graphql<{ customer: { originUrl: string } | null }>(apiUrl, token, FIND, { id });
      if (found.customer === null) {
        await graphql(apiUrl, token, CREATE, {
          input: { id, name: `Demo ${id.replace('customer-', 'customer ').toUpperCase()}`, originUrl: origin.url, domains: [demoDomain(id)], cacheTtl: 3600, httpsRedirect: false },
        });
        if (DEMO_RULES[id] !== undefined) await graphql(apiUrl, token, RULES, { id, rules: DEMO_RULES[id] });
      } else if (isLoopbackOrigin(found.customer.originUrl) && found.customer.originUrl !== origin.url) {
        await graphql(apiUrl, token, UPDATE, { id, input: { originUrl: origin.url } });
      }
    }
    if (ca !== undefined) {
      for (const id of DEMO_CUSTOMERS) await ensureDemoCertificate((query, variables) => graphql(apiUrl, token, query, variables), ca, id, demoDomain(id));
    }
    await waitUntil(
      () =>
        [...origins].every(([id, origin]) => {
          const known = edgeCustomers.byId(id);
          return known?.originUrl === origin.url && (ca === undefined || (known.tls?.certificates.length ?? 0) > 0);
        }),
      10_000,
      'the edge did not receive the demo customers within 10 s',
    );
  } catch (err) {
    await Promise.all([...origins.values()].map((o) => o.close()));
    throw err;
  }
  return {
    origins,
    close: async () => {
      await Promise.all([...origins.values()].map((o) => o.close()));
    },
  };
}

/** Only a customer still pointing at an earlier run's demo origin is repointed; an edited one is left alone. */
function isLoopbackOrigin(value: string): boolean {
  try {
    return new URL(value).hostname === '127.0.0.1';
  } catch {
    return false;
  }
}

async function waitUntil(check: () => boolean, timeoutMs: number, failure: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(failure);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
