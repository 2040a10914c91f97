import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { isPodReady, swapOrder } from '../../../../services/worker/migrate/swap-order.js';

const GATE = 'target-health.elbv2.k8s.aws/k8s-shop-cart-4f2a9c1e07';

/** A running pod: its containers ready, and Ready as given (False: a readiness gate still open). */
function running(ready: boolean, o: { deleting?: boolean } = {}): V1Pod {
  return {
    metadata: {
      name: 'cart',
      uid: 'u1',
      ...(o.deleting ? { deletionTimestamp: new Date('2026-12-02T00:00:00Z') } : {}),
    },
    status: {
      phase: 'Running',
      conditions: [
        { type: 'ContainersReady', status: 'True' },
        { type: 'Ready', status: ready ? 'True' : 'False' },
        { type: GATE, status: ready ? 'True' : 'False' },
      ],
    },
  };
}

describe('swapOrder: which pod a staged swap takes out of the count first', () => {
  it('a Ready copy joins before its original goes (the original, made cheapest, is the one removed)', () => {
    assert.equal(swapOrder('ReplicaSet', running(true), running(true)), 'copy-first');
  });

  it('a copy not Ready beside a Ready original: the original goes first (a ReplicaSet ranks Ready above any cost)', () => {
    assert.equal(swapOrder('ReplicaSet', running(false), running(true)), 'original-first');
  });

  it('neither Ready: the costs decide, the copy joins first', () => {
    assert.equal(swapOrder('ReplicaSet', running(false), running(false)), 'copy-first');
  });

  it('a Ready copy beside an original not Ready (its node lost): the copy joins first', () => {
    assert.equal(swapOrder('ReplicaSet', running(true), running(false)), 'copy-first');
  });

  it('an original already gone or going (removed for this swap by an attempt that died): it went first', () => {
    assert.equal(swapOrder('ReplicaSet', running(false), null), 'original-first');
    assert.equal(swapOrder('ReplicaSet', running(true), null), 'original-first');
    assert.equal(swapOrder('ReplicaSet', running(true), running(true, { deleting: true })), 'original-first');
  });

  it("a Job's original always goes first: its controller ignores the cost and removes the newer pod", () => {
    assert.equal(swapOrder('Job', running(true), running(true)), 'original-first');
    assert.equal(swapOrder('Job', running(false), running(false)), 'original-first');
  });

  it('any other controller is ranked as a ReplicaSet ranks', () => {
    assert.equal(swapOrder('ReplicationController', running(false), running(true)), 'original-first');
    assert.equal(swapOrder('CloneSet', running(true), running(true)), 'copy-first');
  });
});

describe('isPodReady: the Ready condition, as the controller reads it', () => {
  it('True only when the Ready condition is True, whatever ContainersReady says', () => {
    assert.equal(isPodReady(running(true)), true);
    assert.equal(isPodReady(running(false)), false);
    assert.equal(
      isPodReady({ status: { phase: 'Running', conditions: [{ type: 'ContainersReady', status: 'True' }] } }),
      false,
    );
    assert.equal(isPodReady({}), false);
  });
});
