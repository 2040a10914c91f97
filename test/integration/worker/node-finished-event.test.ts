import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EventsV1Api } from '@kubernetes/client-node';
import { NODE_EVENT_REASONS } from '../../../services/common/event-reasons.js';
import { waitFor } from '../../support/stack.js';
import { eventRef, TestBed } from './harness.js';

/** The last Event of a node's story: the worker's finalize says how it ended, on the Node. */
describe('worker: RescueFinished on the Node', () => {
  const bed = new TestBed('wfin');
  const node = bed.node('src');

  before(async () => {
    await bed.setUp({ nodes: [{ suffix: 'src', agent: false }] });
    await bed.startWorker();
  });

  after(() => bed.close());

  test('a node whose planned pods are all gone: the counts, through events.k8s.io/v1', async () => {
    const event = eventRef(120_000);
    // Planned and enqueued by the listener's code (no pod planned): signed, with the production options.
    await bed.queues.finalizeNode(event, { name: node, instanceId: 'i-0123456789abcdef9' }, []);
    const eventsV1 = bed.k.kc.makeApiClient(EventsV1Api);
    const [e] = await waitFor('the RescueFinished event', async () => {
      const list = await eventsV1.listNamespacedEvent({
        namespace: 'default',
        fieldSelector: `regarding.kind=Node,regarding.name=${node}`,
      });
      const ours = list.items.filter((x) => x.reportingController === 'spot-rescue.io/worker');
      return ours.length > 0 && ours;
    });
    assert.equal(e!.reason, NODE_EVENT_REASONS.rescueFinished);
    assert.equal(e!.type, 'Normal');
    assert.equal(e!.note, '0 pods planned: 0 migrated, 0 evicted or gone');
  });
});
