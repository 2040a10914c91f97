import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventRef, isReady, TestBed } from './harness.js';

/** finalize-node waits for the node's planned pods to leave, then records the node's outcome in Redis. */
describe('worker: finalize-node', () => {
  const bed = new TestBed('wfin');
  const node = bed.node('n');
  const outcomeKey = `${bed.prefix}:node-outcome:${node}`;

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'n', agent: false }] });
    bed.onClose(() => bed.queues.connection.del(outcomeKey));
    await bed.startWorker({ agents: {} });
  });

  after(() => bed.close());

  test('the outcome is recorded once the planned pod has left the node', async () => {
    await bed.createPod('p', bed.podSpec([{ name: 'c', image: 'x' }]));
    const [pod] = await bed.waitPods('the pod', (pods) => pods.length === 1 && pods.every(isReady));
    const event = eventRef(60_000);
    // Planned and enqueued by the listener's code: signed, with the production options.
    const job = await bed.queues.finalizeNode(event, { name: node, instanceId: 'i-0123456789abcdef4' }, [
      pod!,
    ]);
    assert.deepEqual(job.data.podUids, [pod!.metadata!.uid!]);
    // Still waiting while the pod is there.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await job.getState(), 'active');
    await bed.k.core.deleteNamespacedPod({ name: 'p', namespace: bed.ns, gracePeriodSeconds: 0 });
    const outcome = await bed.queues.result<{
      planned: number;
      removed: number;
      remaining: number;
    }>(job, 60_000);
    assert.deepEqual([outcome?.planned, outcome?.removed, outcome?.remaining], [1, 1, 0]);
    const stored = JSON.parse((await bed.queues.connection.get(outcomeKey)) ?? '{}');
    assert.equal(stored.eventId, event.id);
  });
});
