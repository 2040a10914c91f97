import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ListenerService } from '../../../services/listener/service.js';
import { waitFor } from '../../support/stack.js';
import { counterValue, inProcessListener, sampleEvent, TestQueues } from './harness.js';
import { SimCluster } from './sim-cluster.js';

const HANDLED = { kind: 'spot-interruption', result: 'handled' };
const INSTANCES = 'spot_rescue_listener_instances_total';

const cluster = new SimCluster();
const queues = new TestQueues();
const listeners: ListenerService[] = [];
let ns: string;

before(async () => {
  await queues.create();
  ns = await cluster.namespace();
});

after(async () => {
  await Promise.all(listeners.map((l) => l.stop()));
  await cluster.cleanup();
  await queues.cleanup();
});

async function start() {
  // A retry delay of 1 s: copies that found the event claimed by someone else come back quickly.
  const l = await inProcessListener(queues.config({ SPOT_RESCUE_LISTENER_RETRY_DELAY_SECONDS: '1' }));
  listeners.push(l);
  return l;
}

async function nodeWithPods(pods: number) {
  const node = await cluster.node();
  for (let i = 0; i < pods; i++) {
    await cluster.pod(ns, node.name, {
      name: `p${i}-${node.name}`,
      annotations: { 'spot-rescue.io/migrate': 'true' },
    });
  }
  return node;
}

const jobsOf = async (nodeName: string) =>
  (await Promise.all(['rescue', 'evict', 'finalize'].map((q) => queues.jobs(q))))
    .flat()
    .filter((j) => j.data.node.name === nodeName);

const handledBy = async (ls: ListenerService[]) =>
  (await Promise.all(ls.map((l) => counterValue(l.registry, INSTANCES, HANDLED)))).reduce((a, b) => a + b, 0);

describe('at-least-once in, exactly-once effect out', () => {
  it('the same event delivered three times to two replicas at once: one set of jobs, every copy deleted', async () => {
    const a = await start();
    const b = await start();
    const node = await nodeWithPods(3);
    await waitFor(
      'pods in the cache',
      async () => (await cluster.core.listNamespacedPod({ namespace: ns })).items.length >= 3,
    );
    const body = sampleEvent('spot-interruption-warning.json', node.instanceId);
    await Promise.all([queues.send(body), queues.send(body), queues.send(body)]);

    await waitFor('all copies deleted', async () => (await queues.depth()) === 0, { timeoutMs: 60_000 });
    assert.equal(await handledBy([a, b]), 1, 'exactly one replica acted, once');
    const jobs = await jobsOf(node.name);
    assert.equal(jobs.length, 4);
    assert.deepEqual(jobs.map((j) => j.name).sort(), [
      'finalize-node',
      'migrate-pod',
      'migrate-pod',
      'migrate-pod',
    ]);
    // Every copy was seen: acted on once, the others found it done.
    const duplicates =
      (await counterValue(a.registry, INSTANCES, { result: 'duplicate' })) +
      (await counterValue(b.registry, INSTANCES, { result: 'duplicate' }));
    assert.equal(duplicates, 2);
  });

  it('a redelivery after the jobs ran and were removed from Redis does not queue them again', async () => {
    const [a] = listeners.length > 0 ? listeners : [await start()];
    const node = await nodeWithPods(1);
    await waitFor('pod in the cache', async () =>
      (await cluster.core.listNamespacedPod({ namespace: ns })).items.some(
        (p) => p.spec?.nodeName === node.name,
      ),
    );
    const body = sampleEvent('spot-interruption-warning.json', node.instanceId);
    await queues.send(body);
    const jobs = await waitFor('2 jobs', async () => {
      const j = await jobsOf(node.name);
      return j.length === 2 && j;
    });
    await waitFor('message deleted', async () => (await queues.depth()) === 0);
    // As if the worker had finished them and BullMQ had removed them.
    for (const j of jobs) await j.remove();
    const before = await handledBy(listeners);

    await queues.send(body);
    await waitFor('redelivery deleted', async () => (await queues.depth()) === 0);
    assert.equal(await handledBy(listeners), before);
    assert.deepEqual(await jobsOf(node.name), []);
    assert.ok(a);
  });
});
