import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { RunningListener } from '../../../services/listener/service.js';
import { waitFor } from '../../support/stack.js';
import { counterValue, inProcessListener, sampleEvent, TestQueues } from './harness.js';
import { SimCluster } from './sim-cluster.js';

/** A Redis of this test's own, so it can be stopped without touching the shared one. */
class OwnRedis {
  private proc: ChildProcess | undefined;
  constructor(readonly port: number) {}

  async start() {
    this.proc = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    await waitFor('own redis up', async () => {
      const s = createServer();
      // Up when the port is taken.
      return new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(true));
        s.listen(this.port, '127.0.0.1', () => s.close(() => resolve(false)));
      });
    });
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGKILL');
    await once(this.proc, 'exit');
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const cluster = new SimCluster();
let redis: OwnRedis;
let queues: TestQueues;
let listener: RunningListener | undefined;

before(async () => {
  redis = new OwnRedis(await freePort());
  await redis.start();
  queues = await new TestQueues(`redis://127.0.0.1:${redis.port}`).create();
});

after(async () => {
  await listener?.stop();
  await cluster.cleanup();
  await queues.cleanup();
  await redis.stop();
});

describe('Redis down', () => {
  it('messages stay in SQS while Redis is away, and are handled once it is back', async () => {
    listener = await inProcessListener(
      queues.config({
        SPOT_RESCUE_LISTENER_REDIS_TIMEOUT_MS: '500',
        SPOT_RESCUE_LISTENER_RETRY_DELAY_SECONDS: '1',
        SPOT_RESCUE_LISTENER_VISIBILITY_TIMEOUT_SECONDS: '3',
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
      async () =>
        (await counterValue(listener!.registry, 'spot_rescue_listener_instances_total', {
          result: 'failed',
        })) >= 2,
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
    );
    assert.deepEqual(jobs.map((j) => j.name).sort(), ['finalize-node', 'migrate-pod']);
    await waitFor('message deleted', async () => (await queues.depth()) === 0, { timeoutMs: 30_000 });
    assert.equal(
      await counterValue(listener.registry, 'spot_rescue_listener_instances_total', { result: 'handled' }),
      1,
    );
    assert.equal((await listener.ready())['redis'], true);
  });
});
