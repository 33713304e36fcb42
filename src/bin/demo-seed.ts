/**
 * Demo customers for `cdn start`, created through the public GraphQL API (the same
 * path an operator uses). Each run starts fresh demo origins on free loopback ports,
 * so a demo customer left by an earlier run is pointed at this run's origin.
 */
import type { CustomerSource } from '../core/customer-source.port';
import { startDemoOrigin, type DemoOrigin } from '../demo/demo-origin';

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

/**
 * Creates (or repoints) the demo customers, then waits until the edge has applied them, so
 * the curl printed in the banner works the moment it is printed.
 */
export async function setUpDemo(apiUrl: string, token: string, edgeCustomers: CustomerSource): Promise<DemoSetup> {
  const origins = new Map<string, DemoOrigin>();
  try {
    for (const id of DEMO_CUSTOMERS) {
      const origin = await startDemoOrigin({ customerId: id });
      origins.set(id, origin);
      const found = await graphql<{ customer: { originUrl: string } | null }>(apiUrl, token, FIND, { id });
      if (found.customer === null) {
        await graphql(apiUrl, token, CREATE, {
          input: { id, name: `Demo ${id.replace('customer-', 'customer ').toUpperCase()}`, originUrl: origin.url, domains: [demoDomain(id)], cacheTtl: 3600 },
        });
      } else if (isLoopbackOrigin(found.customer.originUrl) && found.customer.originUrl !== origin.url) {
        await graphql(apiUrl, token, UPDATE, { id, input: { originUrl: origin.url } });
      }
    }
    await waitUntil(
      () => [...origins].every(([id, origin]) => edgeCustomers.byId(id)?.originUrl === origin.url),
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
