import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import { DEMAND_FOR_LABEL } from '../../../services/worker/migrate/demand.js';
import { counterContainer, eventRef, isReady, TestBed } from './harness.js';

/**
 * `karpenter` mode with no room anywhere: the worker shows the demand as a
 * Pending pod, and an autoscaler stand-in (which, like Karpenter, adds a node
 * only for a pod the scheduler marked unschedulable) brings the node the pod
 * is restored on. Without the demand, nothing is Pending and no node comes.
 */
describe('worker: karpenter mode shows demand', () => {
  const bed = new TestBed('wdem');
  const source = bed.node('src');
  const added = bed.node('new');
  const triggeredBy: V1Pod[] = [];
  let autoscaling = true;
  let loop: Promise<void> | undefined;

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }] });
    // The new node's agent is up before its node exists, as a DaemonSet pod would be soon after.
    await bed.startAgent(added);
    await bed.startWorker({ extra: { SPOT_RESCUE_PROVISION_MODE: 'karpenter' } });
    bed.onClose(async () => {
      autoscaling = false;
      await loop;
    });
  });

  after(() => bed.close());

  /** Adds the node once, for the first pod the scheduler could not place. */
  const autoscaler = async () => {
    while (autoscaling && triggeredBy.length === 0) {
      const unschedulable = (await bed.pods()).filter((p) =>
        p.status?.conditions?.some(
          (c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable',
        ),
      );
      if (unschedulable.length > 0) {
        triggeredBy.push(...unschedulable);
        await bed.addNode({ name: added, zone: 'us-east-1a' });
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  test('a Pending placeholder brings a node; the pod is restored there and the placeholder goes', async () => {
    await bed.createPod(
      'solo',
      bed.podSpec([counterContainer({ requests: { cpu: '100m', memory: '64Mi' } })]),
    );
    const [original] = await bed.waitPods(
      'the pod running',
      (pods) => pods.length === 1 && isReady(pods[0]!),
    );
    await bed.startCounters(source, [original!]);
    await bed.markInterrupted(source);
    loop = autoscaler();

    const job = await bed.queues.migrate(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcde14' },
      original!,
    );
    const result = await bed.queues.result(job, 120_000);
    assert.deepEqual([result?.outcome, result?.target], ['restored', added], JSON.stringify(result));
    assert.deepEqual(
      triggeredBy.map((p) => p.metadata?.labels?.[DEMAND_FOR_LABEL]),
      [original!.metadata?.uid],
      'the node came for the placeholder of the pod',
    );
    const [copy] = await bed.waitPods(
      'only the restored pod',
      (pods) => pods.length === 1 && isReady(pods[0]!),
    );
    assert.equal(copy!.metadata?.annotations?.[RESTORED_FROM_ANNOTATION], original!.metadata?.uid);
    assert.equal(copy!.spec?.nodeName, added);
    const state = await bed.waitContinued({ node: source, pod: 'solo' }, { node: added, pod: 'solo' });
    assert.equal(state['corrupt'], 0);
  });
});
