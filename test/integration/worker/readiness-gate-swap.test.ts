import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import type { Cluster } from '../../../services/worker/cluster.js';
import { isRunning, isStaged } from '../../../services/worker/restored-pod.js';
import { around, counterContainer, eventRef, TestBed } from './harness.js';

/** The readiness gate the AWS Load Balancer Controller injects into a pod behind a target group. */
const GATE = 'target-health.elbv2.k8s.aws/k8s-web-tg-4f2a9c1e07';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * On EKS a Deployment's pods behind an ALB carry the Load Balancer
 * Controller's readiness gate: Ready turns True only once the pod is a
 * healthy target, which a staged copy cannot be before it has the labels
 * its Service selects. The ReplicaSet, counting one pod too many once the
 * copy joined, ranked the copy (not Ready) below its Ready original before
 * it read any deletion cost and removed it, and the worker then removed the
 * original: the pod ran afresh, its state lost. The original now goes first.
 *
 * kwok's pod-ready stage (infra/kwok/stages.yaml) marks every pod Ready and
 * every readiness gate True once, when it gives the pod its IP, and never
 * again; so the copy's gate is held open here by setting its status as the
 * kubelet would with the target not yet healthy, when the worker first sees
 * the copy run, and kwok leaves it so. The target has room for the copy
 * alone, as a fresh pod would still be pulling its image or waiting on its
 * own gate: the ReplicaSet's fresh pod, started when the original goes, stays
 * Pending.
 */
describe('worker: a Deployment pod whose copy waits on a readiness gate', () => {
  const bed = new TestBed('wgate');
  const { k } = bed;
  const source = bed.node('src');
  const target = bed.node('dst');
  const held = new Set<string>();

  const readyTrue = (p: V1Pod) =>
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

  const holdGateOpen = (cluster: Cluster): Cluster =>
    around(cluster, 'getPod', async (getPod, namespace, name) => {
      const pod = await getPod(namespace, name);
      if (!pod || !isStaged(pod) || !isRunning(pod) || !readyTrue(pod)) return pod;
      held.add(pod.metadata?.uid ?? '');
      // As the kubelet reports a pod whose gate's condition is not True yet; kwok leaves it so.
      const now = rfc3339(new Date());
      const conditions = (pod.status?.conditions ?? []).map((c) => {
        if (c.type === 'Ready')
          return {
            type: 'Ready',
            status: 'False',
            reason: 'ReadinessGatesNotReady',
            message: `corresponding condition of pod readiness gate "${GATE}" is not True`,
            lastTransitionTime: now,
          };
        if (c.type === GATE) return { type: GATE, status: 'False', lastTransitionTime: now };
        return {
          type: c.type,
          status: c.status,
          ...(c.lastTransitionTime ? { lastTransitionTime: rfc3339(c.lastTransitionTime) } : {}),
        };
      });
      await k.core.patchNamespacedPodStatus(
        { name, namespace, body: { status: { conditions } } },
        mergePatch,
      );
      return getPod(namespace, name);
    });

  /** The restored copy's deletion cost after each patch of it: as it joined, then any after. */
  const copyCosts: (string | undefined)[] = [];
  const recordCopyCosts = (cluster: Cluster): Cluster =>
    around(cluster, 'patchPod', async (patchPod, namespace, name, body) => {
      const patched = await patchPod(namespace, name, body);
      if (patched.metadata?.annotations?.[RESTORED_FROM_ANNOTATION] !== undefined)
        copyCosts.push(patched.metadata.annotations['controller.kubernetes.io/pod-deletion-cost']);
      return patched;
    });

  before(async () => {
    await bed.setUp({
      nodes: [
        { suffix: 'src', zone: 'us-east-1a' },
        { suffix: 'dst', zone: 'us-east-1a', unschedulable: true, cpu: '1' },
      ],
    });
    await bed.startWorker({ overrides: { wrapCluster: (c) => recordCopyCosts(holdGateOpen(c)) } });
  });

  after(() => bed.close());

  test('the original goes first and the ReplicaSet keeps the restored copy, not a fresh pod', async () => {
    const container = counterContainer({
      requests: { cpu: '600m', memory: '64Mi' },
      limits: { memory: '64Mi' },
    });
    await bed.createDeployment(
      'web',
      1,
      bed.podSpec([container], { readinessGates: [{ conditionType: GATE }] }),
    );
    const [original] = await bed.podsToMove(source, 1, [target]);
    assert.ok(readyTrue(original!), 'the original is Ready, its gate passed');

    const [result] = await bed.migrateAll(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcde42' },
      [original!],
    );
    assert.equal(result?.outcome, 'restored', JSON.stringify(result));
    assert.equal(held.size, 1, "the copy's gate was held open when the worker saw it run");

    const [copy] = await bed.waitPods(
      "the restored copy, the Deployment's one pod",
      (pods) => {
        const web = pods.filter((p) => p.metadata?.labels?.['app'] === 'web');
        return web.length === 1 && web[0]?.metadata?.name === result?.restoredPod;
      },
      30_000,
    );
    assert.equal(copy!.metadata?.annotations?.[RESTORED_FROM_ANNOTATION], original!.metadata?.uid);
    assert.equal(copy!.metadata?.ownerReferences?.[0]?.kind, 'ReplicaSet', 'a member of the ReplicaSet');
    assert.equal(copy!.spec?.nodeName, target);
    assert.ok(held.has(copy!.metadata?.uid ?? ''), 'the copy kept is the one held');
    assert.equal(readyTrue(copy!), false, 'still waiting on its gate: kept while not Ready');
    // It joined with a deletion cost above the default, which kept it; once it stayed the ReplicaSet's
    // member for the settle time, the migration gave it back its original's own: none here.
    assert.ok(
      Number(copyCosts[0]) > 0,
      `joined with a deletion cost above the default: ${JSON.stringify(copyCosts)}`,
    );
    assert.equal(copyCosts.at(-1), undefined, `then patched to have none: ${JSON.stringify(copyCosts)}`);
    assert.equal(
      copy!.metadata?.annotations?.['controller.kubernetes.io/pod-deletion-cost'],
      undefined,
      'the cost the swap gave it was taken back once the migration finished',
    );
    const state = await bed.waitContinued(
      { node: source, pod: original!.metadata!.name! },
      { node: target, pod: copy!.metadata!.name! },
    );
    assert.equal(state['corrupt'], 0, 'the memory pattern survived the move');
  });
});

/** A time as the API server writes one: RFC 3339, whole seconds. */
function rfc3339(t: Date | string): string {
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
