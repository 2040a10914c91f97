import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Node, V1Taint, V1Toleration } from '@kubernetes/client-node';
import { TAINT_KEY } from '../../../../services/common/labels.js';
import {
  NOT_READY_TAINT,
  type RefusalVerdict,
  refusalVerdict,
  refusedFor,
  UNREACHABLE_TAINT,
  UNSCHEDULABLE_TAINT,
} from '../../../../services/worker/migrate/scheduler-refusal.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');

/**
 * kube-scheduler 1.34's FitError text for a copy pinned to one of `all`
 * nodes, refused there for `reason`, with the default PostFilter plugins'
 * words after it (DynamicResources, then DefaultPreemption).
 */
function fitError(reason: string, all = 5): string {
  return (
    `0/${all} nodes are available: ${reason}, ${all - 1} node(s) didn't satisfy plugin(s) [NodeAffinity]. ` +
    `no new claims to deallocate, preemption: 0/${all} nodes are available: ${all} Preemption is not helpful for scheduling.`
  );
}

const UNTOLERATED = fitError('1 node(s) had untolerated taint(s)');

function node(
  o: {
    taints?: V1Taint[];
    unschedulable?: boolean;
    ready?: 'True' | 'False' | 'Unknown';
    ageMs?: number;
    deleting?: boolean;
  } = {},
): V1Node {
  return {
    metadata: {
      name: 'target',
      creationTimestamp: new Date(NOW - (o.ageMs ?? 3_600_000)),
      ...(o.deleting ? { deletionTimestamp: new Date(NOW) } : {}),
    },
    spec: { taints: o.taints ?? [], unschedulable: o.unschedulable ?? false },
    status: { conditions: [{ type: 'Ready', status: o.ready ?? 'True' }] },
  };
}

function verdict(message: string, n: V1Node | null, tolerations: V1Toleration[] = []): RefusalVerdict {
  return refusalVerdict({ message, tolerations, node: n, now: NOW });
}

const lingering = { key: UNSCHEDULABLE_TAINT, effect: 'NoSchedule' };

describe('refusedFor: the scheduler refused the pinned copy for taints alone', () => {
  it('reads the 1.34.2+ wording, the older one naming the taint, and a cordon', () => {
    assert.deepEqual(refusedFor(UNTOLERATED), []);
    // Verbatim from the local stack's kube-scheduler v1.34.4, refusing a copy for a held unschedulable taint.
    assert.deepEqual(
      refusedFor(
        "0/7 nodes are available: 1 node(s) had untolerated taint(s), 6 node(s) didn't satisfy plugin(s) [NodeAffinity]. no new claims to deallocate, preemption: 0/7 nodes are available: 7 Preemption is not helpful for scheduling.",
      ),
      [],
    );
    assert.deepEqual(
      refusedFor(
        "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 node(s) didn't satisfy plugin(s) [NodeAffinity].",
      ),
      [],
      'no PostFilter words',
    );
    assert.deepEqual(
      refusedFor(fitError('1 node(s) had untolerated taint {node.kubernetes.io/unschedulable: }')),
      [UNSCHEDULABLE_TAINT],
    );
    assert.deepEqual(refusedFor(fitError('1 node(s) had untolerated taint {example.com/pool: a.b}')), [
      'example.com/pool',
    ]);
    assert.deepEqual(refusedFor(fitError('1 node(s) were unschedulable')), []);
    // A cluster of one node: no other node to count under the pin.
    assert.deepEqual(
      refusedFor(
        '0/1 nodes are available: 1 node(s) had untolerated taint(s). preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.',
      ),
      [],
    );
  });

  it('anything else on the target is not a refusal for taints', () => {
    for (const reason of [
      "1 node(s) didn't match pod anti-affinity rules",
      "1 node(s) didn't have free ports for the requested pod ports",
      '1 Insufficient cpu',
      "1 node(s) didn't match pod topology spread constraints",
    ])
      assert.equal(refusedFor(fitError(reason)), null, reason);
    assert.equal(
      refusedFor(
        '0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.',
      ),
      null,
      'a PreFilter refusal',
    );
    assert.equal(refusedFor("1 node(s) didn't match pod anti-affinity rules"), null, 'not a FitError text');
    assert.equal(refusedFor(undefined), null);
    // Taints on two nodes: not a copy pinned to one.
    assert.equal(
      refusedFor(
        "0/3 nodes are available: 2 node(s) had untolerated taint(s), 1 node(s) didn't match Pod's node affinity/selector.",
      ),
      null,
    );
  });
});

