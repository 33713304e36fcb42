/** The audit log never keeps a certificate's private key: not under its argument's name, nor pasted into another argument. */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { isSecretName, REDACTED, redactArguments } from '../../src/api/plugins/audit.redaction';
import { createCertificateAuthority, type Leaf } from '../../src/bin/demo-pki';

let leaf: Leaf;

before(async () => {
  leaf = await (await createCertificateAuthority('Redaction CA')).issue(['cdn.example.com']);
});

test("uploadCertificate's privateKeyPem is a secret by its name; certificatePem and customerId are not", () => {
  for (const name of ['privateKeyPem', 'private_key_pem', 'PRIVATE-KEY', 'privateKey']) assert.equal(isSecretName(name), true, name);
  for (const name of ['certificatePem', 'customerId', 'id']) assert.equal(isSecretName(name), false, name);
  assert.deepEqual(redactArguments({ customerId: 'alpha', certificatePem: leaf.certPem, privateKeyPem: leaf.keyPem }), {
    customerId: 'alpha',
    certificatePem: leaf.certPem,
    privateKeyPem: REDACTED,
  });
});

test('a PEM private key in any other argument is redacted whole, whatever its label or case', () => {
  const rsa = leaf.keyPem.replace(/PRIVATE KEY/g, 'RSA PRIVATE KEY');
  const lower = leaf.keyPem.toLowerCase();
  const out = redactArguments({
    customerId: 'alpha',
    certificatePem: `${leaf.certPem}\n${leaf.keyPem}`,
    input: { note: `see ${rsa}`, other: [lower, 'ENCRYPTED PRIVATE KEY: none here', '-----BEGIN CERTIFICATE-----'] },
  });
  assert.deepEqual(out, {
    customerId: 'alpha',
    certificatePem: REDACTED,
    input: { note: REDACTED, other: [REDACTED, 'ENCRYPTED PRIVATE KEY: none here', '-----BEGIN CERTIFICATE-----'] },
  });
  assert.ok(!JSON.stringify(out).includes(leaf.keyPem.split('\n')[1]!));
});
