import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventsV1Api, type EventsV1Event } from '@kubernetes/client-node';
import { NODE_EVENT_REASONS } from '../../../services/common/event-reasons.js';
import { loadKubeConfig } from '../../../services/common/kube.js';
import { stackEnv, waitFor } from '../../support/stack.js';
import { sampleEvent } from './harness.js';
import { ListenerBed } from './listener-bed.js';

const bed = new ListenerBed();
const { cluster, queues } = bed;
const eventsV1 = loadKubeConfig(stackEnv().kubeconfig).makeApiClient(EventsV1Api);

before(() => bed.setUp());
after(() => bed.close());

/** The listener's Events about one Node, oldest first. */
async function nodeEvents(nodeName: string): Promise<EventsV1Event[]> {
  const list = await eventsV1.listNamespacedEvent({
    namespace: 'default',
    fieldSelector: `regarding.kind=Node,regarding.name=${nodeName}`,
  });
  // Ours only: the node controller writes its own (RegisteredNode) on a new Node.
  return list.items
    .filter((e) => e.reportingController === 'spot-rescue.io/listener')
    .sort((a, b) => Number(a.eventTime) - Number(b.eventTime));
}

describe('Events on the Node, through events.k8s.io/v1', () => {
  it('a spot interruption: received, cordoned, and how many pods were planned, on the real API server', async () => {
    const node = await cluster.node();
    await cluster.pod(bed.optedNs, node.name, { name: `m1-${node.name}` });
    await cluster.pod(bed.optedNs, node.name, { name: `m2-${node.name}` });
    await cluster.waitPodsOnNode(node.name, 2);
    await queues.send(sampleEvent('spot-interruption-warning.json', node.instanceId));

    const events = await waitFor('three node events', async () => {
      const e = await nodeEvents(node.name);
      return e.length >= 3 && e;
    });
    assert.deepEqual(
      events.map((e) => [e.reason, e.type, e.action, e.reportingController]),
      [
        [NODE_EVENT_REASONS.interruptionReceived, 'Warning', 'Interrupt', 'spot-rescue.io/listener'],
        [NODE_EVENT_REASONS.cordoned, 'Normal', 'Cordon', 'spot-rescue.io/listener'],
        [NODE_EVENT_REASONS.rescuePlanned, 'Normal', 'Plan', 'spot-rescue.io/listener'],
      ],
    );
    const live = await cluster.readNode(node.name);
    for (const e of events) {
      assert.equal(e.regarding?.kind, 'Node');
      assert.equal(e.regarding?.uid, live.metadata?.uid);
    }
    assert.match(events[0]!.note ?? '', /^spot-interruption [0-9a-f-]{36}: deadline /);
    assert.equal(events[2]!.note, '2 pods planned: 2 to migrate, 0 to evict, 0 left alone');
  });

  it('a rebalance recommendation (policy cordon): received and cordoned, nothing planned', async () => {
    const node = await cluster.node();
    await queues.send(sampleEvent('rebalance-recommendation.json', node.instanceId));
    await waitFor('two node events', async () => (await nodeEvents(node.name)).length >= 2);
    // Give a wrongly planned third event the chance to show up before looking.
    await new Promise((r) => setTimeout(r, 1000));
    const events = await nodeEvents(node.name);
    assert.deepEqual(
      events.map((e) => e.reason),
      [NODE_EVENT_REASONS.interruptionReceived, NODE_EVENT_REASONS.cordoned],
    );
    assert.match(events[0]!.note ?? '', /^rebalance-recommendation .*: no deadline$/);
  });
});
