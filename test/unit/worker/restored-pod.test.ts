import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { CHECKPOINT_ANNOTATION, RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import {
  adoptionPatch,
  buildRestoredPod,
  checkpointIdFor,
  DELETION_COST_ANNOTATION,
  deletionCostOf,
  deletionCostReturn,
  isRunning,
  isStaged,
  outrankingDeletionCost,
  pinnedNode,
  pinnedTo,
  RESTORED_FROM_LABEL,
  replaceStrategy,
  restoredPodName,
} from '../../../services/worker/restored-pod.js';

function pod(kind?: string, name = 'web-abc12-xyz'): V1Pod {
  return {
    metadata: {
      name,
      namespace: 'ns',
      uid: 'uid-1',
      labels: { app: 'web', 'pod-template-hash': 'abc12' },
      annotations: { 'controller.kubernetes.io/pod-deletion-cost': '5', keep: 'me' },
      finalizers: kind === 'Job' ? ['batch.kubernetes.io/job-tracking'] : undefined,
      ownerReferences: kind
        ? [{ apiVersion: 'apps/v1', kind, name: 'owner', uid: 'o1', controller: true }]
        : undefined,
    },
    spec: {
      nodeName: 'doomed',
      priority: 0,
      containers: [{ name: 'app', image: 'img:1' }],
    },
    status: { phase: 'Running' },
  };
}

describe('restored pod', () => {
  it('is pinned to its target by required node affinity, ANDed with each of its own terms', () => {
    assert.deepEqual(pinnedTo(undefined, 'spare'), {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['spare'] }] }],
        },
      },
    });
    const own = {
      podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'zone' }] },
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
            // A pin left by an earlier migration is replaced, not added to.
            { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['old'] }] },
          ],
        },
      },
    };
    const a = pinnedTo(own, 'spare');
    assert.deepEqual(a.podAntiAffinity, own.podAntiAffinity, 'anti-affinity kept for the scheduler');
    const terms = a.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
    assert.equal(terms.length, 2);
    assert.deepEqual(
      terms[0]?.matchExpressions,
      own.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]!.matchExpressions,
    );
    for (const t of terms)
      assert.deepEqual(t.matchFields, [{ key: 'metadata.name', operator: 'In', values: ['spare'] }]);
  });

  it('StatefulSet and bare pods keep their name; controllers with replicas get a new, stable one', () => {
    assert.equal(replaceStrategy(pod('StatefulSet', 'db-0')), 'same-name');
    assert.equal(replaceStrategy(pod()), 'same-name');
    assert.equal(replaceStrategy(pod('ReplicaSet')), 'staged');
    assert.equal(replaceStrategy(pod('Job')), 'staged');
    assert.equal(restoredPodName(pod('StatefulSet', 'db-0')), 'db-0');
    const n = restoredPodName(pod('ReplicaSet'));
    assert.match(n, /^web-abc12-xyz-r[0-9a-f]{5}$/);
    assert.equal(restoredPodName(pod('ReplicaSet')), n, 'deterministic');
    // A pod migrated twice does not grow its name.
    assert.match(restoredPodName(pod('ReplicaSet', n)), /^web-abc12-xyz-r[0-9a-f]{5}$/);
    assert.ok(restoredPodName(pod('ReplicaSet', 'x'.repeat(80))).length <= 63);
  });

  it('a staged pod carries no labels, owner or finalizers until adopted', () => {
    const r = buildRestoredPod({ original: pod('Job'), targetNode: 'spare', checkpointId: 'ck-1' });
    assert.deepEqual(r.metadata?.labels, { [RESTORED_FROM_LABEL]: 'uid-1' });
    assert.equal(r.metadata?.ownerReferences, undefined);
    assert.equal(r.metadata?.finalizers, undefined);
    assert.ok(isStaged(r));
    assert.equal(r.spec?.nodeName, undefined, 'bound by the scheduler, not by us');
    assert.equal(pinnedNode(r), 'spare');
    assert.equal(r.spec?.priority, undefined, 'left to the priority admission');
    assert.equal(r.metadata?.annotations?.[RESTORED_FROM_ANNOTATION], 'uid-1');
    assert.equal(r.metadata?.annotations?.[CHECKPOINT_ANNOTATION], 'ck-1');
    assert.equal(r.metadata?.annotations?.['controller.kubernetes.io/pod-deletion-cost'], undefined);
    assert.equal(r.metadata?.annotations?.['keep'], 'me');

    const patch = adoptionPatch(r) as {
      metadata: { labels: Record<string, string>; ownerReferences: unknown[]; finalizers: string[] };
    };
    assert.deepEqual(patch.metadata.labels, {
      app: 'web',
      'pod-template-hash': 'abc12',
      [RESTORED_FROM_LABEL]: 'uid-1',
    });
    assert.equal(patch.metadata.ownerReferences.length, 1);
    assert.deepEqual(patch.metadata.finalizers, ['batch.kubernetes.io/job-tracking']);
  });

  it('a same-name pod is a full member from the start and uses restored images', () => {
    const r = buildRestoredPod({
      original: pod('StatefulSet', 'db-0'),
      targetNode: 'spare',
      checkpointId: 'ck-1',
      restore: {
        runtime: 'kubelet',
        node: 'spare',
        containers: [{ name: 'app', image: 'localhost/ck:1', downloadMs: 1, restoreMs: 1 }],
      },
    });
    assert.equal(r.metadata?.name, 'db-0');
    assert.equal(r.metadata?.labels?.['app'], 'web');
    assert.equal(r.metadata?.ownerReferences?.[0]?.kind, 'StatefulSet');
    assert.equal(r.spec?.containers[0]?.image, 'localhost/ck:1');
    assert.equal(isStaged(r), false);
  });

  it('a pod restored once, rescued again, is pinned to its new node only: the old pin is gone', () => {
    // As the API serves the first copy once it ran on node-a: bound there, adopted, its own zone term kept.
    const zone = { key: 'topology.kubernetes.io/zone', operator: 'In', values: ['us-east-1a', 'us-east-1b'] };
    for (const kind of [undefined, 'ReplicaSet', 'StatefulSet']) {
      for (const ownTerms of [[], [{ matchExpressions: [zone] }]]) {
        const original = pod(kind, kind === 'StatefulSet' ? 'db-0' : 'web-abc12-xyz');
        if (ownTerms.length > 0)
          original.spec!.affinity = {
            nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: ownTerms } },
          };
        const first = buildRestoredPod({ original, targetNode: 'node-a', checkpointId: 'ck-1' });
        const running: V1Pod = {
          ...first,
          metadata: {
            ...first.metadata,
            uid: 'uid-2',
            labels: { ...original.metadata?.labels, ...first.metadata?.labels },
          },
          spec: { ...first.spec!, nodeName: 'node-a' },
        };
        const second = buildRestoredPod({ original: running, targetNode: 'node-b', checkpointId: 'ck-2' });
        const what = `${kind ?? 'bare'} pod, ${ownTerms.length} own term(s)`;
        assert.equal(pinnedNode(second), 'node-b', what);
        assert.equal(second.spec?.nodeName, undefined, `${what}: left to the scheduler`);
        const terms =
          second.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
            ?.nodeSelectorTerms;
        // Terms are alternatives: one still naming node-a would let the scheduler put it back on
        // the node being reclaimed, and ANDed pins to both nodes would match no node at all.
        assert.deepEqual(
          terms,
          (ownTerms.length > 0 ? ownTerms : [{}]).map((t) => ({
            ...t,
            matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-b'] }],
          })),
          what,
        );
        assert.equal(second.metadata?.annotations?.[RESTORED_FROM_ANNOTATION], 'uid-2', what);
        assert.equal(second.metadata?.annotations?.[CHECKPOINT_ANNOTATION], 'ck-2', what);
        assert.equal(
          second.metadata?.name,
          kind === 'ReplicaSet' ? restoredPodName(running) : original.metadata?.name,
          `${what}: no suffix on a suffix`,
        );
        assert.doesNotMatch(second.metadata?.name ?? '', /-r[0-9a-f]{5}-r[0-9a-f]{5}$/, what);
      }
    }
  });

  it('checkpoint ids are deterministic per event and pod, and valid for the agent', () => {
    assert.equal(checkpointIdFor('e1', 'u1'), checkpointIdFor('e1', 'u1'));
    assert.notEqual(checkpointIdFor('e1', 'u1'), checkpointIdFor('e2', 'u1'));
    assert.match(checkpointIdFor('e1', 'u1'), /^[a-z0-9][a-z0-9-]{0,62}$/);
  });

  it('running means phase Running with its containers ready, whatever the node controller did to Ready', () => {
    const withStatus = (phase: string, conditions: Record<string, string>): V1Pod => ({
      status: { phase, conditions: Object.entries(conditions).map(([type, status]) => ({ type, status })) },
    });
    assert.equal(isRunning(withStatus('Running', { ContainersReady: 'True', Ready: 'True' })), true);
    assert.equal(
      isRunning(withStatus('Running', { ContainersReady: 'True', Ready: 'False' })),
      true,
      'Ready turned False by NodeNotReady or held by a readiness gate',
    );
    assert.equal(isRunning(withStatus('Running', { ContainersReady: 'False', Ready: 'False' })), false);
    assert.equal(
      isRunning(withStatus('Running', { Ready: 'True' })),
      true,
      'no ContainersReady: Ready decides',
    );
    assert.equal(isRunning(withStatus('Running', { Ready: 'False' })), false);
    assert.equal(isRunning(withStatus('Pending', { ContainersReady: 'True' })), false);
  });
});

