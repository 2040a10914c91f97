import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  AdmissionregistrationV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import type { Cluster } from '../../../services/worker/cluster.js';
import { schedulerRefusal, UNSCHEDULABLE_TAINT } from '../../../services/worker/migrate/scheduler-refusal.js';
import { around, counterContainer, eventRef, TestBed, waitFor } from './harness.js';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** On a node of this bed: the node lifecycle controller may not take its unschedulable taint off. */
const HOLD_LABEL = 'spot-rescue.io/test-holds-taint';
const NODE_CONTROLLER = 'system:serviceaccount:kube-system:node-controller';

/**
 * A node just uncordoned keeps its node.kubernetes.io/unschedulable taint
 * until the node lifecycle controller takes it off: a copy created on it in
 * that moment is refused by the scheduler for the taint, and placed once
 * the taint goes. The worker must wait for that, not drain the pod.
 *
 * The controller takes such a taint off within milliseconds, too fast to
 * create a copy against every time; so an admission policy of the test
 * refuses the controller that removal while the node carries HOLD_LABEL.
 * The test taints the target (its spec schedulable) just before the worker
 * creates the copy there, waits until the scheduler has refused the copy for
 * it, and a few seconds later lets go: the controller removes the taint by
 * itself and the scheduler places the copy.
 */
describe('worker: a copy refused on its target for a taint about to go', () => {
  const bed = new TestBed('wtp');
  const { k } = bed;
  const admission = k.kc.makeApiClient(AdmissionregistrationV1Api);
  const policy = `${bed.sim}-hold-unschedulable-taint`;
  const source = bed.node('src');
  const target = bed.node('target');
  let held = false;
  let refusal: string | undefined;
  let letGo: Promise<void> | undefined;

  /** The target's taint as a node just uncordoned keeps it, held there until `release`. */
  async function hold(node: string): Promise<void> {
    const n = await k.core.readNode({ name: node });
    const taints = (n.spec?.taints ?? []).filter((t) => t.key !== UNSCHEDULABLE_TAINT);
    await k.core.patchNode(
      {
        name: node,
        body: {
          metadata: { labels: { [HOLD_LABEL]: bed.sim } },
          spec: { taints: [...taints, { key: UNSCHEDULABLE_TAINT, effect: 'NoSchedule' }] },
        },
      },
      mergePatch,
    );
  }

  /** The hold goes: that update itself sets the controller on the taint, which it now may remove. */
  async function release(node: string): Promise<void> {
    await k.core.patchNode(
      { name: node, body: { metadata: { labels: { [HOLD_LABEL]: null } } } },
      mergePatch,
    );
  }

  async function tainted(node: string): Promise<boolean> {
    const n = await k.core.readNode({ name: node });
    return (n.spec?.taints ?? []).some((t) => t.key === UNSCHEDULABLE_TAINT);
  }

  /** Until the scheduler has refused the copy, then a few seconds of the worker's polls, then the hold goes. */
  async function refuseThenLetGo(copy: V1Pod): Promise<void> {
    try {
      refusal = await waitFor(
        'the scheduler to refuse the copy on its target',
        async () => {
          const p = await k.core.readNamespacedPod({ namespace: bed.ns, name: copy.metadata!.name! });
          if (p.metadata?.uid !== copy.metadata?.uid) return undefined;
          return schedulerRefusal(p)?.message;
        },
        { timeoutMs: 30_000 },
      );
      await delay(3_000);
    } finally {
      await release(target);
    }
  }

  const holdOnCopy = (cluster: Cluster) =>
    around(cluster, 'createPod', async (real, pod) => {
      if (letGo || !pod.metadata?.annotations?.[RESTORED_FROM_ANNOTATION]) return real(pod);
      if (!held) {
        held = true;
        await hold(target);
      }
      // A 409 while the original still holds the name: the worker creates it again.
      const copy = await real(pod);
      letGo = refuseThenLetGo(copy);
      return copy;
    });

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'target', unschedulable: true }] });
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: policy },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: {
            resourceRules: [
              { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes'] },
            ],
            objectSelector: { matchLabels: { [HOLD_LABEL]: bed.sim } },
          },
          matchConditions: [
            {
              name: 'node-lifecycle-controller',
              expression: `request.userInfo.username == '${NODE_CONTROLLER}'`,
            },
          ],
          validations: [
            {
              expression:
                `!has(oldObject.spec.taints) || !oldObject.spec.taints.exists(t, t.key == '${UNSCHEDULABLE_TAINT}') || ` +
                `(has(object.spec.taints) && object.spec.taints.exists(t, t.key == '${UNSCHEDULABLE_TAINT}'))`,
              message: 'the test holds this taint',
            },
          ],
        },
      },
    });
    await admission.createValidatingAdmissionPolicyBinding({
      body: { metadata: { name: policy }, spec: { policyName: policy, validationActions: ['Deny'] } },
    });
    bed.onClose(async () => {
      await admission.deleteValidatingAdmissionPolicyBinding({ name: policy });
      await admission.deleteValidatingAdmissionPolicy({ name: policy });
    });
    // Policies reach admission through an informer: on the source node, until the controller
    // is refused the removal; then, the hold gone, it takes the taint off by itself.
    await waitFor(
      'the hold to take effect',
      async () => {
        await hold(source);
        await delay(1_500);
        return (await tainted(source)) || undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    await release(source);
    await waitFor(
      'the controller to take the released taint off',
      async () => !(await tainted(source)) || undefined,
    );
    await bed.startWorker({ overrides: { wrapCluster: holdOnCopy } });
  });

  after(() => bed.close());

  test('the worker waits for the taint to go, and the pod is restored on its target', async () => {
    await bed.createPod('solo', bed.podSpec([counterContainer({ requests: { cpu: '100m' } })]));
    const [original] = await bed.podsToMove(source, 1, [target]);
    const job = await bed.queues.migrate(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcdef3' },
      original!,
    );

    const result = await bed.queues.result(job, 120_000);
    await letGo;
    assert.match(
      refusal ?? '',
      /1 node\(s\) had untolerated taint/,
      'the scheduler refused the copy for the taint',
    );
    assert.equal(result.outcome, 'restored', JSON.stringify(result));
    assert.equal(result.target, target);
    const copy = await bed.waitRestoredCopy(original!, source, target);
    assert.equal(copy.spec?.nodeName, target);
  });
});
