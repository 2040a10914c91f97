import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listenerSettings } from '../../../services/listener/settings.js';
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

function child(env: Record<string, string> = {}, pauseBeforeEnqueueMs?: number) {
  const c = new ChildListener(
    queues.env({ SPOT_RESCUE_LISTENER_VISIBILITY_TIMEOUT_SECONDS: '3', ...env }),
    pauseBeforeEnqueueMs ? { pauseBeforeEnqueueMs } : {},
  );
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
  it('killed with SIGKILL after receiving but before enqueuing: the message comes back within the default visibility timeout and is handled once', async (t) => {
    // The production default, not the short one the other tests use: that bound is what this shows.
    const visibilityS = listenerSettings.visibilityTimeoutSeconds.schema.parse(undefined);
    const defaults = { SPOT_RESCUE_LISTENER_VISIBILITY_TIMEOUT_SECONDS: String(visibilityS) };
    // A Spot warning gives 120 s: a dead listener must not hold one back for a quarter of it.
    assert.ok(visibilityS <= 10, `default visibility timeout ${visibilityS} s`);
    const node = await nodeWithPods();
    const doomed = child(defaults, 600_000);
    await doomed.waitForLog('listening');
    await queues.send(sampleEvent('spot-interruption-warning.json', node.instanceId));
    await doomed.waitForLog('pausing before enqueue');
    // The survivor polls before the kill, as a second replica would; the doomed one's
    // heartbeat keeps the message from it meanwhile.
    const survivor = child(defaults);
    await survivor.waitForLog('listening');
    assert.equal(survivor.count('acting on event'), 0, 'the message stayed with the doomed listener');
    doomed.kill('SIGKILL');
    const killedAt = Date.now();
    assert.equal(await doomed.exit, null);
    assert.deepEqual(await jobsOf(node.name), [], 'nothing was enqueued before the kill');
    assert.equal(await queues.depth(), 1, 'the message was not deleted');

    // Back after one visibility timeout from the last heartbeat before the kill, plus the
    // survivor's receive and enqueue. How long that took is reported, not asserted (a loaded
    // machine and moto's long poll add seconds); the bound here only says it came back.
    const jobs = await waitFor(
      '3 jobs from the survivor',
      async () => {
        const j = await jobsOf(node.name);
        return j.length === 3 && j;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const acted = survivor.logs.find((l) => l['msg'] === 'acting on event');
    t.diagnostic(
      `handled again ${((Date.parse(String(acted?.['time'])) - killedAt) / 1000).toFixed(1)} s after the SIGKILL (visibility timeout ${visibilityS} s)`,
    );
    assert.deepEqual(jobs.map((j) => j.name).sort(), ['evict-pod', 'finalize-node', 'migrate-pod']);
    await waitFor('message deleted', async () => (await queues.depth()) === 0);
    assert.equal(survivor.count('jobs enqueued'), 1);
    assert.equal(survivor.count('being handled elsewhere; will look again'), 0, 'the dead claim was gone');
    survivor.kill('SIGTERM');
    assert.equal(await survivor.exit, 0);
  });

  it('on SIGTERM: stops receiving, finishes the message in flight, deletes it, exits 0', async () => {
    const node = await nodeWithPods();
    const c = child({}, 1500);
    await c.waitForLog('listening');
    await queues.send(sampleEvent('spot-interruption-warning.json', node.instanceId));
    await c.waitForLog('pausing before enqueue');
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
