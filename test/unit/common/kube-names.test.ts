import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  containerNameSchema,
  namespaceNameSchema,
  nodeNameSchema,
  podNameSchema,
  podUidSchema,
} from '../../../services/common/kube-names.js';

const ok = (s: { safeParse(v: unknown): { success: boolean } }, v: unknown) => s.safeParse(v).success;

describe('Kubernetes names', () => {
  test('what the API server accepts is accepted', () => {
    for (const name of ['a', 'shop', 'kube-system', 'a1-b2', 'x'.repeat(63)]) {
      assert.ok(ok(namespaceNameSchema, name), name);
      assert.ok(ok(containerNameSchema, name), name);
    }
    for (const name of ['cart-0', 'web-7d9f8-x2x4q', 'db.primary', 'a.b-c.d', 'x'.repeat(253)]) {
      assert.ok(ok(podNameSchema, name), name);
    }
    for (const name of ['ip-10-0-1-23.eu-west-1.compute.internal', 'kind-worker', 'node-a']) {
      assert.ok(ok(nodeNameSchema, name), name);
    }
    assert.ok(ok(podUidSchema, '0b9d7c2e-5a1f-4e3b-9c8d-7f6e5d4c3b2a'));
  });

  test('anything that could be a path, a URL part or another id is refused', () => {
    const hostile = [
      '',
      '.',
      '..',
      '../x',
      '/../../x',
      'a/b',
      'a%2Fb',
      'a_b',
      'A',
      '-a',
      'a-',
      'a b',
      'a\0b',
    ];
    for (const name of hostile) {
      assert.ok(!ok(namespaceNameSchema, name), JSON.stringify(name));
      assert.ok(!ok(podNameSchema, name), JSON.stringify(name));
      assert.ok(!ok(containerNameSchema, name), JSON.stringify(name));
      assert.ok(!ok(nodeNameSchema, name), JSON.stringify(name));
    }
    // A label is one DNS label: no dots, at most 63 characters.
    for (const name of ['a.b', 'x'.repeat(64)]) {
      assert.ok(!ok(namespaceNameSchema, name), name);
      assert.ok(!ok(containerNameSchema, name), name);
    }
    for (const name of ['a..b', '.a', 'a.', 'x'.repeat(254)]) assert.ok(!ok(podNameSchema, name), name);
    for (const uid of [
      'u1',
      'uid-1',
      '0B9D7C2E-5A1F-4E3B-9C8D-7F6E5D4C3B2A',
      '../0b9d7c2e-5a1f-4e3b-9c8d-7f6e5d4c',
    ]) {
      assert.ok(!ok(podUidSchema, uid), uid);
    }
  });

  test('a refusal says what the name should look like', () => {
    const r = containerNameSchema.safeParse('/../../x');
    assert.ok(!r.success);
    assert.match(r.error.issues[0]!.message, /container name is a DNS-1123 label/);
  });
});
