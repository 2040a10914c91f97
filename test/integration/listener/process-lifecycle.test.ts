import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../../support/stack.js';
import { ChildListener, sampleEvent, TestQueues } from './harness.js';
import { SimCluster } from './sim-cluster.js';

const cluster = new SimCluster();
const queues = new TestQueues();
const children: ChildListener[] = [];
let ns: string;

before(async () => {
  await queues.create();
  ns = await cluster.namespace();
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await cluster.cleanup();
  await queues.cleanup();
});

function child(env: Record<string, string> = {}) {
  const c = new ChildListener(queues.env({ SPOT_RESCUE_LISTENER_VISIBILITY_TIMEOUT_SECONDS: '3', ...env }));
  children.push(c);
  return c;
}

async function nodeWithPods() {
  const node = await cluster.node();
  await cluster.pod(ns, node.name, {
    name: `m-${node.name}`,
    annotations: { 'spot-rescue.io/migrate': 'true' },
  });
  await cluster.pod(ns, node.name, { name: `e-${node.name}` });
  return node;
}

const jobsOf = async (nodeName: string) =>
  (await Promise.all(['rescue', 'evict', 'finalize'].map((q) => queues.jobs(q))))
    .flat()
    .filter((j) => j.data.node.name === nodeName);

describe('the listener process', () => {
  it('killed with SIGKILL after receiving but before enqueuing: the message comes back and is handled once', async () => {
    const node = await nodeWithPods();
    const doomed = child({ SPOT_RESCUE_LISTENER_FAULT_PAUSE_BEFORE_ENQUEUE_MS: '600000' });
    await doomed.waitForLog('listening');
    await queues.send(sampleEvent('spot-interruption-warning.json', node.instanceId));
    await doomed.waitForLog('fault injection: pausing before enqueue');
    doomed.kill('SIGKILL');
    assert.equal(await doomed.exit, null);
    assert.deepEqual(await jobsOf(node.name), [], 'nothing was enqueued before the kill');
    assert.equal(await queues.depth(), 1, 'the message was not deleted');

    const survivor = child();
    const jobs = await waitFor(
      '3 jobs from the survivor',
      async () => {
        const j = await jobsOf(node.name);
        return j.length === 3 && j;
      },
      { timeoutMs: 30_000 },
    );
    assert.deepEqual(jobs.map((j) => j.name).sort(), ['evict-pod', 'finalize-node', 'migrate-pod']);
    await waitFor('message deleted', async () => (await queues.depth()) === 0);
    assert.equal(survivor.count('jobs enqueued'), 1);
    survivor.kill('SIGTERM');
    assert.equal(await survivor.exit, 0);
  });

  it('on SIGTERM: stops receiving, finishes the message in flight, deletes it, exits 0', async () => {
    const node = await nodeWithPods();
    const c = child({ SPOT_RESCUE_LISTENER_FAULT_PAUSE_BEFORE_ENQUEUE_MS: '1500' });
    await c.waitForLog('listening');
    await queues.send(sampleEvent('spot-interruption-warning.json', node.instanceId));
    await c.waitForLog('fault injection: pausing before enqueue');
    c.kill('SIGTERM');
    const code = await c.exit;
    assert.equal(code, 0);
    assert.ok(c.logs.some((l) => l['msg'] === 'listener stopped'));
    assert.equal((await jobsOf(node.name)).length, 3, 'the in-flight message was finished');
    assert.equal(await queues.depth(), 0, 'and deleted');
  });

  it('serves /healthz, /readyz (Redis, SQS, informers) and /metrics', async () => {
    const c = child();
    const { port } = (await c.waitForLog('ops server listening')) as { port: number };
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), {
      ready: true,
      checks: { redis: 'ok', sqs: 'ok', informers: 'ok' },
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    for (const name of [
      'spot_rescue_listener_events_total',
      'spot_rescue_listener_event_to_enqueue_seconds',
      'spot_rescue_listener_warning_time_left_seconds',
      'spot_rescue_listener_jobs_enqueued_total',
      'spot_rescue_listener_dlq_sends_total',
    ]) {
      assert.match(metrics, new RegExp(`# TYPE ${name} `));
    }
    c.kill('SIGTERM');
    assert.equal(await c.exit, 0);
  });
});
