// test:exclusive: in two warm runs, three files at a time, its listener did not handle the message within 60 s of its Redis coming back (at 61c6716 and d27c9e1), while alone it passed 3 of 3 and beside each other integration and e2e file in turn 150 of 150 (no one neighbour causes it); its listener now logs at info and the timeout says what the listener did, for the next time it fails
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ListenerService } from '../../../services/listener/service.js';
import { type RedisServerProcess, startScratchRedis } from '../../support/redis-server.js';
import { waitFor } from '../../support/stack.js';
import { counterValue, inProcessListener, sampleEvent, TestQueues } from './harness.js';
import { SimCluster } from './sim-cluster.js';

const cluster = new SimCluster();
let redis: RedisServerProcess;
let disposeRedis: () => Promise<void>;
let queues: TestQueues;
let listener: ListenerService | undefined;

const INSTANCES = 'spot_rescue_listener_instances_total';
const RESULTS = ['handled', 'failed', 'busy', 'duplicate', 'unknown-instance'];

/**
 * Where things stand, for a wait that timed out: the listener's outcomes so
 * far, the message still in SQS or not, its readiness (informers included)
 * and the jobs in every queue. Its log (info) tells the rest: each attempt,
 * and whether the node and its pod were in its cache when it planned.
 */
async function standing(l: ListenerService): Promise<string> {
  const part = (p: Promise<string>) => p.catch((err) => `unknown (${String(err)})`);
  const results = await Promise.all(
    RESULTS.map((result) =>
      part(counterValue(l.registry, INSTANCES, { result }).then((n) => `${result} ${n}`)),
    ),
  );
  const jobs = part(
    Promise.all(['rescue', 'evict', 'finalize'].map((q) => queues.jobs(q))).then((all) =>
      all
        .flat()
        .map((j) => j.name)
        .join(', '),
    ),
  );
  return (
    `instances: ${results.join(', ')}; SQS depth ${await part(queues.depth().then(String))}; ` +
    `ready ${await part(l.ready().then((r) => JSON.stringify(r)))}; jobs [${await jobs}]`
  );
}

before(async () => {
  ({ redis, dispose: disposeRedis } = await startScratchRedis());
  queues = await new TestQueues(`redis://127.0.0.1:${redis.port}`).create();
});

after(async () => {
  await listener?.stop();
  await cluster.cleanup();
  await queues.cleanup();
  await disposeRedis();
});

describe('Redis down', () => {
  it('messages stay in SQS while Redis is away, and are handled once it is back', async () => {
    listener = await inProcessListener(
      queues.config({
        SPOT_RESCUE_LISTENER_REDIS_TIMEOUT_MS: '500',
        SPOT_RESCUE_LISTENER_RETRY_DELAY_SECONDS: '1',
        SPOT_RESCUE_LISTENER_VISIBILITY_TIMEOUT_SECONDS: '3',
        // Its outcomes once Redis is back are info lines (a node not in its cache, a plan without
        // the pod, a claim found busy): at the harness's warn a failure here would say nothing.
        SPOT_RESCUE_LOG_LEVEL: 'info',
      }),
    );
    const ns = await cluster.namespace();
    const node = await cluster.node();
    await cluster.pod(ns, node.name, { name: 'app', annotations: { 'spot-rescue.io/migrate': 'true' } });
    await waitFor(
      'pod listed',
      async () => (await cluster.core.listNamespacedPod({ namespace: ns })).items.length === 1,
    );

    await redis.stop();
    await queues.send(sampleEvent('spot-interruption-warning.json', node.instanceId));
    await waitFor(
      'two failed attempts',
      async () => (await counterValue(listener!.registry, INSTANCES, { result: 'failed' })) >= 2,
    );
    assert.equal(await queues.depth(), 1, 'the message is still in SQS');
    assert.notEqual((await listener.ready())['redis'], true, 'not ready without Redis');

    await redis.start();
    const jobs = await waitFor(
      'jobs in the restarted Redis',
      async () => {
        const j = [...(await queues.jobs('rescue')), ...(await queues.jobs('finalize'))];
        return j.length === 2 && j;
      },
      { timeoutMs: 60_000 },
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; ${await standing(listener!)}`);
    });
    assert.deepEqual(jobs.map((j) => j.name).sort(), ['finalize-node', 'migrate-pod']);
    await waitFor('message deleted', async () => (await queues.depth()) === 0, { timeoutMs: 30_000 });
    assert.equal(await counterValue(listener.registry, INSTANCES, { result: 'handled' }), 1);
    assert.equal((await listener.ready())['redis'], true);
  });
});