describe('refusalVerdict', () => {
  it('a just-uncordoned target whose unschedulable taint lingers: the refusal may pass', () => {
    assert.deepEqual(verdict(UNTOLERATED, node({ taints: [lingering] })), {
      final: false,
      taints: [UNSCHEDULABLE_TAINT],
    });
    const older = fitError('1 node(s) had untolerated taint {node.kubernetes.io/unschedulable: }');
    assert.deepEqual(verdict(older, node({ taints: [lingering] })), {
      final: false,
      taints: [UNSCHEDULABLE_TAINT],
    });
    // Refused while still cordoned, uncordoned since.
    assert.deepEqual(verdict(fitError('1 node(s) were unschedulable'), node({ taints: [lingering] })), {
      final: false,
      taints: [UNSCHEDULABLE_TAINT],
    });
  });

  it('a not-ready or unreachable taint on a node that is Ready, or still joining: the refusal may pass', () => {
    for (const key of [NOT_READY_TAINT, UNREACHABLE_TAINT]) {
      const taints = [
        { key, effect: 'NoSchedule' },
        { key, effect: 'NoExecute' },
      ];
      assert.deepEqual(verdict(UNTOLERATED, node({ taints })), { final: false, taints: [key] }, key);
      assert.deepEqual(
        verdict(UNTOLERATED, node({ taints, ready: 'False', ageMs: 10_000 })),
        { final: false, taints: [key] },
        `${key} on a node that joined 10 s ago`,
      );
      assert.equal(
        verdict(UNTOLERATED, node({ taints, ready: 'False', ageMs: 600_000 })).final,
        true,
        `${key} on a node Ready once, failing now`,
      );
    }
  });

  it('a taint already gone: the refusal may pass, nothing left to wait on', () => {
    assert.deepEqual(verdict(UNTOLERATED, node()), { final: false, taints: [] });
  });

  it('taints the copy tolerates do not count', () => {
    const dedicated = { key: 'example.com/dedicated', value: 'db', effect: 'NoSchedule' };
    const tolerations = [
      { key: 'example.com/dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' },
    ];
    assert.deepEqual(verdict(UNTOLERATED, node({ taints: [dedicated, lingering] }), tolerations), {
      final: false,
      taints: [UNSCHEDULABLE_TAINT],
    });
    assert.equal(verdict(UNTOLERATED, node({ taints: [dedicated, lingering] })).final, true, 'not tolerated');
  });

  it('a target that is cordoned, interrupted, going or gone: final', () => {
    assert.deepEqual(verdict(UNTOLERATED, node({ taints: [lingering], unschedulable: true })), {
      final: true,
      why: 'the target is cordoned',
    });
    assert.deepEqual(verdict(fitError('1 node(s) were unschedulable'), node({ unschedulable: true })), {
      final: true,
      why: 'the target is cordoned',
    });
    for (const effect of ['NoSchedule', 'NoExecute'])
      assert.deepEqual(
        verdict(
          UNTOLERATED,
          node({ taints: [lingering, { key: TAINT_KEY, value: 'spot-interruption', effect }] }),
        ),
        { final: true, why: 'the target is interrupted' },
        effect,
      );
    assert.equal(verdict(UNTOLERATED, node({ taints: [lingering], deleting: true })).final, true);
    assert.equal(verdict(UNTOLERATED, null).final, true);
  });

  it('a taint that does not go by itself: final', () => {
    assert.deepEqual(
      verdict(UNTOLERATED, node({ taints: [lingering, { key: 'example.com/pool', effect: 'NoSchedule' }] })),
      {
        final: true,
        why: 'its taint example.com/pool:NoSchedule does not go by itself',
      },
    );
    // The controller mirrors spec.unschedulable with a NoSchedule taint only.
    assert.equal(
      verdict(UNTOLERATED, node({ taints: [{ key: UNSCHEDULABLE_TAINT, effect: 'NoExecute' }] })).final,
      true,
    );
    // Named by the older wording, gone from the node by now: still not a taint that goes by itself.
    assert.deepEqual(verdict(fitError('1 node(s) had untolerated taint {example.com/pool: a}'), node()), {
      final: true,
      why: 'its taint example.com/pool does not go by itself',
    });
  });

  it('a refusal for anything but taints stays final, whatever the target', () => {
    for (const reason of [
      "1 node(s) didn't match pod anti-affinity rules",
      "1 node(s) didn't have free ports for the requested pod ports",
      '1 Insufficient memory',
    ])
      assert.deepEqual(verdict(fitError(reason), node({ taints: [lingering] })), { final: true }, reason);
  });
});
