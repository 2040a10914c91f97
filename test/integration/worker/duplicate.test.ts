import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import { eventRef, isReady, TestBed } from './harness.js';

/**
 * Two events for one node (the Spot warning and the ASG's lifecycle hook)
 * have different ids, so the listener queues two migrations of the same pod.
 * Only one runs: the other waits and ends as `duplicate`, touching neither
 * the frozen original nor the restored copy.
 */
describe('worker: two events, one migration per pod', () => {
  const bed = new TestBed('wdup');
  const source = bed.node('src');
  const target = bed.node('dst');

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'dst', unschedulable: true }] });
    await bed.startWorker();
  });

  after(() => bed.close());

  test('one job restores the pod, the other ends as duplicate; one copy runs with its state', async () => {
    const original = await bed.soloPodToMove(source, target);

    const node = { name: source, instanceId: 'i-0123456789abcdef5' };
    const spot = eventRef(120_000);
    const hook = eventRef(120_000, { kind: 'asg-lifecycle-terminate' });
    const jobs = [
      await bed.queues.migrate(spot, node, original!),
      await bed.queues.migrate(hook, node, original!),
    ];
    assert.notEqual(jobs[0]!.id, jobs[1]!.id);
    const results = await bed.queues.results(jobs, 120_000);
    assert.deepEqual(
      results.map((r) => r.outcome).sort(),
      ['duplicate', 'restored'],
      JSON.stringify(results),
    );

    const [copy] = await bed.waitPods('one running copy', (pods) => pods.length === 1 && isReady(pods[0]!));
    assert.equal(copy!.spec?.nodeName, target);
    assert.equal(copy!.metadata?.annotations?.[RESTORED_FROM_ANNOTATION], original!.metadata?.uid);
    const state = await bed.waitContinued({ node: source, pod: 'solo' }, { node: target, pod: 'solo' });
    assert.equal(state['corrupt'], 0);
  });
});
