/**
 * A Spot warning that arrives while the listener's Redis is down: the real
 * listener (in this process, on the real SQS of moto and the real API
 * server) cannot take its dedupe claim, so it taints and cordons the node
 * without Redis, as a drain would, and leaves the message in SQS for the
 * rescue proper once Redis is back (redis-outage.test.ts covers that part).
 * The Redis is a redis-server of this file's own, started so the listener
 * connects, then stopped: the stack's Redis is never touched.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventsV1Api } from '@kubernetes/client-node';
import { NODE_EVENT_REASONS } from '../../../services/common/event-reasons.js';
import { TAINT_KEY } from '../../../services/common/labels.js';
import type { ListenerService } from '../../../services/listener/service.js';
import { type RedisServerProcess, startScratchRedis } from '../../support/redis-server.js';
import { waitFor } from '../../support/stack.js';
import { counterValue, inProcessListener, sampleEvent, TestQueues } from './harness.js';
import { SimCluster } from './sim-cluster.js';

const cluster = new SimCluster();
const eventsV1 = cluster.kc.makeApiClient(EventsV1Api);
// SQS and the suite's BullMQ prefix as every listener test has them; only the listener's Redis is ours.
const queues = new TestQueues();
let redis: RedisServerProcess;
let disposeRedis: () => Promise<void>;
let listener: ListenerService | undefined;

const CORDONS = 'spot_rescue_listener_cordons_without_redis_total';
const INSTANCES = 'spot_rescue_listener_instances_total';

before(async () => {
  ({ redis, dispose: disposeRedis } = await startScratchRedis());
  await queues.create();
});

after(async () => {
  await listener?.stop();
  await cluster.cleanup();
  await queues.cleanup();
  await disposeRedis();
});

describe('Redis unreachable when a Spot warning arrives', () => {
  it('the node is tainted and cordoned in the API server, its pod left, and the message stays in SQS', async () => {
    listener = await inProcessListener(
      queues.config({
        SPOT_RESCUE_REDIS_URL: redis.url,
        SPOT_RESCUE_LISTENER_REDIS_TIMEOUT_MS: '500',
        SPOT_RESCUE_LISTENER_RETRY_DELAY_SECONDS: '1',
        SPOT_RESCUE_LISTENER_VISIBILITY_TIMEOUT_SECONDS: '3',
      }),
    );
    const ns = await cluster.namespace({ 'spot-rescue.io/migrate': 'enabled' });
    const node = await cluster.node();
    await cluster.pod(ns, node.name, { name: 'app' });
    await cluster.waitPodsOnNode(node.name, 1);
    await waitFor(
      'the listener connected to its Redis',
      async () => (await listener!.ready())['redis'] === true,
    );

    await redis.stop();
    await waitFor('the listener lost its Redis', async () => (await listener!.ready())['redis'] !== true);
    await queues.send(sampleEvent('spot-interruption-warning.json', node.instanceId));

    const cordoned = await waitFor('the node tainted and unschedulable', async () => {
      const n = await cluster.readNode(node.name);
      const ours = n.spec?.taints?.find((t) => t.key === TAINT_KEY);
      return n.spec?.unschedulable === true && ours && n;
    });
    assert.deepEqual(
      cordoned.spec?.taints
        ?.filter((t) => t.key === TAINT_KEY)
        .map((t) => ({ value: t.value, effect: t.effect })),
      [{ value: 'spot-interruption', effect: 'NoSchedule' }],
    );

    // Two attempts failed at the claim and the message is still there: the retry is the rescue's.
    await waitFor(
      'two failed attempts',
      async () => (await counterValue(listener!.registry, INSTANCES, { result: 'failed' })) >= 2,
    );
    assert.equal(await queues.depth(), 1, 'the message is still in SQS');
    assert.equal(await counterValue(listener.registry, INSTANCES, { result: 'handled' }), 0);
    assert.equal(await counterValue(listener.registry, CORDONS, { result: 'patched' }), 1);
    assert.equal(await counterValue(listener.registry, CORDONS, { result: 'failed' }), 0);

    const warning = await waitFor('the RescueWaitingForRedis Event on the node', async () => {
      const list = await eventsV1.listNamespacedEvent({
        namespace: 'default',
        fieldSelector: `regarding.kind=Node,regarding.name=${node.name}`,
      });
      return list.items.find((e) => e.reason === NODE_EVENT_REASONS.rescueWaitingForRedis);
    });
    assert.equal(warning.type, 'Warning');
    assert.equal(warning.reportingController, 'spot-rescue.io/listener');
    assert.match(warning.note ?? '', /Redis is unreachable|Redis did not answer in time/);

    // The listener evicts nothing: the pod stays until the rescue is planned.
    const pods = await cluster.core.listNamespacedPod({ namespace: ns });
    assert.deepEqual(
      pods.items.map((p) => [p.metadata?.name, p.metadata?.deletionTimestamp]),
      [['app', undefined]],
    );
  });
});