describe('deletion costs', () => {
  const withCost = (v?: string): V1Pod => ({
    metadata: { name: 'web', ...(v === undefined ? {} : { annotations: { [DELETION_COST_ANNOTATION]: v } }) },
  });

  it('read as a ReplicaSet reads them: an int32, 0 when absent or not one', () => {
    assert.equal(deletionCostOf(withCost()), 0);
    assert.equal(deletionCostOf(withCost('40')), 40);
    assert.equal(deletionCostOf(withCost('-7')), -7);
    assert.equal(deletionCostOf(withCost('+3')), 3);
    assert.equal(deletionCostOf(withCost('2147483647')), 2147483647);
    assert.equal(deletionCostOf(withCost('2147483648')), 0, 'out of int32');
    assert.equal(deletionCostOf(withCost('1.5')), 0);
    assert.equal(deletionCostOf(withCost('high')), 0);
  });

  it("a copy outranks its template's fresh pod: one above the original's cost and above the default", () => {
    assert.equal(outrankingDeletionCost(withCost()), '1');
    assert.equal(outrankingDeletionCost(withCost('40')), '41');
    assert.equal(outrankingDeletionCost(withCost('-100')), '1', 'a fresh pod has at least the default');
    assert.equal(outrankingDeletionCost(withCost('2147483647')), '2147483647', 'kept an int32');
  });

  it('the adoption patch carries a cost only when given one', () => {
    const staged = buildRestoredPod({
      original: pod('ReplicaSet'),
      targetNode: 'spare',
      checkpointId: 'ck-1',
    });
    const annotations = (p: object) =>
      (p as { metadata: { annotations: Record<string, string | null> } }).metadata.annotations;
    assert.equal(annotations(adoptionPatch(staged))[DELETION_COST_ANNOTATION], undefined);
    assert.equal(annotations(adoptionPatch(staged, '1'))[DELETION_COST_ANNOTATION], '1');
  });

  it("a kept copy gets the original's own cost back, or none when the original had none", () => {
    assert.deepEqual(deletionCostReturn(withCost('1'), withCost()), {
      metadata: { annotations: { [DELETION_COST_ANNOTATION]: null } },
    });
    assert.deepEqual(deletionCostReturn(withCost('41'), withCost('40')), {
      metadata: { annotations: { [DELETION_COST_ANNOTATION]: '40' } },
    });
    assert.deepEqual(
      deletionCostReturn(withCost('1'), withCost('-100')),
      { metadata: { annotations: { [DELETION_COST_ANNOTATION]: '-100' } } },
      'below the default: back to what it was, not to 0',
    );
    assert.deepEqual(
      deletionCostReturn(withCost('1'), withCost('high')),
      { metadata: { annotations: { [DELETION_COST_ANNOTATION]: 'high' } } },
      'the annotation as the original had it, even one a ReplicaSet reads as 0',
    );
  });

  it('nothing to take back unless the copy carries the cost its swap gave it', () => {
    assert.equal(deletionCostReturn(withCost(), withCost('40')), null, 'adopted copy-first: no cost');
    assert.equal(deletionCostReturn(withCost(), withCost()), null);
    assert.equal(deletionCostReturn(withCost('40'), withCost('40')), null, "already the original's");
    assert.equal(
      deletionCostReturn(withCost('2147483647'), withCost('2147483647')),
      null,
      'the highest cost: the swap gave the original its own',
    );
    assert.equal(deletionCostReturn(withCost('500'), withCost('40')), null, 'set by someone else since');
  });
});
