/**
 * The role table: inheritance on both ladders, what platform roles hold for every customer,
 * and that a customer-scoped grant never reaches another customer or a platform-wide
 * capability.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allows, CAPABILITIES, capabilitiesOf, includesRole, mayIssue, ROLES, type Capability, type Grant, type Role } from '../../src/core/roles';

const ALL = Object.keys(CAPABILITIES) as Capability[];

test('each role holds exactly the capabilities of the table, inherited ones included', () => {
  const expected: Record<Role, Capability[]> = {
    'customer-viewer': ['customer.read', 'purge.read', 'stats.read'],
    'customer-purger': ['customer.read', 'purge.read', 'stats.read', 'purge.create'],
    'customer-admin': ['customer.read', 'purge.read', 'stats.read', 'purge.create', 'customer.update', 'token.manage', 'customer.audit'],
    viewer: ['customer.read', 'purge.read', 'stats.read', 'fleet.read'],
    operator: ['customer.read', 'purge.read', 'stats.read', 'fleet.read', 'purge.create', 'customer.create', 'customer.update', 'customer.delete'],
    admin: ALL,
  };
  for (const role of ROLES) assert.deepEqual([...capabilitiesOf(role)].sort(), [...expected[role]].sort(), role);
});

test('inheritance: admin ⊃ operator ⊃ viewer, customer-admin ⊃ customer-purger ⊃ customer-viewer, and never upwards', () => {
  const chains: Role[][] = [
    ['admin', 'operator', 'viewer', 'customer-viewer'],
    ['customer-admin', 'customer-purger', 'customer-viewer'],
  ];
  for (const chain of chains) {
    for (let i = 0; i < chain.length; i += 1) {
      for (let j = 0; j < chain.length; j += 1) assert.equal(includesRole(chain[i]!, chain[j]!), i <= j, `${chain[i]} includes ${chain[j]}`);
    }
  }
  assert.equal(includesRole('operator', 'customer-admin'), false, 'an operator cannot manage tokens');
  assert.equal(includesRole('admin', 'customer-admin'), true);
});

test('a customer-scoped grant acts on its own customer only, and never platform-wide', () => {
  const purger: Grant = { role: 'customer-purger', customerId: 'acme' };
  assert.equal(allows(purger, 'purge.create', 'acme'), true);
  assert.equal(allows(purger, 'purge.create', 'globex'), false);
  assert.equal(allows(purger, 'purge.create'), false, 'no customer named: not "every customer"');
  assert.equal(allows(purger, 'customer.update', 'acme'), false);
  const admin: Grant = { role: 'customer-admin', customerId: 'acme' };
  for (const c of ['customer.create', 'customer.delete', 'fleet.read', 'audit.read'] as Capability[]) assert.equal(allows(admin, c, 'acme'), false, c);
});

test('platform grants act on every customer within their role', () => {
  assert.equal(allows({ role: 'viewer' }, 'stats.read', 'any'), true);
  assert.equal(allows({ role: 'viewer' }, 'purge.create', 'any'), false);
  assert.equal(allows({ role: 'operator' }, 'purge.create', 'any'), true);
  assert.equal(allows({ role: 'operator' }, 'token.manage', 'any'), false);
  assert.equal(allows({ role: 'operator' }, 'customer.create'), true);
  for (const c of ALL) assert.equal(allows({ role: 'admin' }, c, 'any'), true, c);
});

test('who may issue which token', () => {
  const cases: Array<[Grant, Role, string | undefined, boolean]> = [
    [{ role: 'admin' }, 'admin', undefined, true],
    [{ role: 'admin' }, 'customer-viewer', 'acme', true],
    [{ role: 'admin' }, 'customer-viewer', undefined, false], // a customer role needs its customer
    [{ role: 'admin' }, 'viewer', 'acme', false], // a platform role has none
    [{ role: 'operator' }, 'viewer', undefined, false],
    [{ role: 'operator' }, 'customer-purger', 'acme', false],
    [{ role: 'customer-admin', customerId: 'acme' }, 'customer-purger', 'acme', true],
    [{ role: 'customer-admin', customerId: 'acme' }, 'customer-admin', 'acme', true],
    [{ role: 'customer-admin', customerId: 'acme' }, 'customer-purger', 'globex', false],
    [{ role: 'customer-admin', customerId: 'acme' }, 'viewer', undefined, false],
    [{ role: 'customer-purger', customerId: 'acme' }, 'customer-viewer', 'acme', false],
  ];
  for (const [grant, role, customerId, expected] of cases) {
    assert.equal(mayIssue(grant, role, customerId), expected, `${grant.role}${grant.customerId ? `@${grant.customerId}` : ''} issues ${role}${customerId ? `@${customerId}` : ''}`);
  }
});
