import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretBox } from '../../src/core/secret-box';

test('a sealed secret opens with the same key and not with another', () => {
  const box = new SecretBox('k'.repeat(40));
  const sealed = box.seal('hunter2');
  assert.doesNotMatch(sealed, /hunter2/);
  assert.equal(box.open(sealed), 'hunter2');
  assert.equal(new SecretBox('x'.repeat(40)).open(sealed), null);
  assert.equal(box.open('garbage'), null);
});

test('sealing twice gives different ciphertexts (random IV)', () => {
  const box = new SecretBox('k'.repeat(40));
  assert.notEqual(box.seal('a'), box.seal('a'));
});
