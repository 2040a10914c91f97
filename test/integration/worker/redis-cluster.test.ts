import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RESTORED_FROM_ANNOTATION } from '../../../services/common/labels.js';
import { redisClusterUrl, uniqueName } from '../../support/stack.js';
import { eventRef, isReady, TestBed, TestQueues } from './harness.js';

/**
 * The whole migration of a pod, with every queue, lease, reservation and
 * job of the worker on a real Redis Cluster: the hash-tagged prefix keeps
 * each script's keys in one slot, so nothing fails with CROSSSLOT.
 */
describe('worker: a rescue on a Redis Cluster', () => {
  const url = redisClusterUrl();
  const prefix = `{${uniqueName('wc')}}`;
  const bed = new TestBed('wclu');
  const source = bed.node('src');
  const target = bed.node('dst');

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src' }, { suffix: 'dst', unschedulable: true }] });
    await bed.queues.close();
    bed.queues = new TestQueues(prefix, url);
    await bed.startWorker({ extra: { SPOT_RESCUE_REDIS_URL: url, SPOT_RESCUE_QUEUE_PREFIX: prefix } });
  });

  after(() => bed.close());

  test('the pod is checkpointed, restored on the other node and keeps its state', async () => {
    const original = await bed.soloPodToMove(source, target);

    const job = await bed.queues.migrate(
      eventRef(120_000),
      { name: source, instanceId: 'i-0123456789abcdef7' },
      original!,
    );
    const result = await bed.queues.result(job, 120_000);
    assert.equal(result?.outcome, 'restored', JSON.stringify(result));

    const [copy] = await bed.waitPods('one running copy', (pods) => pods.length === 1 && isReady(pods[0]!));
    assert.equal(copy!.spec?.nodeName, target);
    assert.equal(copy!.metadata?.annotations?.[RESTORED_FROM_ANNOTATION], original!.metadata?.uid);
    const state = await bed.waitContinued({ node: source, pod: 'solo' }, { node: target, pod: 'solo' });
    assert.equal(state['corrupt'], 0);
  });
});
