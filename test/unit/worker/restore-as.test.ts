import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { restoreAsRefusal, serviceAccountOf } from '../../../services/worker/restore-as.js';

const pod = (spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod => ({
  metadata: { namespace: 'shop', name: 'cart' },
  spec: { containers: [{ name: 'app', image: 'app:1' }], ...spec },
});

describe('restore-as: the ServiceAccount a restored copy runs as', () => {
  it('is the named one, the deprecated field, or the default the API server gives', () => {
    assert.equal(serviceAccountOf(pod({ serviceAccountName: 'cart-sa' })), 'cart-sa');
    assert.equal(serviceAccountOf(pod({ serviceAccount: 'legacy-sa' })), 'legacy-sa');
    assert.equal(serviceAccountOf(pod()), 'default');
  });

  it('a granted ServiceAccount lets the migration go on', () => {
    assert.equal(restoreAsRefusal(pod({ serviceAccountName: 'cart-sa' }), { allowed: true }), null);
  });

  it("a refusal names the verb, the ServiceAccount, the authorizer's reason and how to grant it", () => {
    const why = restoreAsRefusal(pod({ serviceAccountName: 'cart-sa' }), {
      allowed: false,
      reason: 'no RBAC policy matched',
    });
    assert.match(
      why ?? '',
      /not granted restore-as on ServiceAccount shop\/cart-sa \(no RBAC policy matched\)/,
    );
    assert.match(why ?? '', /drained without a checkpoint/);
    assert.match(why ?? '', /restoreServiceAccounts/);
    assert.match(restoreAsRefusal(pod(), { allowed: false }) ?? '', /ServiceAccount shop\/default:/);
  });
});
